"""Table, container and queue names are declared once (shared/adapters/storage_names.py); one run-id rule."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from shared.adapters.storage_names import CONTAINERS, TABLES
from shared.domain.reconciliation.naming import (
    EDGE_MAX_RUN_ID,
    MAX_RUN_ID,
    is_valid_run_id,
    parse_snapshot_name,
)
from shared.services.reconcile_blobs import valid_run_id

ROOT = Path(__file__).resolve().parents[2]
NAMES = set(TABLES) | set(CONTAINERS)
OWNER = ROOT / "shared" / "adapters" / "storage_names.py"
NOT_NAMES: set[str] = set()
"""Same text, other meaning (e.g. a key prefix spelled like a table): none today."""


def _literal_name_constants(path: Path) -> list[str]:
    """`NAME = "ledger"` style module constants (or tuples of them) holding a storage name."""
    found = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign):
            values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
            for value in values:
                if isinstance(value, ast.Constant) and value.value in NAMES:
                    found.append(f"{path.relative_to(ROOT)} {value.value!r}")
    return found


def test_no_module_re_declares_a_storage_name() -> None:
    files = [p for folder in ("shared", "functions", "devtools") for p in (ROOT / folder).rglob("*.py")]
    files.append(ROOT / "function_app.py")
    redeclared = [
        hit for path in files if path != OWNER for hit in _literal_name_constants(path) if hit not in NOT_NAMES
    ]
    assert redeclared == []


def test_blob_triggers_watch_containers_of_the_list() -> None:
    import function_app
    from devtools.localrunner.catalog import build_catalog

    assert {b.container for b in build_catalog(function_app.app).blobs} <= set(CONTAINERS)


@pytest.mark.parametrize("run_id", ["a", "R_1.2", "x" * EDGE_MAX_RUN_ID])
def test_one_rule_at_the_edge_and_in_blob_names(run_id: str) -> None:
    assert valid_run_id(run_id) and is_valid_run_id(run_id)
    assert parse_snapshot_name(f"snapshots/{run_id}/erp.csv") is not None


def test_the_edge_keeps_its_shorter_limit_and_blob_names_theirs() -> None:
    assert not valid_run_id("x" * (EDGE_MAX_RUN_ID + 1))
    assert is_valid_run_id("x" * MAX_RUN_ID) and not is_valid_run_id("x" * (MAX_RUN_ID + 1))


@pytest.mark.parametrize("run_id", ["run\n", "-a", ".hidden", "", "a/b"])
def test_a_run_id_is_matched_in_full(run_id: str) -> None:
    # `^...$` with re.match accepted "run\n" (`$` matches before a final newline).
    assert not is_valid_run_id(run_id)
    assert parse_snapshot_name(f"env-1/{run_id}/erp.csv") is None
