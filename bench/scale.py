"""A retailer's minute on Azurite: stores posting through the HTTP handler, queue consumers syncing.

    .venv/bin/python bench/scale.py [--lines 20000] [--catalogue 5000] [--clients 4] [--workers 1,2,4]
                                    [--history 200000]

In one run, on one Azurite (its own, on free ports, or OMNISYNC_TEST_STORAGE):

1. For each worker count: stores post requests of ~50 lines (products drawn from a Zipf
   distribution over the catalogue) through `post_adjustments` from `--clients` threads, with
   the consumers stopped; then the app's `sync` queue function runs through the local runner's
   queue poller with that many workers until every line is `IVPosted` (alone, like the baseline,
   which writes only what sync writes; `--with-aggregation` runs the `aggregate` function beside
   it, as deployed, where both share the one Azurite process). The last count's aggregation is
   then drained, untimed.
2. Baseline, same run and storage: the entities sync writes (each touched cache row, each line's
   record and open entry) as batched upserts grouped per partition, on as many threads, through
   the SDK's `submit_transaction` (`sync_ratio`); and again through omnisync's own transaction
   writer, about 3x cheaper in CPU (`sync_ratio_same_client`: the ratio with the same client on
   both sides, so it shows the design's cost without the client's); and the SDK's upserts once more
   into the ledger as ingest leaves it (`sync_ratio_over_ingest`: on Azurite a write costs more in a
   bigger table, and sync writes into one that already holds every line and open entry).
3. Lag: the most workers measured (`lag_workers`), consumers running while the stores post; lag is
   from the POST that carried a line being accepted to the line's `IVPostedAt`. The most, not the
   best of step 1 (`workers`): the host runs up to `batchSize` (16) messages of each queue at once
   per instance and scales out, so the largest count is the one nearest a deployment, while the
   best of step 1 is often a toss-up on two cores (sync 84.6 s with 2 workers against 92.6 s with 4
   in one run, whose lag was then 56.9 s with 2 workers and 11.4–12.6 s with 4 in other runs).
4. History: 200,000 finished lines of the same products and the aggregated lines they went into
   (posted and offset), written (untimed) where the product keeps finished records (`finishedlines`),
   then step 1 again.

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import sys
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import azure.functions as func

from bench.bench_storage import AUTH_HEADERS, batched_upserts, bench_storage

ENV = "bench"
MAPPING = '{"pos/sold": {"journal_type": "adjustment", "target_status": "Posted"}}'


def zipf_products(catalogue: int, count: int, rng: random.Random, s: float = 1.0) -> list[str]:
    weights = [1 / (k**s) for k in range(1, catalogue + 1)]
    return [f"SKU{n:05d}" for n in rng.choices(range(catalogue), weights=weights, k=count)]


def make_requests(lines: int, catalogue: int, per_request: int, seed: int, tag: str) -> list[list[dict]]:
    """One request per store visit: ~`per_request` lines, the store's own site and warehouse."""
    rng = random.Random(seed)
    products = zipf_products(catalogue, lines, rng)
    requests, counter = [], itertools.count()
    for start in range(0, lines, per_request):
        store = rng.randrange(1000)
        requests.append(
            [
                {
                    "id": f"{tag}-{next(counter)}",
                    "organizationId": "usmf",
                    "productId": product,
                    "quantityDataSource": "pos",
                    "physicalMeasure": "sold",
                    "dimensions": {"siteId": f"S{store // 100}", "locationId": f"W{store:04d}"},
                    "quantity": str(-rng.randint(1, 3)),
                    "externalReferenceId": f"RCPT-{tag}-{start}",
                }
                for product in products[start : start + per_request]
            ]
        )
    return requests


def fresh_storage(label: str) -> None:
    """Tables and queues of their own for one measurement (settings are read lazily, so reset them)."""
    from shared.adapters.ledger_tables import LedgerStore
    from shared.adapters.storage_clients import reset_clients
    from shared.adapters.work_queues import WorkQueues
    from shared.config import reset_settings

    tag = label + uuid.uuid4().hex[:6]
    os.environ["OMNISYNC_STORAGE_NAME_PREFIX"] = tag
    os.environ["WORK_QUEUE_PREFIX"] = f"q{tag}"
    reset_settings()
    reset_clients()
    LedgerStore()  # tables exist before the timed part, as in a deployed app
    for work in ("sync", "aggregate", "send"):
        WorkQueues().client(work)


