"""The outbox CSV and JSON of one journal carry the same values.

Values a spreadsheet reads as formulas (`= + - @`, tab, CR first) are refused at ingest with the field
named, so the CSV writer's neutralisation never has to change an accepted value.
"""

import csv
import io
import json
import random
import string
from decimal import Decimal

import pytest

from shared.adapters.erp_outbox import journal_csv, journal_json
from shared.domain.adjustments import parse_lines
from shared.domain.identifiers import VALUE_TEXT
from shared.domain.inventory_config import default_config
from shared.domain.journals import Journal, JournalLine
from shared.domain.offsets import parse_transactions
from shared.domain.onhand_events import parse_events

LINE = {
    "id": "f-1",
    "organizationId": "usmf",
    "productId": "A1",
    "quantityDataSource": "@iv",
    "physicalMeasure": "adjustment",
    "quantity": "1",
    "dimensions": {"siteId": "1"},
}
FORMULA_STARTS = ["=SUM(A1)", "+A1", "-A1", "@A1", "\tA1", "\rA1"]


@pytest.mark.parametrize("value", FORMULA_STARTS)
@pytest.mark.parametrize(
    ("field", "path"),
    [
        ("id", ("id",)),
        ("organizationId", ("organizationId",)),
        ("productId", ("productId",)),
        ("dimensions", ("dimensions", "siteId")),
        ("externalReferenceId", ("externalReferenceId",)),
        ("fnoJournalNameId", ("fnoJournalNameId",)),
    ],
)
def test_an_adjustment_value_with_a_formula_start_is_refused_naming_the_field(field, path, value):
    raw = json.loads(json.dumps(LINE))
    target = raw
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    lines, problems = parse_lines([raw], allowed_sources=("@iv",), allowed_measures=("adjustment",))
    assert not lines and [p.field for p in problems] == [field]
    assert "formula" in problems[0].message


def test_configuration_names_such_as_iv_still_start_with_at():
    lines, problems = parse_lines([LINE], allowed_sources=("@iv",), allowed_measures=("adjustment",))
    assert not problems and lines[0].quantityDataSource == "@iv"


@pytest.mark.parametrize("value", FORMULA_STARTS)
def test_on_hand_events_and_erp_transactions_refuse_formula_starts_too(value):
    config = default_config(("@iv", "pos"), ("adjustment", "sold"))
    _, problems = parse_events(
        [
            {
                "id": "e",
                "organizationId": "usmf",
                "productId": value,
                "dimensions": {"siteId": value},
                "quantities": {"pos": {"sold": 1}},
            }
        ],
        config,
        "add",
    )
    assert {p.field for p in problems} == {"productId", "dimensions.siteId"}
    _, problems = parse_transactions(
        [
            {
                "id": value,
                "transactionType": "salesOrder",
                "status": "Create",
                "organizationId": "usmf",
                "productId": "A1",
                "quantity": 1,
                "offsetDataSource": "pos",
                "offsetPhysicalMeasure": "sold",
            }
        ],
        config,
    )
    assert "id" in {p.field for p in problems}


def test_every_value_ingest_accepts_is_written_identically_to_the_csv_and_the_json():
    alphabet = string.ascii_letters + string.digits + "_@.:+- "
    rng = random.Random(11)
    accepted = []
    while len(accepted) < 400:
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
        if VALUE_TEXT.fullmatch(value):
            accepted.append(value)
    lines = tuple(
        JournalLine(
            f"agg-{n}",
            accepted[n],
            Decimal("-1.5"),
            site_id=accepted[n + 1],
            warehouse_id=accepted[n + 2],
            batch_id=accepted[n + 3],
            location_id=accepted[n + 4],
        )
        for n in range(0, 395, 5)
    )
    journal = Journal("OS-x", "env", accepted[-1], "adjustment", accepted[-2], "Posted", lines)
    rows = list(csv.DictReader(io.StringIO(journal_csv(journal).decode("utf-8-sig"))))
    document = json.loads(journal_json(journal))["lines"]
    assert len(rows) == len(document) == len(lines)
    for row, line in zip(rows, document, strict=True):
        assert row == {k: "" if v is None else str(v) for k, v in line.items()}
