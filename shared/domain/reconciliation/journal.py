"""Proposed journal: material differences that bring the non-master side to the master.

Nothing here posts anything; the approval endpoint turns selected lines into
adjustment lines. Line ids are derived from run id + target + key, so re-running
the same snapshots proposes the same ids and approving twice can post once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from json.encoder import encode_basestring  # the encoder json.dumps(ensure_ascii=False) uses
from typing import Any

from .config import KEY_ORDER, JournalMode, ProposeScope, ReconcileConfig, Side
from .line_index import PREFIX_BYTES, prefixes_of
from .model import Discrepancy
from .rules import fmt

NumberTexts = tuple[str, str, str, str | None]
"""``fmt`` of a difference's ERP quantity, WMS quantity, difference and unit cost (None: unknown)."""

_KEY_NAMES = tuple(k.value for k in KEY_ORDER if k.value != "serial")
"""Serial joins the hashed text only when the key has one, so line ids of runs without serials stay as they were."""
assert _KEY_NAMES == ("item", "site", "warehouse", "batch", "status", "location"), "update _line_id"


def line_id(run_id: str, target: Side, key: dict[str, str]) -> str:
    """Stable id: same run, side and key always give the same id."""
    return _line_id(_line_id_prefix(run_id, target), key)


def _line_id_prefix(run_id: str, target: Side) -> str:
    """The part of every line id's hashed text that is the same for a whole run."""
    return f"{run_id}\x1f{target.value}\x1f"


def line_id_prefix(run_id: str, config: ReconcileConfig) -> str:
    """The run's part of every proposed line id, for a caller that hashes ids itself (``line_id_of``)."""
    return _line_id_prefix(run_id, Side.ERP if config.master is Side.WMS else Side.WMS)


def line_id_tail(key: Mapping[str, str]) -> str:
    """The part of a line id's hashed text after the item: the other named key fields, then the
    serial when the key has one. The same for every item of one (site, warehouse, ...) combination,
    so a batched caller makes it once per combination."""
    g = key.get  # spelled out for _KEY_NAMES: one f-string is ~3x cheaper than a join over a comprehension
    text = (
        f"\x1fsite={g('site', '')}\x1fwarehouse={g('warehouse', '')}"
        f"\x1fbatch={g('batch', '')}\x1fstatus={g('status', '')}\x1flocation={g('location', '')}"
    )
    if key.get("serial"):
        text += f"\x1fserial={key['serial']}"
    return text


def line_id_of(prefix: str, item: str, tail: str) -> str:
    """The line id from its parts: ``line_id_prefix``, the item, ``line_id_tail``."""
    return hashlib.sha256(f"{prefix}item={item}{tail}".encode()).hexdigest()[:24]


def _line_id(prefix: str, key: dict[str, str]) -> str:
    return line_id_of(prefix, key.get("item", ""), line_id_tail(key))


def _json_text(text: str | None) -> str:
    return "null" if text is None else encode_basestring(text)


def _negated(text: str) -> str:
    """``fmt(-d)`` from ``fmt(d)``: Decimal negation is exact, and ``fmt`` never writes "-0"."""
    if text == "0":
        return text
    return text[1:] if text.startswith("-") else "-" + text


def _json_decimal(d: Decimal | None) -> str:
    return "null" if d is None else f'"{fmt(d)}"'  # fmt() yields only digits, "-" and "."