def post_all(requests: list[list[dict]], clients: int) -> tuple[float, dict[str, float]]:
    """Post every request from `clients` threads; returns the wall time and when each line was accepted."""
    from functions.adjustments import post_adjustments

    accepted: dict[str, float] = {}
    lock = threading.Lock()

    def post(body: list[dict]) -> None:
        request = func.HttpRequest(
            "POST",
            f"http://localhost/api/environment/{ENV}/transaction/adjustment/bulk",
            headers={"content-type": "application/json", **AUTH_HEADERS},
            route_params={"environmentId": ENV},
            body=json.dumps(body).encode(),
        )
        response = post_adjustments(request)
        assert response.status_code == 200, response.get_body()[:300]
        done = time.time()
        with lock:
            accepted.update((line["id"], done) for line in body)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(post, requests))
    return time.perf_counter() - start, accepted


def consumers(workers: int, names: tuple[str, ...] = ("ledger_sync", "ledger_aggregate")):  # type: ignore[no-untyped-def]
    """The app's own queue functions (`sync`, `aggregate`), delivered by the local runner's poller."""
    import function_app
    from devtools.localrunner.catalog import build_catalog
    from devtools.localrunner.queues import QueuePoller, QueueSettings
    from shared.adapters.storage_clients import queue_service

    functions = [q for q in build_catalog(function_app.app).queues if q.name in names]
    settings = QueueSettings(batch_size=max(16, workers), max_polling_interval_s=0.2)
    return QueuePoller(functions, queue_service(), settings, workers=workers)


def line_times() -> dict[str, float]:
    """`IVPostedAt` of every line in the environment, as epoch seconds (None while not posted), from
    the ledger and from the finished lines (aggregation moves lines there while the run goes on)."""
    from shared.adapters.ledger_tables import LedgerStore

    store = LedgerStore()
    found: dict[str, float | None] = {}
    lo, hi = f"{ENV}|", f"{ENV}}}"
    query = "PartitionKey ge @lo and PartitionKey lt @hi and RowKey ge @a and RowKey lt @b"
    for table in (*store.ledgers, store.finished):
        for e in table.query_entities(
            query, parameters={"lo": lo, "hi": hi, "a": "L|", "b": "L}"}, select=["LineId", "IVPostedAt"]
        ):
            if e.get("IVPostedAt") or e["LineId"] not in found:
                found[e["LineId"]] = e["IVPostedAt"].timestamp() if e.get("IVPostedAt") else None
    return found


def aggregated_per_line() -> float:
    """Aggregated lines made per detailed line aggregated so far in this run's tables (each aggregated
    line counts its members), so the history holds as many aggregated lines as this traffic makes."""
    from shared.adapters.ledger_tables import LedgerStore

    store = LedgerStore()
    lo, hi = f"{ENV}|", f"{ENV}}}"
    entities = [
        e
        for table in store.ledgers
        for e in table.query_entities(
            "PartitionKey ge @lo and PartitionKey lt @hi and RowKey ge @a and RowKey lt @b",
            parameters={"lo": lo, "hi": hi, "a": "A|", "b": "A}"},
            select=["LineCount"],
        )
    ]
    members = sum(int(e.get("LineCount") or 0) for e in entities)
    return len(entities) / members if members else 0.0


def wait_until_synced(expected: set[str], timeout_s: float) -> dict[str, float]:
    """Poll cheaply (the pending index) until no marker is left, then read the lines' posting times."""
    from shared.adapters.ledger_keys import LEDGER_WORK
    from shared.adapters.ledger_tables import LedgerStore
    from shared.adapters.work_queues import WorkQueues
    from shared.config import get_settings
    from shared.services.partition_work import sweep_ledger

    store = LedgerStore()
    deadline = time.monotonic() + timeout_s
    queues = [WorkQueues().client(work) for work in ("sync", "aggregate")]
    while store.pending_markers(LEDGER_WORK, environment_id=ENV):
        if time.monotonic() > deadline:
            raise TimeoutError("work left after the timeout")
        if all(q.get_queue_properties().approximate_message_count == 0 for q in queues):
            # Every message is done; markers that duplicates left are the minute timer's (untimed: the
            # figures are the lines' IVPostedAt). It must find nothing left to sync.
            swept_at = time.perf_counter()
            swept = sweep_ledger(store, get_settings().mapping(), lambda environment_id: None, budget_s=300)
            assert swept.lines == 0, f"the sweep synced {swept.lines} lines the messages had left"
            print(
                f"  markers left to the sweep: {swept.partitions} visited in {time.perf_counter() - swept_at:.0f}s "
                f"({swept.aggregated} lines aggregated by it)",
                flush=True,
            )
        time.sleep(2)  # each look is 16 shard queries: polling faster measured the poll, not the sync
    times = line_times()
    missing = [i for i in expected if times.get(i) is None]
    assert not missing, f"{len(missing)} lines not IVPosted, e.g. {missing[:3]}"
    return times


