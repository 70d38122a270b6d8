"""Suite-wide rules, and the fixtures engine tests share.

An exception left in a task or future that nobody retrieved fails the test that left it
(issue 11 item 1): asyncio only logs those ("Task exception was never retrieved") when the
object is collected, which is how thousands of them once went unnoticed.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from arconsole.engine.clock import ManualClock
from arconsole.engine.engine import Engine
from tests.engine_support import EngineStarter, started

_unretrieved: list[str] = []
_original_handler = asyncio.BaseEventLoop.call_exception_handler


def _recording_handler(self: asyncio.BaseEventLoop, context: dict[str, Any]) -> None:
    message = str(context.get("message", ""))
    if "never retrieved" in message:
        _unretrieved.append(f"{message}: {context.get('exception')!r}")
    _original_handler(self, context)


asyncio.BaseEventLoop.call_exception_handler = _recording_handler  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def no_unretrieved_task_exceptions() -> Iterator[None]:
    _unretrieved.clear()
    yield
    # A forgotten task's exception is only reported when the task is collected. The young
    # generations are cheap to collect after every test; a full collection (costly with
    # large heaps: minutes over the suite) runs once at the end, see pytest_sessionfinish.
    gc.collect(1)
    if _unretrieved:
        found = list(_unretrieved)
        _unretrieved.clear()
        pytest.fail("exception(s) never retrieved:\n" + "\n".join(found[:10]), pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """What survived into the old generation is collected once here; anything never
    retrieved fails the run as a whole."""
    gc.collect()
    if _unretrieved:
        print("\nexception(s) never retrieved:\n" + "\n".join(_unretrieved[:10]))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# ---------------------------------------------------------------------------- engines

@pytest.fixture
async def engine_on() -> AsyncIterator[EngineStarter]:
    """`await engine_on(home, clock=None, **options)` starts an engine on a test home
    (`engine_support.started`); every engine started so is stopped when the test ends, also
    when it fails, so no engine, script slot or state-file lock outlives its test."""

    engines: list[Engine] = []

    async def start(home: Path, clock: ManualClock | None = None, **changes: Any) -> Engine:
        engine = await started(home, clock, **changes)
        engines.append(engine)
        return engine

    yield start
    for engine in engines:
        await engine.stop()  # a no-op for an engine the test stopped itself
