"""The line index: which journals may hold a named line, so ``lineIds`` alone read only those journals."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from shared.domain.reconciliation.journal_index import BadIndex, JournalIndex, JournalSpan, index_document, parse_index
from shared.domain.reconciliation.line_index import (
    LINE_INDEX_SCHEMA,
    PREFIX_BYTES,
    line_index_document,
    parse_line_index,
    prefixes_of,
)


def _id(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()[:24]


def _line(line_id: str) -> str:
    return json.dumps({"line_id": line_id, "journal_id": "r-001", "item": "A"}, separators=(",", ":"))


JOURNALS = {"r-001": [_id(n) for n in range(0, 700)], "r-002": [_id(n) for n in range(700, 1000)], "r-003": [_id(1000)]}


def _journal_index() -> JournalIndex:
    spans, offset, first = [], 10, 0
    for jid, ids in JOURNALS.items():
        spans.append(JournalSpan(jid, offset, 100, len(ids), first, "0" * 64))
        offset, first = offset + 101, first + len(ids)
    return parse_index(index_document({"run_id": "r"}, offset + 10, spans))


def _document() -> dict[str, Any]:
    journals = [(jid, prefixes_of([_line(i) for i in ids])) for jid, ids in JOURNALS.items()]
    assert all(p is not None for _, p in journals)
    return line_index_document(_journal_index().file_bytes, [(j, p) for j, p in journals if p is not None])


def test_every_line_is_found_in_its_own_journal() -> None:
    index = parse_line_index(_document(), _journal_index())
    for jid, ids in JOURNALS.items():
        for line_id in ids[:50] + ids[-3:]:
            assert jid in index.journals_holding([line_id])
    assert index.journals_holding([JOURNALS["r-001"][5], JOURNALS["r-003"][0]]) >= {"r-001", "r-003"}


def test_ids_the_proposal_lacks_or_that_are_not_line_ids_point_nowhere() -> None:
    index = parse_line_index(_document(), _journal_index())
    known = {bytes.fromhex(i[: 2 * PREFIX_BYTES]) for ids in JOURNALS.values() for i in ids}
    absent = next(i for i in (_id(n) for n in range(5_000, 50_000)) if bytes.fromhex(i[:8]) not in known)
    assert index.journals_holding([absent]) == set()
    assert index.journals_holding(["XYZ", "", JOURNALS["r-001"][0].upper(), JOURNALS["r-001"][0] + "0"]) == set()
    assert index.journals_holding([]) == set()


def test_prefixes_come_only_from_lines_as_runs_write_them() -> None:
    ids = JOURNALS["r-002"][:3]
    assert prefixes_of([_line(i) for i in ids]) == b"".join(bytes.fromhex(i[:8]) for i in ids)
    assert prefixes_of([_line(ids[0]), '{"item":"A","line_id":"' + ids[1] + '"}']) is None
    assert prefixes_of([_line("zz" + ids[0][2:])]) is None
    assert prefixes_of([]) == b""


def _broken(change: str) -> Any:
    doc = _document()
    if change == "schema":
        doc["schema"] = "something/else"
    elif change == "bytes":
        doc["bytes"] += 1
    elif change == "prefix_bytes":
        doc["prefix_bytes"] = 8
    elif change == "journal missing":
        doc["journals"].pop()
    elif change == "journal renamed":
        doc["journals"][1]["journal_id"] = "r-009"
    elif change == "not base64":
        doc["journals"][0]["prefixes"] = "***"
    elif change == "a prefix short":
        doc["journals"][2]["prefixes"] = base64.b64encode(b"\x00" * (PREFIX_BYTES - 1)).decode()
    elif change == "not an object":
        return ["journals"]
    elif change == "entry not an object":
        doc["journals"][0] = "r-001"
    return doc


@pytest.mark.parametrize(
    "change",
    [
        "schema",
        "bytes",
        "prefix_bytes",
        "journal missing",
        "journal renamed",
        "not base64",
        "a prefix short",
        "not an object",
        "entry not an object",
    ],
)
def test_a_line_index_that_does_not_fit_the_journal_index_is_refused(change: str) -> None:
    with pytest.raises(BadIndex):
        parse_line_index(_broken(change), _journal_index())


def test_the_document_names_its_schema_and_reads_back() -> None:
    doc = json.loads(json.dumps(_document()))
    assert doc["schema"] == LINE_INDEX_SCHEMA
    index = parse_line_index(doc, _journal_index())
    assert [jid for jid, _ in index.journals] == list(JOURNALS)
    assert [len(p) for _, p in index.journals] == [PREFIX_BYTES * len(ids) for ids in JOURNALS.values()]


def test_the_journal_writer_keeps_each_journals_prefixes_one_line_or_many_at_a_time() -> None:
    from shared.domain.reconciliation.config import ReconcileConfig
    from shared.domain.reconciliation.journal import JournalText

    one, many = JournalText("r", ReconcileConfig()), JournalText("r", ReconcileConfig())
    for jid, ids in JOURNALS.items():
        for line_id in ids:
            one.add_text(jid, _line(line_id))
        many.add_texts(jid, [_line(i) for i in ids])
    expected = [(jid, b"".join(bytes.fromhex(i[:8]) for i in ids)) for jid, ids in JOURNALS.items()]
    assert one.line_prefixes() == many.line_prefixes() == expected


def test_a_journal_of_hand_made_lines_or_past_the_indexed_journals_has_no_line_index(monkeypatch) -> None:
    from shared.domain.reconciliation import journal
    from shared.domain.reconciliation.config import ReconcileConfig
    from shared.domain.reconciliation.journal import JournalText

    odd = JournalText("r", ReconcileConfig())
    odd.add_texts("r-001", [_line(_id(1)), '{"line_id":"L2","item":"A"}'])
    assert odd.line_prefixes() is None and odd.spans() is not None

    monkeypatch.setattr(journal, "INDEXED_JOURNALS_MAX", 2)
    many = JournalText("r", ReconcileConfig())
    for n in range(3):
        many.add_text(f"r-{n:03d}", _line(_id(n)))
    assert many.line_prefixes() is None and many.spans() is None
