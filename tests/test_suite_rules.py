"""The suite's own rules (tests/conftest.py) really catch what they are for."""

from __future__ import annotations

import asyncio
import gc
import sys


async def test_an_exception_nobody_retrieved_is_caught() -> None:
    rules = sys.modules["conftest"]

    async def fails() -> None:
        raise RuntimeError("lost in a forgotten task")

    task = asyncio.ensure_future(fails())
    while not task.done():
        await asyncio.sleep(0)
    del task
    gc.collect()
    caught = list(rules._unretrieved)
    rules._unretrieved.clear()  # this test's own, on purpose: it must not fail the test
    assert any("lost in a forgotten task" in message for message in caught), caught