# Not frozen: a frozen dataclass sets every field through object.__setattr__, which makes
# building one ~3x slower, and a run builds one per differing key. Nothing mutates it.
@dataclass(slots=True)
class ProposedLine:
    line_id: str
    run_id: str
    journal_id: str
    line_number: int
    target: Side
    mode: JournalMode
    item: str
    site: str | None
    warehouse: str | None
    batch: str | None
    status: str | None
    location: str | None
    quantity_delta: Decimal
    counted_quantity: Decimal | None
    book_quantity: Decimal
    unit_cost: Decimal | None
    value: Decimal | None
    category: str
    reasons: tuple[str, ...]
    review: bool = False
    """Material: a person should look at this line before approving (materiality flags, never filters)."""
    serial: str | None = None

    @property
    def movement(self) -> str:
        """How the target side books the line: a receipt adds stock, an issue removes it."""
        return "receipt" if self.quantity_delta > 0 else "issue"

    def to_json(self) -> dict[str, Any]:
        """JSON-safe dict; decimals as exact strings (a float would break invariant 7)."""

        def d(x: Decimal | None) -> str | None:
            return None if x is None else fmt(x)

        return {
            "line_id": self.line_id,
            "run_id": self.run_id,
            "journal_id": self.journal_id,
            "line_number": self.line_number,
            "target": self.target,  # StrEnum: serialises as its value
            "mode": self.mode,
            "item": self.item,
            "site": self.site,
            "warehouse": self.warehouse,
            "batch": self.batch,
            "status": self.status,
            "location": self.location,
            "quantity_delta": d(self.quantity_delta),
            "counted_quantity": d(self.counted_quantity),
            "book_quantity": d(self.book_quantity),
            "unit_cost": d(self.unit_cost),
            "value": d(self.value),
            "category": self.category,
            "reasons": list(self.reasons),
            "movement": self.movement,
            "review": self.review,
            "serial": self.serial,
        }

    def to_json_text(self) -> str:
        """Exactly ``json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":"))``.

        Written out directly because a journal file holds up to tens of thousands of lines:
        building each dict and encoding it costs about three times as much. The
        ``ensure_ascii=False`` string encoder of ``json`` escapes the text fields.
        """
        s, t, d = encode_basestring, _json_text, _json_decimal
        return (
            f'{{"line_id":{s(self.line_id)},"run_id":{s(self.run_id)},"journal_id":{s(self.journal_id)},'
            f'"line_number":{self.line_number},"target":{s(self.target)},"mode":{s(self.mode)},'
            f'"item":{s(self.item)},"site":{t(self.site)},"warehouse":{t(self.warehouse)},'
            f'"batch":{t(self.batch)},"status":{t(self.status)},"location":{t(self.location)},'
            f'"quantity_delta":"{fmt(self.quantity_delta)}","counted_quantity":{d(self.counted_quantity)},'
            f'"book_quantity":"{fmt(self.book_quantity)}","unit_cost":{d(self.unit_cost)},"value":{d(self.value)},'
            f'"category":{s(self.category)},"reasons":[{",".join(map(s, self.reasons))}],'
            f'"movement":"{self.movement}","review":{"true" if self.review else "false"},"serial":{t(self.serial)}}}'
        )


def propose(run_id: str, discrepancies: Iterable[Discrepancy], config: ReconcileConfig) -> list[list[ProposedLine]]:
    """Discrepancies -> journals of at most ``journal_max_lines`` lines each.

    Every difference is proposed by default (``propose: all``): the master is the source of
    truth, so the other side is brought to it entirely; material lines carry ``review: true``.
    ``propose: material`` proposes only material differences.

    Master WMS: the ERP gets delta = WMS - ERP (master 100, ERP 98 -> +2).
    Master ERP: the WMS gets delta = ERP - WMS. Input order is kept, so callers
    pass discrepancies sorted by key for stable journal numbering.
    """
    proposer = JournalProposer(run_id, config)
    journals: list[list[ProposedLine]] = []
    for disc in discrepancies:
        line = proposer.line_for(disc)
        if line is not None:
            if line.line_number == 1:
                journals.append([])
            journals[-1].append(line)
    return journals


