"""The ledger's partitions are spread over its tables by a hash that must never move a partition."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

from shared.adapters.ledger_keys import LEDGER_SHARDS, ledger_partition, ledger_shard
from shared.adapters.storage_names import LEDGER_TABLES, TABLES

ROOT = Path(__file__).resolve().parents[2]


def test_there_is_one_table_for_every_shard_and_each_is_created():
    assert len(LEDGER_TABLES) == len(set(LEDGER_TABLES)) == LEDGER_SHARDS
    assert set(LEDGER_TABLES) <= set(TABLES)


def test_a_catalogue_spreads_over_every_shard_evenly():
    counts = Counter(ledger_shard(ledger_partition("prod", "usmf", f"SKU{n:05d}")) for n in range(5000))
    assert set(counts) == set(range(LEDGER_SHARDS))
    expected = 5000 / LEDGER_SHARDS
    assert all(0.85 * expected <= c <= 1.15 * expected for c in counts.values()), counts


def test_a_partition_has_the_same_shard_in_every_process():
    """Python's own `hash` of a str changes per process (PYTHONHASHSEED): a partition would move."""
    partitions = [ledger_partition("prod", "usmf", f"P{n}") for n in range(50)]
    script = f"from shared.adapters.ledger_keys import ledger_shard\nprint([ledger_shard(p) for p in {partitions!r}])"
    seen = {
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert seen == {str([ledger_shard(p) for p in partitions]) + "\n"}
