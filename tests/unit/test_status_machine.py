"""The aggregated line's status machine: answers only move a line forward, and only for its current send."""

import json

import pytest

from shared.domain.status_machine import MAX_LATE_ANSWERS, judge_answer, may_resend, record_late_answer


@pytest.mark.parametrize(
    ("current", "new"),
    [
        ("FnOPosted", "FnOCreated"),
        ("FnOPosted", "FnOCreateError"),
        ("FnOPosted", "SCMSent"),
        ("FnOCreated", "FnOCreateError"),
        ("FnOPostError", "FnOCreated"),
        ("FnOPostError", "FnOCreateError"),
        ("FnOCreated", "SCMSent"),
    ],
)
def test_an_answer_never_moves_a_line_back(current, new):
    verdict = judge_answer(current, "OS-1", "OS-1", new)
    assert not verdict.apply and "back" in verdict.reason


@pytest.mark.parametrize(
    ("current", "new"),
    [
        ("SCMSent", "FnOCreated"),
        ("SCMSent", "FnOCreateError"),
        ("FnOCreateError", "FnOCreated"),
        ("FnOCreated", "FnOPosted"),
        ("FnOPostError", "FnOPosted"),
        ("FnOPosted", "FnOPosted"),
        ("FnOCreateError", "FnOCreateError"),
        ("SCMSent", "SCMSent"),
    ],
)
def test_forward_and_repeated_answers_apply(current, new):
    assert judge_answer(current, "OS-1", "OS-1", new).apply


def test_an_answer_for_an_older_send_is_not_applied():
    verdict = judge_answer("SCMSent", "OS-2", "OS-1", "FnOPosted")
    assert not verdict.apply and "OS-2" in verdict.reason
    assert not judge_answer("Created", None, "OS-1", "FnOCreated").apply
    assert not judge_answer("DoNotSync", None, "OS-1", "FnOPosted").apply


def test_a_line_waiting_for_its_resend_takes_news_that_the_erp_has_it_but_not_an_old_error():
    assert judge_answer("Created", "OS-1", "OS-1", "FnOCreated").apply
    assert not judge_answer("Created", "OS-1", "OS-1", "FnOCreateError").apply


@pytest.mark.parametrize("status", ["FnOCreated", "FnOPostError", "FnOPosted", "SCMSent", "Created", "DoNotSync"])
def test_only_a_line_the_erp_did_not_create_may_be_resent(status):
    assert may_resend("FnOCreateError").apply
    assert not may_resend(status).apply


def test_late_answers_are_kept_latest_first_and_bounded():
    text = None
    for n in range(MAX_LATE_ANSWERS + 5):
        text = record_late_answer(text, {"journalId": f"OS-{n}"})
    answers = json.loads(text)
    assert len(answers) == MAX_LATE_ANSWERS and answers[-1] == {"journalId": f"OS-{MAX_LATE_ANSWERS + 4}"}
    assert json.loads(record_late_answer("not json", {"a": 1})) == [{"a": 1}]
