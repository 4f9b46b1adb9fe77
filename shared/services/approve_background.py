"""Approve a whole proposal in the background: queued, moved a part at a time, resumed where it stopped.

One HTTP approval moves at most ``INGEST_MAX_LINES`` lines (10,000), and a bad day proposes 303,000
in 303 journals: approving them a journal at a time is 31 calls at the least, by hand, in the console.
A legitimate big proposal exists too (a full count of a thousand stores after a system change).

``queue_approval`` records the job (``approvals/{env}/{runId}/{approvalId}.json``) and puts one message
on the ``approve`` queue. Its id is a digest of the run and the request, so asking twice is one job.
``approval_step`` (the queue worker) then:

1. on its first step checks every selected line as the synchronous approval would and moves nothing
   if any is refused (the job fails with the problems, as ``400 InvalidLines`` would);
2. moves the selected journals in parts of at most ``INGEST_MAX_LINES`` lines through the very same
   ``move_selected`` as a synchronous approval, recording the journals done after each part;
3. stops after its time budget and queues the next step, so no step nears the function timeout.

A step that dies half way is delivered again and goes on from the last recorded part. The part in
flight is moved a second time, which moves nothing new: ingest refuses a line id it has (``duplicate``),
the external outbox leaves out lines it wrote, and a counting journal's id is its lines' digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from shared.adapters.proposed_journal_file import UnreadableJournal
from shared.services.approve import (
    ApprovalRefused,
    ApprovalRequest,
    ApprovalResult,
    Destination,
    check_selected,
    move_selected,
    result_for,
)

APPROVE_WORK = "approve"
"""The work queue of background approval steps (``{WORK_QUEUE_PREFIX}-approve``)."""
MAX_PROBLEMS = 50
"""Problems a failed job lists (the first ones, by journal)."""
FINISHED = ("done", "failed")
STALE_AFTER = timedelta(minutes=15)
"""A queued or running job not updated for this long (the 10-minute function timeout and a margin) lost its
message: asking again queues it anew, on from where it stopped."""


class ApprovalJobs(Protocol):
    """Where jobs are kept (``shared.adapters.approval_jobs.BlobApprovalJobs``)."""

    def create(self, environment_id: str, run_id: str, approval_id: str, doc: dict[str, Any]) -> bool: ...

    def save(self, environment_id: str, run_id: str, approval_id: str, doc: dict[str, Any]) -> None: ...

    def load(self, environment_id: str, run_id: str, approval_id: str) -> dict[str, Any] | None: ...

    def load_versioned(
        self, environment_id: str, run_id: str, approval_id: str
    ) -> tuple[dict[str, Any] | None, str]: ...

    def replace(self, environment_id: str, run_id: str, approval_id: str, doc: dict[str, Any], etag: str) -> bool: ...

    def delete(self, environment_id: str, run_id: str, approval_id: str) -> None: ...


class Queue(Protocol):
    def put(self, work: str, bodies: Iterable[dict[str, Any]], delay_s: int = 0) -> int: ...


class Journals(Protocol):
    """The run's proposal read journal by journal (``ProposedJournalFile``, or ``IndexedJournal`` by byte
    range); each call of ``journals`` walks from the first journal again."""

    def header(self) -> dict[str, Any]: ...

    def journals(self) -> Iterator[dict[str, Any]]: ...


def approval_id_of(environment_id: str, run_id: str, request: ApprovalRequest) -> str:
    """The same run and request give the same id: one job, however often it is asked for."""
    journals = "*" if request.journal_ids is None else ",".join(sorted(set(request.journal_ids)))
    parts = [
        environment_id,
        run_id,
        request.organization_id,
        request.data_source,
        request.physical_measure,
        request.journal_name_id or "",
        journals,
        str(request.max_lines),  # the parts: a counting journal's id is its part's digest
    ]
    return "bg-" + hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def _request_doc(request: ApprovalRequest) -> dict[str, Any]:
    return {
        "organizationId": request.organization_id,
        "dataSource": request.data_source,
        "physicalMeasure": request.physical_measure,
        "journalNameId": request.journal_name_id,
        "journalIds": None if request.journal_ids is None else sorted(set(request.journal_ids)),
        "maxLinesPerPart": request.max_lines,
    }


def _request_of(doc: dict[str, Any]) -> ApprovalRequest:
    wanted = doc["request"]
    return ApprovalRequest(
        organization_id=wanted["organizationId"],
        data_source=wanted["dataSource"],
        physical_measure=wanted["physicalMeasure"],
        journal_name_id=wanted.get("journalNameId"),
        journal_ids=None if wanted.get("journalIds") is None else tuple(wanted["journalIds"]),
        max_lines=int(wanted["maxLinesPerPart"]),
    )


def _now() -> str:
    return datetime.now(UTC).isoformat()


def queue_approval(
    jobs: ApprovalJobs, queue: Queue, environment_id: str, run_id: str, request: ApprovalRequest
) -> tuple[dict[str, Any], bool]:
    """The job of this approval and whether this call queued it (False: it was already there).

    A failed job is queued again (its lines may have been fixed by a configuration change)."""
    approval_id = approval_id_of(environment_id, run_id, request)
    now = _now()
    doc: dict[str, Any] = {
        "approvalId": approval_id,
        "environmentId": environment_id,
        "runId": run_id,
        "state": "queued",
        "request": _request_doc(request),
        "createdOn": now,
        "updatedOn": now,
        "journalsTotal": None,
        "linesTotal": None,
        "journalsDone": [],
        "linesDone": 0,
        "posted": 0,
        "duplicates": 0,
        "conflicts": 0,
        "files": [],
        "target": None,
        "mode": None,
        "problems": [],
        "message": None,
    }
    message = {"environmentId": environment_id, "runId": run_id, "approvalId": approval_id}
    if jobs.create(environment_id, run_id, approval_id, doc):
        try:
            queue.put(APPROVE_WORK, [message])
        except BaseException:
            jobs.delete(environment_id, run_id, approval_id)  # not queued: asking again starts afresh
            raise
        return doc, True
    existing, etag = jobs.load_versioned(environment_id, run_id, approval_id)
    if existing is None:
        return doc, False
    state = existing.get("state")
    stale = state in ("queued", "running") and _older_than(existing.get("updatedOn"), STALE_AFTER)
    if state != "failed" and not stale:
        return existing, False
    # failed: from the start (what moved is left as it is); stale: on from where it stopped
    again = doc if state == "failed" else {**existing, "updatedOn": now}
    if not jobs.replace(environment_id, run_id, approval_id, again, etag):  # another caller re-queued it
        return jobs.load(environment_id, run_id, approval_id) or existing, False
    queue.put(APPROVE_WORK, [message])
    return again, True


def _older_than(stamp: object, age: timedelta) -> bool:
    try:
        return datetime.now(UTC) - datetime.fromisoformat(str(stamp)) > age
    except (TypeError, ValueError):
        return True


def approval_step(
    jobs: ApprovalJobs,
    queue: Queue,
    to: Destination,
    open_journal: Callable[[Sequence[str] | None], AbstractContextManager[Journals | None]],
    message: dict[str, Any],
    *,
    budget_s: float,
    clock: Callable[[], float],
) -> dict[str, Any] | None:
    """One step of a queued approval (see the module's docstring); the job as it stands after it."""
    env, run_id, approval_id = (str(message.get(k) or "") for k in ("environmentId", "runId", "approvalId"))
    if env != to.environment_id:
        raise ValueError(f"a step of {env} moved into {to.environment_id}")
    doc = jobs.load(env, run_id, approval_id)
    if doc is None or doc.get("state") in FINISHED:
        return doc
    job = _Job(jobs, queue, message, doc)
    started = clock()
    try:
        with open_journal(_request_of(doc).journal_ids) as reader:  # named journals: only their byte ranges
            if reader is None:
                return job.save(state="failed", message="the run has no proposed journal")
            return _step(job, to, reader, lambda: clock() - started >= budget_s)
    except ApprovalRefused as refused:  # the environment's configuration changed since the check
        problems = [{"journalId": "", **p.model_dump()} for p in refused.problems][:MAX_PROBLEMS]
        text = f"proposed lines were refused after {doc['linesDone']:,} had been moved; fix them and ask again"
        return job.save(state="failed", problems=problems, message=text)
    except UnreadableJournal as exc:
        return job.save(state="failed", message=f"the proposed journal cannot be read: {exc}")


@dataclass
class _Job:
    """A job while a step works on it: its document, saved after every change, and its message."""

    jobs: ApprovalJobs
    queue: Queue
    message: dict[str, Any]
    doc: dict[str, Any]

    def save(self, **changes: Any) -> dict[str, Any]:
        self.doc.update(changes, updatedOn=_now())
        ids = (self.message["environmentId"], self.message["runId"], self.message["approvalId"])
        self.jobs.save(*ids, self.doc)
        return self.doc

    def later(self) -> dict[str, Any]:
        """The rest in the next step (a new delivery, a fresh function timeout)."""
        self.queue.put(APPROVE_WORK, [self.message])
        return self.doc


def _step(job: _Job, to: Destination, reader: Journals, spent: Callable[[], bool]) -> dict[str, Any]:
    doc, save, request = job.doc, job.save, _request_of(job.doc)
    result = result_for(reader.header())
    if doc.get("journalsTotal") is None:  # first step: check everything, move nothing
        problems, journal_count, line_count, unknown = _check_all(to, reader.journals(), request, result)
        if unknown:
            return save(state="failed", message=f"unknown journal id(s): {unknown}")
        if problems:
            message_text = "proposed lines cannot become adjustment lines; nothing was moved"
            return save(state="failed", problems=problems[:MAX_PROBLEMS], message=message_text)
        save(
            state="running",
            journalsTotal=journal_count,
            linesTotal=line_count,
            target=result.target,
            mode=result.mode,
        )
        if spent():  # the check of a big proposal took the step's time: the moving is the next step's
            return job.later()
    done = set(doc["journalsDone"])
    for journal_ids, lines in _parts(reader.journals(), request.journal_ids, done, request.max_lines):
        moved = move_selected(to, ApprovalResult(result.run_id, result.target, result.mode), lines, request)
        journal = moved.journal
        if journal is not None and journal.state.endswith("error"):  # not moved: retried, never marked done
            raise PartNotMoved(f"the ERP answered {journal.state} for counting journal {journal.journal_id}")
        save(
            state="running",
            journalsDone=[*doc["journalsDone"], *journal_ids],
            linesDone=doc["linesDone"] + len(lines),
            posted=doc["posted"] + moved.posted,
            duplicates=doc["duplicates"] + _repeats(moved),
            conflicts=doc.get("conflicts", 0) + sum(1 for o in moved.lines if o.outcome == "conflict"),
            files=[*doc["files"], *moved.files][-100:],
        )
        if spent():  # the rest in the next step, well inside the function timeout
            return job.later()
    conflicts = doc.get("conflicts", 0)
    note = (
        f"{conflicts:,} line(s) were not moved: their ids were stored earlier with other values (another "
        "organization, data source or measure)"
        if conflicts
        else None
    )
    return save(state="done", message=note)


class PartNotMoved(RuntimeError):
    """The ERP refused a part (its answer says so, not an exception): the step fails and is retried."""


def give_up(jobs: ApprovalJobs, message: dict[str, Any], error: BaseException) -> None:
    """The host's last delivery of a step failed: say so in the job rather than leave it "running".

    Only the error's kind is recorded (its text may carry an ERP address or a storage detail); the log has
    the rest. Asking for the approval again queues it anew and moves only what is not moved yet."""
    env, run_id, approval_id = (str(message.get(k) or "") for k in ("environmentId", "runId", "approvalId"))
    doc = jobs.load(env, run_id, approval_id)
    if doc is None or doc.get("state") in FINISHED:
        return
    why = str(error) if isinstance(error, PartNotMoved) else type(error).__name__
    doc.update(
        state="failed",
        updatedOn=_now(),
        message=f"the worker failed on every delivery ({why}; see the logs); ask again to resume",
    )
    jobs.save(env, run_id, approval_id, doc)


def _repeats(moved: ApprovalResult) -> int:
    """Lines an earlier approval had moved already (left as they were)."""
    return sum(1 for o in moved.lines if o.outcome == "duplicate") + len(moved.already_written)


def _selected(journal: dict[str, Any], journal_ids: tuple[str, ...] | None) -> bool:
    return journal_ids is None or str(journal.get("journal_id") or "") in journal_ids


def _check_all(
    to: Destination, journals: Iterator[dict[str, Any]], request: ApprovalRequest, result: ApprovalResult
) -> tuple[list[dict[str, Any]], int, int, list[str]]:
    """Problems of every selected line (by journal), selected journals and lines, unknown journal ids."""
    problems: list[dict[str, Any]] = []
    count, lines = 0, 0
    seen: set[str] = set()
    for journal in journals:
        journal_id = str(journal.get("journal_id") or "")
        seen.add(journal_id)
        if not _selected(journal, request.journal_ids):
            continue
        selected = list(journal.get("lines") or [])
        count, lines = count + 1, lines + len(selected)
        if len(problems) >= MAX_PROBLEMS:
            continue
        try:
            check_selected(to, result, selected, request)
        except ApprovalRefused as refused:
            problems += [{"journalId": journal_id, **p.model_dump()} for p in refused.problems]
    unknown = sorted(set(request.journal_ids or ()) - seen)
    return problems, count, lines, unknown


def _parts(
    journals: Iterator[dict[str, Any]], journal_ids: tuple[str, ...] | None, done: set[str], max_lines: int
) -> Iterator[tuple[list[str], list[dict[str, Any]]]]:
    """Consecutive selected journals not done yet, grouped up to ``max_lines`` lines (a journal whole)."""
    ids: list[str] = []
    lines: list[dict[str, Any]] = []
    for journal in journals:
        journal_id = str(journal.get("journal_id") or "")
        if not _selected(journal, journal_ids) or journal_id in done:
            continue
        its = list(journal.get("lines") or [])
        if lines and len(lines) + len(its) > max_lines:
            yield ids, lines
            ids, lines = [], []
        ids.append(journal_id)
        lines += its
    if ids:
        yield ids, lines
