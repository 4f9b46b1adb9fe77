"""Services do not build table entities or know row keys: the key layout is the adapters' (ledger_keys.py).

Reads every module of shared/services and lists what would tie it to the storage layout: the
`PartitionKey`/`RowKey` property names, row-key prefixes (`A|`, `C|`, `D|`, `E|`, `L|`, `T|`),
slicing a prefix off by its length (`[2:]`), and names imported from ledger_keys other than the
work kinds and partition names services pass between ports and messages. What is still left is
listed in `LEFT`, each with why; the list may only shrink (an entry no longer found fails too).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "shared" / "services"
ENTITY_NAMES = {"PartitionKey", "RowKey"}
ROW_KEY_PREFIX = re.compile(r"^[ACDELT]\|")
ALLOWED_FROM_LEDGER_KEYS = {
    "LEDGER_WORK": "a kind of work (a queue's and a marker's name), not a key",
    "SEND_WORK": "a kind of work, not a key",
    "OFFSET_WORK": "a kind of work, not a key",
    "ledger_partition": "the name of a product's partition: an opaque id services pass between ports and messages",
    "split_partition": "reads a partition name back into environment, organization and product",
    "aggregate_schedule": "the name of a product's aggregation schedule, not a key",
    "event_key": "an on-hand event's marker key, made by the key module and passed on opaque",
    "transaction_key": "an ERP transaction's record key, made by the key module and passed on opaque",
    "transaction_of": "reads a transaction id back from its record key (the key module's own inverse)",
}
LEFT = {
    "level_sync.py: property RowKey": "level batches are level_tables.py entities (level sync, not the ledger ports)",
    "level_sync.py: prefix slice [2:]": "the same level batches' row keys",
}


def findings(root: Path = SERVICES) -> set[str]:
    found: set[str] = set()
    for path in sorted(root.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if node.value in ENTITY_NAMES:
                    found.add(f"{path.name}: property {node.value}")
                elif ROW_KEY_PREFIX.match(node.value):
                    found.add(f"{path.name}: row-key prefix {node.value[:2]}")
            elif isinstance(node, ast.ImportFrom) and node.module == "shared.adapters.ledger_keys":
                found |= {
                    f"{path.name}: ledger_keys {a.name}" for a in node.names if a.name not in ALLOWED_FROM_LEDGER_KEYS
                }
            elif (
                isinstance(node, ast.Slice)
                and isinstance(node.lower, ast.Constant)
                and node.lower.value == 2
                and node.upper is None
            ):
                found.add(f"{path.name}: prefix slice [2:]")
    return found


def test_services_use_no_entity_shapes_or_row_keys_beyond_what_is_listed() -> None:
    unexpected = sorted(findings() - set(LEFT))
    assert unexpected == [], "services must not know the storage layout; go through a port instead: " + ", ".join(
        unexpected
    )


def test_the_list_of_what_is_left_only_shrinks() -> None:
    gone = sorted(set(LEFT) - findings())
    assert gone == [], "no longer found, remove from LEFT: " + ", ".join(gone)


def test_the_check_finds_what_it_looks_for(tmp_path: Path) -> None:
    """The scanner itself: a service that shapes an entity and slices a key is caught."""
    (tmp_path / "bad.py").write_text(
        "from shared.adapters.ledger_keys import LINE\n"
        "def f(e):\n    return {'PartitionKey': 'p', 'RowKey': 'L|' + e}, e['RowKey'][2:]\n",
        encoding="utf-8",
    )
    assert findings(tmp_path) == {
        "bad.py: ledger_keys LINE",
        "bad.py: property PartitionKey",
        "bad.py: property RowKey",
        "bad.py: row-key prefix L|",
        "bad.py: prefix slice [2:]",
    }
