"""Calling a user function the way the Python worker does: by binding name, sync or async."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

_singletons: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)


def call(function: Callable[..., Any], arg_name: str, value: Any) -> Any:
    """Run a user function with its trigger argument; coroutines run to completion on a fresh loop."""
    result = function(**{arg_name: value})
    if inspect.isawaitable(result):
        return asyncio.run(_await(result))
    return result


async def _await(awaitable: Any) -> Any:
    return await awaitable


def singleton(name: str) -> threading.Lock:
    """One lock per non-HTTP function: like the host's singleton lock, a timer never overlaps itself."""
    return _singletons[name]
