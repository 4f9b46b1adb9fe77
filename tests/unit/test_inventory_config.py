"""Configuration rules: what is refused, with which reason, and calculated measures by the document's example."""

from decimal import Decimal

import pytest

from shared.domain.inventory_config import InventoryConfig, calculated_quantities
from shared.services.inventory_config import InvalidConfig, parse_config

DOC_SOURCES = [
    {"name": "fno", "physicalMeasures": ["availphysical", "orderedintotal", "orderedreserved"]},
    {"name": "mypos", "physicalMeasures": ["inbound", "outbound"]},
    {"name": "exterchannel", "physicalMeasures": ["received", "scheduled", "issued", "reserved"]},
]
# The Inventory Visibility document's custom measurement: which measures add and which subtract.
DOC_SIGNS = [
    ("fno", "availphysical", "Addition"),
    ("fno", "orderedintotal", "Addition"),
    ("fno", "orderedreserved", "Subtraction"),
    ("mypos", "inbound", "Addition"),
    ("mypos", "outbound", "Subtraction"),
    ("exterchannel", "received", "Addition"),
    ("exterchannel", "scheduled", "Addition"),
    ("exterchannel", "issued", "Subtraction"),
    ("exterchannel", "reserved", "Subtraction"),
]


def doc_config(**extra):
    return {
        "dataSources": DOC_SOURCES,
        "calculatedMeasures": [
            {
                "dataSource": "CustomChannel",
                "name": "MyCustomAvailableforReservation",
                "modifiers": [{"dataSource": ds, "physicalMeasure": m, "calculationType": t} for ds, m, t in DOC_SIGNS],
            }
        ],
        **extra,
    }


def reasons(raw) -> str:
    with pytest.raises(InvalidConfig) as caught:
        parse_config(raw)
    return " | ".join(p["message"] for p in caught.value.problems)


def test_the_documents_calculated_measure_is_220():
    config = parse_config(doc_config())
    physical = {
        "fno": {"availphysical": "100", "orderedintotal": "50", "orderedreserved": "10"},
        "mypos": {"inbound": "80", "outbound": "20"},
        "exterchannel": {"received": "90", "scheduled": "30", "issued": "60", "reserved": "40"},
    }
    assert calculated_quantities(config, physical) == {"CustomChannel": {"MyCustomAvailableforReservation": "220"}}


def test_a_missing_physical_measure_counts_as_zero_and_names_match_any_case():
    config = parse_config(doc_config())
    result = calculated_quantities(config, {"FNO": {"AvailPhysical": "7.5"}, "mypos": {"outbound": "10"}})
    assert Decimal(result["CustomChannel"]["MyCustomAvailableforReservation"]) == Decimal("-2.5")


def test_a_calculated_measure_may_not_contain_another():
    raw = doc_config()
    raw["calculatedMeasures"].append(
        {
            "dataSource": "iv",
            "name": "twice",
            "modifiers": [
                {
                    "dataSource": "customchannel",
                    "physicalMeasure": "MyCustomAvailableforReservation",
                    "calculationType": "Addition",
                }
            ],
        }
    )
    assert "which is a calculated measure itself" in reasons(raw)


def test_the_same_measure_twice_is_refused_even_in_another_case():
    raw = doc_config()
    raw["calculatedMeasures"][0]["modifiers"].append(
        {"dataSource": "FNO", "physicalMeasure": "AVAILPHYSICAL", "calculationType": "Subtraction"}
    )
    assert "contains FNO/AVAILPHYSICAL twice" in reasons(raw)


