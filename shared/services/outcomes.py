"""What became of each item of a bulk request (adjustment lines, on-hand events, ERP transactions)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

Outcome = Literal["created", "duplicate", "conflict"]
T = TypeVar("T")


@dataclass(frozen=True)
class LineOutcome:
    index: int
    id: str
    outcome: Outcome
    status: str | None
    message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {"index": self.index, "id": self.id, "outcome": self.outcome, "status": self.status}
        if self.message:
            out["message"] = self.message
        return out


def split_repeats(
    items: Sequence[T], item_id: Callable[[T], str], fingerprint: Callable[[T], str]
) -> tuple[dict[int, LineOutcome], list[tuple[int, T, str]]]:
    """Set apart items whose id came earlier in the same request: `duplicate` if the content is the
    same, `conflict` if not. Returns their outcomes and the first occurrences, with fingerprints."""
    outcomes: dict[int, LineOutcome] = {}
    first: dict[str, str] = {}
    fresh: list[tuple[int, T, str]] = []
    for index, item in enumerate(items):
        key, print_ = item_id(item), fingerprint(item)
        if key in first:
            same = first[key] == print_
            outcomes[index] = LineOutcome(
                index,
                key,
                "duplicate" if same else "conflict",
                None,
                None if same else "the same id appears earlier in this request with other content",
            )
            continue
        first[key] = print_
        fresh.append((index, item, print_))
    return outcomes, fresh
