"""Admission slots: a wait that ends early (client gone, request timed out) takes nothing with it."""

from __future__ import annotations

import asyncio

import pytest

from voxdeploy.runtime.admission import Admission, QueueFull


def test_a_cancelled_wait_leaves_nothing_running_or_waiting() -> None:
    """Reproduced before: each cancelled wait left `running` one higher, forever (the in-flight gauge reads it)."""

    async def scenario() -> tuple[int, int]:
        admission = Admission(limit=1, queue=8)
        held = admission.slot()
        await held.__aenter__()
        waiters = [asyncio.ensure_future(admission.slot().__aenter__()) for _ in range(8)]
        await asyncio.sleep(0)
        assert admission.waiting == 8
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        await held.__aexit__(None, None, None)
        return admission.running, admission.waiting

    assert asyncio.run(scenario()) == (0, 0)


def test_beyond_slots_and_queue_is_refused_at_once() -> None:
    async def scenario() -> None:
        admission = Admission(limit=1, queue=0)
        async with admission.slot():
            with pytest.raises(QueueFull):
                await admission.slot().__aenter__()

    asyncio.run(scenario())
