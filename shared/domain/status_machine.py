"""The aggregated line's status machine: statuses only move forward (DESIGN invariant 8).

An ERP answer (a connector's outcome, or a result file from the outbox importer) is judged against the
line's current status and the journal the line was last sent in. A late, repeated or stale answer is
recorded on the line but never moves it back, and a line the ERP has created or posted is never resent.
Pure rules, no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

RANK = {"Created": 0, "SCMSent": 1, "FnOCreateError": 2, "FnOCreated": 3, "FnOPostError": 4, "FnOPosted": 5}
"""How far a line has come. An answer may keep a line where it is (a repeat) or move it up, never down."""

ERP_HAS_LINE = ("FnOCreated", "FnOPostError", "FnOPosted")
"""Statuses that mean the ERP holds the line in a journal: sending it again would book it twice."""

RESENDABLE = ("FnOCreateError",)
"""The only status a person may resend: the ERP said it did not create the line."""

MAX_LATE_ANSWERS = 20


@dataclass(frozen=True)
class Verdict:
    apply: bool
    reason: str = ""


def judge_answer(
    current_status: str, current_journal_id: str | None, answer_journal_id: str, new_status: str
) -> Verdict:
    """May an ERP answer for `answer_journal_id` move a line from `current_status` to `new_status`?"""
    if current_status not in RANK:
        return Verdict(False, f"the line is {current_status} and is not sent to the ERP")
    if current_journal_id != answer_journal_id:
        last = current_journal_id or "no journal yet"
        return Verdict(False, f"answer for journal {answer_journal_id}, an older send: the line is now in {last}")
    if current_status == "Created":
        # A person asked for a resend and it has not gone out yet: only news that the ERP has the line
        # (which stops the resend) is applied; an old error is what the person already saw.
        if new_status in ERP_HAS_LINE:
            return Verdict(True)
        return Verdict(False, f"{new_status} for a line waiting to be resent")
    if RANK[new_status] < RANK[current_status]:
        return Verdict(False, f"would move the line back from {current_status} to {new_status}")
    return Verdict(True)


def may_resend(status: str) -> Verdict:
    """Whether a person's retry may send the line again in a new journal."""
    if status in RESENDABLE:
        return Verdict(True)
    if status in ERP_HAS_LINE:
        return Verdict(
            False,
            f"the ERP has this line ({status}); sending it again would book it twice"
            + ("; post its journal in the ERP" if status == "FnOPostError" else ""),
        )
    return Verdict(False, f"only lines the ERP did not create (FnOCreateError) can be resent; this one is {status}")


def record_late_answer(late_answers_json: str | None, answer: dict[str, Any]) -> str:
    """The line's `LateAnswers` with one more answer that was recorded but not applied (the latest kept)."""
    try:
        answers = json.loads(late_answers_json) if late_answers_json else []
    except ValueError:
        answers = []
    if not isinstance(answers, list):
        answers = []
    answers.append(answer)
    return json.dumps(answers[-MAX_LATE_ANSWERS:], sort_keys=True)