class JournalProposer:
    """``propose`` one discrepancy at a time.

    A run streams its differing keys and keeps none of them, so it asks for each
    key's line as the key passes; ``propose`` is this over a whole iterable.
    """

    def __init__(self, run_id: str, config: ReconcileConfig) -> None:
        self.run_id = run_id
        self.target = Side.ERP if config.master is Side.WMS else Side.WMS
        self.mode = config.journal_mode
        self.max_lines = config.journal_max_lines
        self.material_only = config.propose is ProposeScope.MATERIAL
        self._id_prefix = _line_id_prefix(run_id, self.target)
        self._journals = 0
        self._lines = 0  # in the current journal
        self._journal_id = ""
        self._run_id_json = encode_basestring(run_id)
        self._target_json = encode_basestring(self.target)
        self._mode_json = encode_basestring(self.mode)

    def _next_line(self) -> None:
        """Number the next line, starting a new journal once the current one holds `max_lines`."""
        if self._journals == 0 or self._lines == self.max_lines:
            self._journals += 1
            self._lines = 0
            self._journal_id = f"{self.run_id}-{self._journals:03d}"
        self._lines += 1

    def line_for(self, disc: Discrepancy) -> ProposedLine | None:
        """The next line for a difference; None when there is nothing to post."""
        a = disc.assessment
        if a.difference == 0 or (self.material_only and not a.material):
            return None
        self._next_line()
        if self.target is Side.ERP:
            master_qty, book, delta = a.wms_qty, a.erp_qty, a.difference
        else:
            master_qty, book, delta = a.erp_qty, a.wms_qty, -a.difference
        key, cost = disc.key, disc.unit_cost
        return ProposedLine(
            line_id=_line_id(self._id_prefix, key),
            run_id=self.run_id,
            journal_id=self._journal_id,
            line_number=self._lines,
            target=self.target,
            mode=self.mode,
            item=key["item"],
            site=key.get("site", disc.site),
            warehouse=key.get("warehouse"),
            batch=key.get("batch"),
            status=key.get("status"),
            location=key.get("location"),
            quantity_delta=delta,
            counted_quantity=master_qty if self.mode is JournalMode.COUNTING else None,
            book_quantity=book,
            unit_cost=cost,
            value=(delta * cost) if cost is not None else None,
            category=a.category,
            reasons=a.reasons,
            review=a.material,
            serial=key.get("serial"),
        )

    def text_for(self, disc: Discrepancy, texts: NumberTexts) -> str | None:
        """``line_for(disc).to_json_text()`` without the line object, from numbers already formatted.

        A bad day proposes 300,000 lines: building each ``ProposedLine`` and formatting its numbers
        a second time (the CSV row formatted them already) was a third of the run's Python time.
        ``texts``: ``fmt`` of the ERP and WMS quantities, the difference and the unit cost (or None).
        """
        a = disc.assessment
        cost = disc.unit_cost
        value = None if cost is None else fmt(a.value if a.value is not None else a.difference * cost)
        return self.text_of(disc.key, disc.site, a.category, a.reasons, a.material, a.difference, texts, value)

    def text_of(
        self,
        key: dict[str, str],
        site: str | None,
        category: str,
        reasons: tuple[str, ...],
        material: bool,
        difference: Decimal,
        texts: NumberTexts,
        value_text: str | None,
    ) -> str | None:
        """``text_for`` from the parts of a discrepancy, without the discrepancy.

        The batched run (``reconcile_stream.stream_fast``) builds no ``Discrepancy`` per key.
        ``value_text``: ``fmt(difference * unit_cost)`` (None: unknown cost); the line's value is
        that of its delta, so for a WMS target (delta = -difference) only its sign flips.
        """
        if difference == 0 or (self.material_only and not material):
            return None
        self._next_line()
        erp_text, wms_text, diff_text, cost_text = texts
        if self.target is Side.ERP:
            master, book, delta, delta_text = wms_text, erp_text, difference, diff_text
            value = "null" if value_text is None else f'"{value_text}"'
        else:
            master, book, delta = erp_text, wms_text, -difference
            delta_text = diff_text[1:] if diff_text.startswith("-") else "-" + diff_text
            value = "null" if value_text is None else f'"{_negated(value_text)}"'
        s, t = encode_basestring, _json_text
        counted = f'"{master}"' if self.mode is JournalMode.COUNTING else "null"
        site = key.get("site", site)
        return (
            f'{{"line_id":"{_line_id(self._id_prefix, key)}","run_id":{self._run_id_json},'
            f'"journal_id":{s(self._journal_id)},"line_number":{self._lines},"target":{self._target_json},'
            f'"mode":{self._mode_json},"item":{s(key["item"])},"site":{t(site)},"warehouse":{t(key.get("warehouse"))},'
            f'"batch":{t(key.get("batch"))},"status":{t(key.get("status"))},"location":{t(key.get("location"))},'
            f'"quantity_delta":"{delta_text}","counted_quantity":{counted},"book_quantity":"{book}",'
            f'"unit_cost":{"null" if cost_text is None else f"{chr(34)}{cost_text}{chr(34)}"},"value":{value},'
            f'"category":{s(category)},"reasons":[{",".join(map(s, reasons))}],'
            f'"movement":"{"receipt" if delta > 0 else "issue"}","review":{"true" if material else "false"},'
            f'"serial":{t(key.get("serial"))}}}'
        )

    @property
    def journal_id(self) -> str:
        """The journal the last proposed line went into."""
        return self._journal_id