def wait_until_posted(expected: set[str], timeout_s: float) -> dict[str, float]:
    """With only the sync consumers running: until the sync queue is empty (in flight and delayed
    messages count too) and every line is `IVPosted`; the lines are read only then."""
    from shared.adapters.work_queues import WorkQueues

    queue = WorkQueues().client("sync")
    deadline = time.monotonic() + timeout_s
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError("lines not synced after the timeout")
        time.sleep(2)
        if queue.get_queue_properties().approximate_message_count == 0:
            times = line_times()
            if all(times.get(i) is not None for i in expected):
                return times


def sync_run(
    requests: list[list[dict]],
    clients: int,
    workers: int,
    timeout_s: float,
    *,
    with_aggregation: bool = False,
    drain: bool = False,
) -> dict[str, float]:
    """Ingest with the consumers stopped, then time the sync from the queue. By default only the sync
    consumers run, like the raw baseline, which writes only what sync writes (aggregation shares the
    one Azurite process otherwise); `with_aggregation` runs the aggregate consumers alongside, as
    deployed. `drain` then lets aggregation finish (untimed), for the aggregated lines per line."""
    ingest_s, accepted = post_all(requests, clients)
    poller = consumers(workers, ("ledger_sync", "ledger_aggregate") if with_aggregation else ("ledger_sync",))
    start = time.time()
    poller.start()
    try:
        if with_aggregation:
            times = wait_until_synced(set(accepted), timeout_s)
        else:
            times = wait_until_posted(set(accepted), timeout_s)
    finally:
        poller.stop()
    if drain and not with_aggregation:
        poller = consumers(workers)
        poller.start()
        try:
            wait_until_synced(set(accepted), timeout_s)
        finally:
            poller.stop()
    assert_cache_holds(requests)
    ours = [t for i, t in times.items() if i in accepted]
    lines = len(accepted)
    return {"ingest_s": ingest_s, "sync_s": max(ours) - start, "lines": lines}


def lag_run(requests: list[list[dict]], clients: int, workers: int, timeout_s: float) -> dict[str, float]:
    poller = consumers(workers)
    poller.start()
    try:
        _, accepted = post_all(requests, clients)
        times = wait_until_synced(set(accepted), timeout_s)
    finally:
        poller.stop()
    lags = sorted(times[i] - accepted[i] for i in accepted)
    assert_cache_holds(requests)
    return {
        "last_line_lag_s": max(times[i] for i in accepted) - max(accepted.values()),
        "p95_line_lag_s": lags[int(0.95 * (len(lags) - 1))],
        "max_line_lag_s": lags[-1],
    }


def assert_cache_holds(requests: list[list[dict]]) -> None:
    """The cache holds each line once: per product, its rows sum to its lines (a figure of a run that
    counted a line twice would mean nothing)."""
    from shared.adapters.ledger_tables import LedgerStore

    expected: dict[str, Decimal] = defaultdict(Decimal)
    for body in requests:
        for line in body:
            expected[line["productId"]] += Decimal(line["quantity"])
    cached: dict[str, Decimal] = defaultdict(Decimal)
    for row in LedgerStore().product_rows(ENV, None):
        cached[row.product_id] += Decimal(row.quantities.get("pos", {}).get("sold", "0"))
    wrong = {p: (cached[p], q) for p, q in expected.items() if cached[p] != q}
    assert not wrong, f"cache differs from the lines for {len(wrong)} products, e.g. {list(wrong.items())[:3]}"


def sync_entities(requests: list[list[dict]]) -> list[dict]:
    """What sync writes, grouped per partition: each touched cache row, each line's record and open entry."""
    from shared.adapters.ledger_keys import ledger_partition
    from shared.domain.adjustments import dimension_key
    from shared.domain.cache import cache_row_key

    by_partition: dict[str, list[dict]] = defaultdict(list)
    rows: dict[str, set[str]] = defaultdict(set)
    now = datetime.now(UTC)
    for body in requests:
        for line in body:
            partition = ledger_partition(ENV, line["organizationId"], line["productId"])
            by_partition[partition] += [
                {"PartitionKey": partition, "RowKey": "L|" + line["id"], "Status": "IVPosted", "IVPostedAt": now},
                {"PartitionKey": partition, "RowKey": "D|" + line["id"], "Stage": "IVPosted", "IVPostedAt": now},
            ]
            rows[partition].add(cache_row_key(dimension_key(line["dimensions"])))
    for partition, keys in rows.items():
        by_partition[partition] += [
            {"PartitionKey": partition, "RowKey": key, "Quantities": '{"pos": {"sold": "-1"}}', "UpdatedAt": now}
            for key in keys
        ]
    return [e for group in by_partition.values() for e in group]