def test_unknown_measures_and_bad_mappings_are_refused_with_every_reason():
    raw = doc_config()
    raw["calculatedMeasures"][0]["modifiers"].append(
        {"dataSource": "fno", "physicalMeasure": "nosuch", "calculationType": "Addition"}
    )
    assert "fno/nosuch, which is not a configured physical measure" in reasons(raw)
    bad_mapping = {
        "dataSources": [{"name": "pos", "physicalMeasures": ["sold"], "dimensionMappings": {"PosColor": "Colour"}}]
    }
    assert "not a base dimension" in reasons(bad_mapping)
    duplicate_source = {
        "dataSources": [{"name": "pos", "physicalMeasures": ["sold"]}, {"name": "POS", "physicalMeasures": ["x"]}]
    }
    assert "configured twice" in reasons(duplicate_source)
    assert "at least 1" in reasons({"dataSources": []})


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"transactionType": "salesOrder", "trigger": "Post"}, "trigger of a salesOrder must be one of"),
        ({"transactionType": "adjustmentJournal", "trigger": "Invoice"}, "trigger of a adjustmentJournal"),
        ({"transactionType": "purchaseOrder", "trigger": "Create"}, "'salesOrder' or 'adjustmentJournal'"),
        (
            {"transactionType": "salesOrder", "trigger": "Create", "checkedDimensions": ["colorId"]},
            "product dimensions always match",
        ),
        (
            {"transactionType": "salesOrder", "trigger": "Create", "offsetPhysicalMeasure": "nosuch"},
            "not a configured physical measure",
        ),
    ],
)
def test_offset_rules_are_checked(rule, expected):
    full = {"offsetDataSource": "mypos", "offsetPhysicalMeasure": "outbound", **rule}
    assert expected in reasons(doc_config(offsets=[full]))


def test_an_offset_rule_defaults_to_checking_every_storage_dimension():
    config = parse_config(
        doc_config(
            offsets=[
                {
                    "transactionType": "salesOrder",
                    "offsetDataSource": "MYPOS",
                    "offsetPhysicalMeasure": "Outbound",
                    "trigger": "Invoice",
                }
            ]
        )
    )
    rule = config.offset_rule("salesOrder", "mypos", "outbound")
    assert rule is not None and "batchId" in rule.checkedDimensions and "locationId" in rule.checkedDimensions
    assert config.offset_rule("adjustmentJournal", "mypos", "outbound") is None


def test_a_configuration_round_trips_through_json():
    config = parse_config(doc_config())
    assert InventoryConfig.model_validate(config.model_dump(mode="json")) == config


def test_a_configuration_too_large_for_one_table_property_is_refused():
    sources = [
        {
            "name": f"source{i:02d}-with-a-long-name",
            "physicalMeasures": [f"measure-{j:02d}-of-{i:02d}-long-name" for j in range(30)],
        }
        for i in range(40)
    ]
    assert "larger than 30000 characters" in reasons({"dataSources": sources})


def _problems(raw) -> list[dict[str, str]]:
    with pytest.raises(InvalidConfig) as refused:
        parse_config(raw)
    return refused.value.problems


PYDANTIC_WORDS = ("Tuple should", "after validation", "Input should", "Field required", "Extra inputs", "instance of")


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        ({"dataSources": []}, "dataSources", "needs at least 1 item(s)"),
        ({"dataSources": [{"name": "pos", "physicalMeasures": ["sold"]}], "extra": 1}, "extra", "is not a known field"),
        ({"dataSources": [{"name": "pos"}]}, "dataSources.0.physicalMeasures", "is required"),
        ({"dataSources": ["pos"]}, "dataSources.0", "must be an object"),
        ({"dataSources": "pos"}, "dataSources", "must be a list"),
        (
            {
                "dataSources": [{"name": "pos", "physicalMeasures": ["sold"]}],
                "calculatedMeasures": [
                    {
                        "dataSource": "iv",
                        "name": "x",
                        "modifiers": [{"dataSource": "pos", "physicalMeasure": "sold", "calculationType": "Sum"}],
                    }
                ],
            },
            "calculatedMeasures.0.modifiers.0.calculationType",
            "must be one of 'Addition' or 'Subtraction'",
        ),
    ],
)
def test_configuration_errors_are_in_plain_words(raw, field, words):
    problems = _problems(raw)
    assert {"field": field, "message": words} in [
        {"field": p["field"], "message": p["message"][: len(words)]} for p in problems
    ], problems
    assert not any(w in p["message"] for p in problems for w in PYDANTIC_WORDS), problems