def _journal_head(run_id: str, line_count: int, config: ReconcileConfig) -> dict[str, Any]:
    target = Side.ERP if config.master is Side.WMS else Side.WMS
    return {
        "schema": "omnisync.reconciliation.proposed_journal/1",
        "run_id": run_id,
        "status": "proposed",
        "master": config.master.value,
        "target": target.value,
        "mode": config.journal_mode.value,
        "max_lines_per_journal": config.journal_max_lines,
        "line_count": line_count,
    }


def journal_document(run_id: str, journals: list[list[ProposedLine]], config: ReconcileConfig) -> dict[str, Any]:
    """The proposed_journal.json body the approval endpoint reads."""
    return {
        **_journal_head(run_id, sum(len(j) for j in journals), config),
        "journals": [{"journal_id": j[0].journal_id, "lines": [ln.to_json() for ln in j]} for j in journals],
    }


INDEXED_JOURNALS_MAX = 10_000
"""Journals a run indexes for ranged reads (a bad day has 303 of 1,000 lines). A proposal cut into more
(``journal_max_lines`` set very low) is not indexed: its index would cost memory in the run and more to
read than the journals it points at."""

JOURNAL_HEAD_KEPT = 10_000
"""Lines ``JournalText`` keeps as text for ``head`` (the reports show the first ~1,000)."""