def raw_same_shape(requests: list[list[dict]], threads: int, *, ours: bool = False) -> float:
    """What sync writes, as plain batched upserts per partition into empty tables of their own, as many
    as the ledger's shards and each partition in the shard the ledger would put it in."""
    from shared.adapters.ledger_keys import LEDGER_SHARDS, ledger_shard
    from shared.adapters.storage_clients import table_service

    run = uuid.uuid4().hex[:10]
    tables = [table_service().create_table(f"raw{run}s{shard}") for shard in range(LEDGER_SHARDS)]
    return batched_upserts(
        lambda partition: tables[ledger_shard(partition)], sync_entities(requests), threads, merge=True, ours=ours
    )


def raw_over_ingest(requests: list[list[dict]], clients: int, threads: int) -> float:
    """The same upserts, into the ledger as ingest leaves it (the requests posted first, untimed): the
    state sync starts from. Azurite's cost of a write grows with the table it goes into (an update
    re-indexes the entity), so this baseline writes where sync writes and differs from it only by
    what sync does besides writing (its reads, ETag guards and queue work)."""
    from shared.adapters.ledger_tables import LedgerStore

    post_all(requests, clients)
    return batched_upserts(LedgerStore().ledger_of, sync_entities(requests), threads, merge=True)


def write_history(requests: list[list[dict]], history: int, aggregated_share: float) -> None:
    """Finished lines (`Aggregated`, no open entry) in the same partitions, written directly (untimed):
    their records, and the aggregated lines they went into (posted in the ERP, offsets done),
    `aggregated_share` per line, where the product keeps finished records: table `finishedlines`."""
    from shared.adapters.ledger_keys import ledger_partition
    from shared.adapters.ledger_tables import LedgerStore

    store = LedgerStore()
    products = sorted({line["productId"] for body in requests for line in body})
    old = datetime.now(UTC) - timedelta(days=30)
    lines = [
        {
            "PartitionKey": ledger_partition(ENV, "usmf", products[n % len(products)]),
            "RowKey": f"L|hist-{n}",
            "LineId": f"hist-{n}",
            "Status": "Aggregated",
            "DataSource": "pos",
            "Measure": "sold",
            "Quantity": "-1",
            "Dimensions": '{"locationId": "W0001"}',
            "Payload": "{}",
            "CreatedAt": old,
            "IVPostedAt": old,
            "AggregatedAt": old,
        }
        for n in range(history)
    ]
    batched_upserts(store.finished, lines, threads=8)
    count = round(history * aggregated_share)

    def members(n: int) -> int:
        """The history lines aggregated line `n` took: all of them shared out over the aggregated lines."""
        return (n + 1) * history // count - n * history // count

    aggregated = [
        {
            "PartitionKey": ledger_partition(ENV, "usmf", products[n % len(products)]),
            "RowKey": f"A|hist-{n}",
            "AggregatedId": f"hist-{n}",
            "OrganizationId": "usmf",
            "ProductId": products[n % len(products)],
            "ErpKey": '{"dimensions": {"locationId": "W0001"}}',
            "Quantity": str(-members(n)),
            "Status": "FnOPosted",
            "JournalType": "adjustment",
            "TargetStatus": "Posted",
            "LineCount": members(n),
            "CreatedAt": old,
            "Attempts": 1,
            "Offset": "done",
            "OnHand": "done",
        }
        for n in range(count)
    ]
    batched_upserts(store.finished, aggregated, threads=8)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--catalogue", type=int, default=5_000)
    parser.add_argument("--request-lines", type=int, default=50)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--history", type=int, default=200_000)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument(
        "--only-baselines", action="store_true", help="measure the raw baselines only (no sync, lag or history)"
    )
    parser.add_argument(
        "--with-aggregation",
        action="store_true",
        help="time sync with the aggregate consumers running alongside (as deployed) instead of alone",
    )
    args = parser.parse_args()
    worker_counts = [int(w) for w in args.workers.split(",")]
    os.environ["ALLOWED_DATA_SOURCES"] = "pos"
    os.environ["ALLOWED_PHYSICAL_MEASURES"] = "sold"
    os.environ["JOURNAL_MAPPING"] = MAPPING
    os.environ["SEND_DELAY_SECONDS"] = "600"
    figures: dict[str, object] = {
        "lines": args.lines,
        "catalogue": args.catalogue,
        "clients": args.clients,
        "sync_timed": "with aggregation" if args.with_aggregation else "alone",
    }
    with bench_storage():
        import logging

        logging.basicConfig(level=logging.WARNING)
        requests = make_requests(args.lines, args.catalogue, args.request_lines, seed=1, tag="a")
        figures["products"] = len({line["productId"] for body in requests for line in body})
        runs = {}
        for workers in [] if args.only_baselines else worker_counts:
            fresh_storage(f"w{workers}")
            runs[workers] = sync_run(
                requests,
                args.clients,
                workers,
                args.timeout,
                with_aggregation=args.with_aggregation,
                drain=workers == worker_counts[-1],
            )
            print(
                f"{workers} worker(s): ingest {runs[workers]['ingest_s']:.1f}s, sync {runs[workers]['sync_s']:.1f}s",
                flush=True,
            )
        best = max(runs, key=lambda w: runs[w]["lines"] / runs[w]["sync_s"]) if runs else max(worker_counts)
        share = aggregated_per_line()  # in the last run's tables
        print(f"aggregated lines per detailed line: {share:.3f}", flush=True)
        fresh_storage("raw")
        raw_s = raw_same_shape(requests, threads=max(worker_counts))
        print(f"raw same-shape upserts on {max(worker_counts)} threads: {raw_s:.1f}s", flush=True)
        fresh_storage("rawo")
        raw_ours_s = raw_same_shape(requests, threads=max(worker_counts), ours=True)
        print(f"the same through omnisync's transaction writer: {raw_ours_s:.1f}s", flush=True)
        fresh_storage("rawi")
        raw_ingested_s = raw_over_ingest(requests, args.clients, threads=max(worker_counts))
        print(f"the same SDK upserts into the ledger as ingest leaves it: {raw_ingested_s:.1f}s", flush=True)
        if args.only_baselines:
            return

        fresh_storage("lag")
        lag_workers = max(worker_counts)
        lag = lag_run(
            make_requests(args.lines, args.catalogue, args.request_lines, seed=2, tag="l"),
            args.clients,
            lag_workers,
            args.timeout,
        )
        print(f"lag with {lag_workers} worker(s) running while stores post: {lag}", flush=True)

        fresh_storage("hist")
        start = time.perf_counter()
        write_history(requests, args.history, share)
        print(
            f"history: {args.history} finished lines and {round(args.history * share)} aggregated lines written"
            f" in {time.perf_counter() - start:.0f}s",
            flush=True,
        )
        historic = sync_run(
            make_requests(args.lines, args.catalogue, args.request_lines, seed=1, tag="h"),
            args.clients,
            max(worker_counts),
            args.timeout,
            with_aggregation=args.with_aggregation,
        )
        print(f"after history, {max(worker_counts)} worker(s): sync {historic['sync_s']:.1f}s", flush=True)

    top = max(worker_counts)
    figures.update(
        {
            "workers": best,
            "lag_workers": lag_workers,
            "ingest_lines_per_s": round(args.lines / runs[top]["ingest_s"]),
            "sync_lines_per_s": round(args.lines / runs[top]["sync_s"]),
            "sync_lines_per_s_by_workers": {w: round(args.lines / r["sync_s"]) for w, r in runs.items()},
            "raw_lines_per_s": round(args.lines / raw_s),
            "sync_ratio": round(raw_s / runs[top]["sync_s"], 3),
            "raw_same_client_lines_per_s": round(args.lines / raw_ours_s),
            "sync_ratio_same_client": round(raw_ours_s / runs[top]["sync_s"], 3),
            "raw_over_ingest_lines_per_s": round(args.lines / raw_ingested_s),
            "sync_ratio_over_ingest": round(raw_ingested_s / runs[top]["sync_s"], 3),
            "last_line_lag_s": round(lag["last_line_lag_s"], 1),
            "p95_line_lag_s": round(lag["p95_line_lag_s"], 1),
            "history_lines": args.history,
            "history_aggregated_lines": round(args.history * share),
            "history_ratio": round(runs[top]["sync_s"] / historic["sync_s"], 3),
        }
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
