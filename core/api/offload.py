"""Blocking work off the event loop, in asyncio's default thread pool, with the caller's
context (request id, trace, the events waiting for the answer) copied along, as Starlette's
`run_in_threadpool` does, without importing Starlette and anyio: the doors' hot path and a
cold instance's first request stay framework-free."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from typing import Any, TypeVar

Result = TypeVar("Result")


async def in_thread(function: Callable[..., Result], *args: Any) -> Result:
    """`function(*args)` in a worker thread; the coroutine resumes with its result."""
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    return await loop.run_in_executor(None, functools.partial(context.run, function, *args))
