"""The journal index: found by scanning the written bytes, and refused when it is not one a run writes."""

import hashlib
import io
import json

import pytest

from shared.domain.reconciliation.config import ReconcileConfig
from shared.domain.reconciliation.journal import JournalText
from shared.domain.reconciliation.journal_index import BadIndex, parse_index
from shared.services import journal_indexing
from shared.services.journal_indexing import index_from_spans, index_of


def _written(journals: list[list[str]]) -> bytes:
    """A proposed journal as the run writes it (``JournalText``), lines given as their JSON text."""
    text = JournalText("r", ReconcileConfig())
    for n, lines in enumerate(journals, start=1):
        text.add_texts(f"r-{n:03d}", lines)
    return (text.text() + "\n").encode()


def _line(i: int, item: str = "A") -> str:
    return json.dumps({"line_id": f"L{i}", "item": item, "quantity_delta": str(i)}, ensure_ascii=False)


JOURNALS = [
    [_line(0, 'Ä "{\\"journal_id\\":" ,{"line_id":'), _line(1)],
    [_line(2)],
    [_line(3), _line(4, "ü" * 40), _line(5)],
]


def test_every_range_is_its_journal_and_counts_its_lines():
    data = _written(JOURNALS)
    index = parse_index(index_of(io.BytesIO(data)))
    whole = json.loads(data)
    assert [json.loads(data[s.offset : s.offset + s.length]) for s in index.spans] == whole["journals"]
    assert [s.lines for s in index.spans] == [2, 1, 3] and [s.first_line for s in index.spans] == [0, 2, 3]
    assert all(hashlib.sha256(data[s.offset : s.offset + s.length]).hexdigest() == s.sha256 for s in index.spans)
    assert index.header == {k: v for k, v in whole.items() if k != "journals"} and index.file_bytes == len(data)
    assert [s.journal_id for s in index.covering(2, 2)] == ["r-002", "r-003"]
    assert [s.journal_id for s in index.named({"r-003", "r-001", "nope"})] == ["r-001", "r-003"]


@pytest.mark.parametrize("chunk", [1, 5, 13, 14, 15, 64])
def test_markers_cut_by_a_read_boundary_are_found(monkeypatch, chunk):
    data = _written(JOURNALS)
    whole = index_of(io.BytesIO(data))
    monkeypatch.setattr(journal_indexing, "_CHUNK", chunk)
    assert index_of(io.BytesIO(data)) == whole


def test_a_proposal_without_journals_has_an_empty_index():
    index = parse_index(index_of(io.BytesIO(_written([]))))
    assert index.spans == () and index.line_count == 0 and index.header["run_id"] == "r"


@pytest.mark.parametrize(
    "data",
    [
        json.dumps(json.loads(_written(JOURNALS)), indent=1).encode(),  # not the compact layout
        _written(JOURNALS)[:-8] + b"\n",  # cut short
        b"not json",
        b"[1, 2]",
    ],
)
def test_a_file_in_another_layout_has_no_index(data):
    """Readers then walk the file as for runs written before indexes: nothing guessed."""
    file = io.BytesIO(data)
    assert index_of(file) is None and file.tell() == 0


def _valid() -> dict:
    doc = index_of(io.BytesIO(_written(JOURNALS)))
    assert doc is not None
    return doc


def _with(change) -> dict:
    doc = _valid()
    change(doc)
    return doc


@pytest.mark.parametrize(
    "doc",
    [
        None,
        {"schema": "other"},
        _with(lambda d: d.pop("header")),
        _with(lambda d: d.update(bytes=True)),
        _with(lambda d: d.update(line_count=7)),
        _with(lambda d: d["journals"][1].update(offset=d["journals"][0]["offset"])),  # overlaps
        _with(lambda d: d["journals"][2].update(length=d["bytes"])),  # past the end
        _with(lambda d: d["journals"][0].update(sha256="x" * 64)),
        _with(lambda d: d["journals"][0].update(lines=-1)),
        _with(lambda d: d["journals"][0].pop("journal_id")),
        _with(lambda d: d["journals"].append("r-004")),
    ],
)
def test_an_index_a_run_would_not_write_is_refused(doc):
    with pytest.raises(BadIndex):
        parse_index(doc)


@pytest.mark.parametrize("journals", [JOURNALS, [], [[_line(9, "Ω")]], [[_line(i)] for i in range(5)]])
def test_the_writers_spans_give_the_index_the_scan_finds(journals):
    """The run indexes from ``JournalText.spans`` (cheaper); the scan of the same bytes must agree."""
    text = JournalText("r", ReconcileConfig())
    for n, lines in enumerate(journals, start=1):
        for line in lines:  # one at a time, and the same journal's lines again in one piece below
            text.add_text(f"r-{n:03d}", line)
    data = (text.text() + "\n").encode()
    assert index_from_spans(io.BytesIO(data), text.header(), text.spans()) == index_of(io.BytesIO(data))

    batched = JournalText("r", ReconcileConfig(), emit=lambda piece: pieces.append(piece))
    pieces: list[str] = []
    for n, lines in enumerate(journals, start=1):
        batched.add_texts(f"r-{n:03d}", lines)
    whole = (batched.head_text() + "".join(pieces) + batched.tail_text() + "\n").encode()
    assert whole == data
    assert index_from_spans(io.BytesIO(whole), batched.header(), batched.spans()) == index_of(io.BytesIO(whole))


def test_a_proposal_of_more_journals_than_are_indexed_has_no_spans(monkeypatch):
    """``journal_max_lines`` of 1 on a bad day would be 300,000 journals: their spans would cost the run
    memory and the index more to read than the journals. Past the limit the run keeps none."""
    from shared.domain.reconciliation import journal

    monkeypatch.setattr(journal, "INDEXED_JOURNALS_MAX", 2)
    text = JournalText("r", ReconcileConfig())
    text.add_texts("r-001", [_line(1), _line(2)])
    text.add_text("r-002", _line(3))
    assert [s[0] for s in text.spans() or []] == ["r-001", "r-002"]
    text.add_text("r-003", _line(4))
    text.add_text("r-003", _line(5))
    assert text.spans() is None and text.line_count == 5 and text.journal_count == 3
