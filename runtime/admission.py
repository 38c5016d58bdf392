"""Bounded concurrency with a bounded queue: beyond both, refuse at once instead of hanging.

A TTS engine that is handed more than it can batch only gets slower for everyone; a request that
waits in an unbounded queue times out anyway. So: `limit` run, `queue` wait, the rest get 429.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class QueueFull(Exception):
    """No slot and no room to wait."""


class Admission:
    """Slots for synthesis; `running` and `waiting` are read by the gauges at scrape time."""

    def __init__(self, limit: int, queue: int) -> None:
        self.limit = limit
        self.queue = queue
        self._slots = asyncio.Semaphore(limit)
        self._running = 0
        self._waiting = 0

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return self._waiting

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a synthesis slot; raises QueueFull when every slot and queue place is taken."""
        if self._slots.locked() and self._waiting >= self.queue:
            raise QueueFull
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        # only now: a wait cancelled (the client left, the request timed out) took no slot and must count none
        self._running += 1
        try:
            yield
        finally:
            self._running -= 1
            self._slots.release()