class JournalText:
    """proposed_journal.json built line by line, as text.

    ``head_text() + body + tail_text()`` is byte for byte ``json.dumps(journal_document(...),
    ensure_ascii=False, separators=(",", ":"))``, but each line becomes text as it is proposed: no
    dict per line (see ``ProposedLine.to_json_text``). With ``emit`` the body goes out piece by
    piece as it is made (the run writes it to a spooled file: a bad day's journal is 100s of MB of
    text) and only the first ``keep`` line texts stay here for ``head``; without ``emit`` the body
    is kept and ``text()`` returns the whole document. The head is written last because it holds
    the line count.
    """

    def __init__(
        self,
        run_id: str,
        config: ReconcileConfig,
        emit: Callable[[str], object] | None = None,
        keep: int = JOURNAL_HEAD_KEPT,
    ) -> None:
        self.run_id = run_id
        self.config = config
        self.line_count = 0
        self.journal_count = 0
        self._body: list[str] = []
        self._emit: Callable[[str], object] = emit if emit is not None else self._body.append
        self._keep = keep if emit is not None else -1
        self._first: list[str] = []  # the first ``keep`` line texts (all of them without ``emit``)
        self._journal_id: str | None = None
        self._bytes = 0  # UTF-8 bytes of the body so far
        # [journal id, body offset, lines] per journal, for the journal index; None past INDEXED_JOURNALS_MAX
        self._journals: list[list[Any]] | None = []
        # every line id's first bytes, in line order, for the line index; None when there is no journal index
        self._prefixes: bytearray | None = bytearray()

    def _out(self, text: str) -> None:
        self._bytes += len(text) if text.isascii() else len(text.encode("utf-8"))
        self._emit(text)

    def add(self, line: ProposedLine) -> None:
        """Lines arrive in journal order; a new journal id opens the next journal."""
        self.add_text(line.journal_id, line.to_json_text())

    def add_text(self, journal_id: str, text: str) -> None:
        """``add`` for a line already written as text (``JournalProposer.text_for``)."""
        if self._journal_id != journal_id:
            opening = f'{{"journal_id":{encode_basestring(journal_id)},"lines":['
            separator = "]}," if self.journal_count else ""
            if self._journals is not None and len(self._journals) == INDEXED_JOURNALS_MAX:
                self._journals = self._prefixes = None
            if self._journals is not None:
                self._journals.append([journal_id, self._bytes + len(separator), 0])
            self._out(separator + opening + text)
            self._journal_id = journal_id
            self.journal_count += 1
        else:
            self._out("," + text)
        if self._journals is not None:
            self._journals[-1][2] += 1
        self._add_prefixes([text])
        if self._keep < 0 or len(self._first) < self._keep:
            self._first.append(text)
        self.line_count += 1

    def _add_prefixes(self, texts: Sequence[str]) -> None:
        if self._prefixes is not None:
            got = prefixes_of(texts)
            if got is None:  # not lines as runs write them (a hand-made text): no line index
                self._prefixes = None
            else:
                self._prefixes += got

    def add_texts(self, journal_id: str, texts: Sequence[str]) -> None:
        """``add_text`` for each of ``texts`` (all of one journal), written as one piece."""
        if not texts:
            return
        self.add_text(journal_id, texts[0])
        if len(texts) > 1:
            self._out("," + ",".join(texts[1:]))
            if self._journals is not None:
                self._journals[-1][2] += len(texts) - 1
            self._add_prefixes(texts[1:])
            room = len(texts) - 1 if self._keep < 0 else max(0, self._keep - len(self._first))
            self._first.extend(texts[1 : 1 + room])
            self.line_count += len(texts) - 1

    def head_text(self, line_count: int | None = None) -> str:
        """Everything before the first journal. It names the line count, so it is known only at the end,
        unless the caller knows the count ahead (``line_count``: the engine way knows it)."""
        count = self.line_count if line_count is None else line_count
        head = json.dumps(_journal_head(self.run_id, count, self.config), ensure_ascii=False, separators=(",", ":"))
        return f'{head[:-1]},"journals":['

    def tail_text(self) -> str:
        """Everything after the last line."""
        return ("]}" if self.journal_count else "") + "]}"

    def header(self) -> dict[str, Any]:
        """The document's fields before ``journals`` (what ``head_text`` writes)."""
        return _journal_head(self.run_id, self.line_count, self.config)

    def spans(self) -> list[tuple[str, int, int, int]] | None:
        """Each journal as (id, byte offset in the document, byte length, lines): where ``head_text() +
        body + tail_text()`` has it, the comma between two journals in neither. None for a proposal of
        more than ``INDEXED_JOURNALS_MAX`` journals (not indexed: readers walk it)."""
        if self._journals is None:
            return None
        if not self._journals:
            return []
        head = len(self.head_text().encode("utf-8"))
        ends = [offset - 1 for _, offset, _ in self._journals[1:]] + [self._bytes + 2]  # + the closing "]}"
        return [
            (jid, head + offset, end - offset, lines)
            for (jid, offset, lines), end in zip(self._journals, ends, strict=True)
        ]

    def line_prefixes(self) -> list[tuple[str, bytes]] | None:
        """Each journal's id and its lines' id prefixes (``line_index``), or None when not indexed."""
        if self._journals is None or self._prefixes is None:
            return None
        out, at, size = [], 0, PREFIX_BYTES
        for jid, _, lines in self._journals:
            out.append((jid, bytes(self._prefixes[at : at + lines * size])))
            at += lines * size
        return out

    def text(self) -> str:
        """The whole document; only without ``emit`` (else the body went out already)."""
        if self._keep >= 0:
            raise ValueError("the journal body was emitted; it is not kept in memory")
        return self.head_text() + "".join(self._body) + self.tail_text()

    def head(self, n: int) -> list[dict[str, Any]]:
        """The first ``n`` lines as dicts, for the reports that show a few (a bad day has 100,000s)."""
        if 0 <= self._keep < n and self.line_count > self._keep:
            raise ValueError(f"only the first {self._keep} lines are kept")
        return [json.loads(text) for text in self._first[:n]]


class UnknownLineError(KeyError):
    """Approval named line ids that the proposed journal does not contain."""


class UnknownJournalError(KeyError):
    """Approval named journal ids that the proposed journal does not contain."""


class TooManyToApprove(ValueError):
    """The selection holds more lines than one approval moves; says how to approve it in parts."""

    def __init__(self, selected: int, limit: int, journals: list[tuple[str, int]]) -> None:
        self.selected, self.limit, self.journals = selected, limit, journals
        named = [j for j, _ in journals if j]
        if named:
            biggest = max(n for _, n in journals)
            span = named[0] if len(named) == 1 else f"{named[0]} … {named[-1]}"
            how = (
                f'approve all of it in the background ("background": true), or a part at a time with '
                f"journalIds ({len(journals):,} journal(s) of up to {biggest:,} lines: {span}) or lineIds"
            )
        else:
            how = "approve it a part at a time with lineIds"
        super().__init__(
            f"this approval selects {selected:,} proposed lines; one approval moves at most {limit:,} "
            f"(INGEST_MAX_LINES, what one bulk request may carry): {how}"
        )


def select_proposed(
    journals: Iterable[Mapping[str, Any]],
    *,
    line_ids: Iterable[str] | None = None,
    journal_ids: Iterable[str] | None = None,
    max_lines: int,
) -> list[dict[str, Any]]:
    """Lines to post for an approval: all lines, the lines of the named journals, or exactly the named lines.

    ``journals`` is consumed once, journal by journal (a stream from the file: a bad day proposes
    hundreds of thousands of lines), and at most ``max_lines`` are kept; a bigger selection is
    refused whole (``TooManyToApprove``) rather than posted in part. Unknown ids fail the whole
    approval (a typo must not silently post less). Posting must be idempotent per ``line_id`` (it
    is the ingest line id, with ``run_id`` as the external reference), so approving twice posts once.
    """
    wanted_lines = None if line_ids is None else list(dict.fromkeys(line_ids))
    wanted_set = None if wanted_lines is None else set(wanted_lines)
    wanted_journals = None if journal_ids is None else set(journal_ids)
    kept: list[dict[str, Any]] = []
    selected = 0
    seen: set[str] = set()
    chosen: list[tuple[str, int]] = []  # (journal id, lines selected in it), for the refusal's advice
    for journal in journals:
        journal_id = str(journal.get("journal_id") or "")
        seen.add(journal_id)
        if wanted_journals is not None and journal_id not in wanted_journals:
            continue
        before = selected
        for line in journal.get("lines") or []:
            if wanted_set is not None and line.get("line_id") not in wanted_set:
                continue
            selected += 1
            if selected <= max_lines:
                kept.append(line)
        if selected > before:
            chosen.append((journal_id, selected - before))
    if wanted_journals is not None:
        unknown_journals = sorted(wanted_journals - seen)
        if unknown_journals:
            raise UnknownJournalError(f"unknown journal id(s): {unknown_journals}")
    if wanted_lines is not None:
        by_id = {line["line_id"]: line for line in kept}
        unknown = [i for i in wanted_lines if i not in by_id]
        if unknown and selected <= max_lines:
            raise UnknownLineError(f"unknown line id(s): {unknown}")
    if selected > max_lines:
        raise TooManyToApprove(selected, max_lines, chosen)
    if wanted_lines is not None:
        return [by_id[i] for i in wanted_lines]
    return kept
