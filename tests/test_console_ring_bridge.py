"""The console's bounded buffers: the alert ring, the event bridge, the log tail."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from arconsole.console.alert_ring import AlertRing
from arconsole.console.bridge import EventBridge
from arconsole.console.file_tail import FileTail
from arconsole.console.filters import ALERT_FIELDS, ALERT_FREE_TEXT, compile_filter
from arconsole.engine.bus import EventBus
from arconsole.engine.events import AlertHandled, BlockChanged, Event, Notice


def alert(n: int, *, level: int = 5, srcip: str = "203.0.113.1") -> AlertHandled:
    return AlertHandled(at=float(n), line=n, alert_id=f"1.{n}", rule_id="5710", level=level,
                        description=f"alert {n}", agent_id="000", agent_name="m",
                        srcip=srcip, dstuser=None, fired=(), raw="{}")


def block(key: str, change: str, **fields: Any) -> BlockChanged:
    return BlockChanged(at=0.0, change=change, block={"key": key, **fields})


# ---------------------------------------------------------------------- ring


def test_ring_is_newest_first_and_bounded() -> None:
    ring = AlertRing(capacity=100)
    for start in range(0, 1000, 50):
        ring.add_events([alert(n) for n in range(start, start + 50)])
    assert len(ring) == 100
    assert ring.at(0) is not None and ring.at(0).alert_id == "1.999"  # type: ignore[union-attr]
    assert ring.at(99).alert_id == "1.900"  # type: ignore[union-attr]
    assert ring.at(100) is None
    assert len(ring._rows) <= 125  # trimmed in chunks, never unbounded


def test_ring_pause_holds_counts_and_resumes() -> None:
    ring = AlertRing(capacity=10)
    ring.add_events([alert(n) for n in range(3)])
    ring.pause()
    assert ring.add_events([alert(n) for n in range(3, 8)]) == 0
    assert len(ring) == 3 and ring.new_while_paused == 5
    assert ring.at(0).alert_id == "1.2"  # type: ignore[union-attr]  # frozen view
    assert ring.resume() == 5
    assert ring.new_while_paused == 0 and ring.at(0).alert_id == "1.7"  # type: ignore[union-attr]


def test_ring_counts_alerts_pushed_out_while_paused() -> None:
    ring = AlertRing(capacity=10)
    ring.pause()
    ring.add_events([alert(n) for n in range(25)])
    assert ring.new_while_paused == 25
    assert ring.not_shown == 15
    ring.resume()
    assert [ring.at(i).alert_id for i in (0, 9)] == ["1.24", "1.15"]  # type: ignore[union-attr]


def test_ring_filter_keeps_order_and_indexes() -> None:
    ring = AlertRing(capacity=50)
    ring.add_events([alert(n, level=10 if n % 3 == 0 else 5) for n in range(30)])
    ring.set_filter(compile_filter("level>=10", ALERT_FIELDS, ALERT_FREE_TEXT))
    assert len(ring) == 10
    assert ring.at(0).alert_id == "1.27"  # type: ignore[union-attr]
    assert ring.index_of(ring.at(4).seq) == 4  # type: ignore[union-attr]
    assert ring.add_events([alert(30, level=5), alert(33, level=12)]) == 1
    assert ring.at(0).alert_id == "1.33"  # type: ignore[union-attr]
    ring.set_filter(None)
    assert len(ring) == 32


# ---------------------------------------------------------------------- bridge


def test_bridge_coalesces_blocks_and_bounds_alerts() -> None:
    bridge = EventBridge(alert_capacity=100, event_capacity=10)
    bridge.absorb([alert(n) for n in range(250)])
    bridge.absorb([block("k1", "added"), block("k2", "added"), block("k1", "reversing"),
                   block("k1", "reversed")])
    bridge.absorb([Notice(at=0.0, level="info", message=f"n{n}") for n in range(20)])
    assert bridge.pending_alerts == 250
    batch = bridge.take()
    assert batch.alerts_seen == 250
    assert len(batch.alerts) == 100 and batch.alerts[-1].alert_id == "1.249"
    assert batch.alerts_not_shown == 150
    assert {k: e.change for k, e in batch.blocks.items()} == {"k1": "reversed", "k2": "added"}
    assert len(batch.events) == 10 and batch.events_not_shown == 14
    assert bridge.alerts_total == 250 and bridge.alerts_not_shown_total == 150
    assert bridge.take().empty


class _QueueLink:
    """The part of EngineLink the bridge uses, fed by a real EventBus subscription."""

    def __init__(self, bus: EventBus) -> None:
        self.subscription = bus.subscribe(1_000_000)
        self.done = False

    async def events(self) -> AsyncIterator[list[Event]]:
        while not self.done or self.subscription._events:
            try:
                yield await asyncio.wait_for(self.subscription.next_batch(), 0.2)
            except TimeoutError:
                continue


async def test_bridge_pump_never_waits_for_the_screen() -> None:
    """The engine publishes 20,000 alerts while nobody draws: the pump keeps draining."""
    bus = EventBus()
    link = _QueueLink(bus)
    bridge = EventBridge(alert_capacity=500)
    wakes = 0

    def wake() -> None:
        nonlocal wakes
        wakes += 1

    pump = asyncio.create_task(bridge.pump(link, wake))  # type: ignore[arg-type]
    for n in range(20_000):
        bus.publish(alert(n))
        if n % 1000 == 0:
            await asyncio.sleep(0)
    link.done = True
    await asyncio.wait_for(pump, 5)
    assert bridge.ended and wakes > 0
    batch = bridge.take()
    assert batch.alerts_seen == 20_000 and len(batch.alerts) == 500
    assert batch.alerts[-1].alert_id == "1.19999"


# ---------------------------------------------------------------------- log tail


def test_file_tail_follows_rotation_and_truncation(tmp_path: Path) -> None:
    path = tmp_path / "active-responses.log"
    tail = FileTail(path)
    assert tail.poll() == []  # not there yet
    path.write_text("one\ntw")
    assert tail.poll() == ["one"]
    with open(path, "a") as handle:
        handle.write("o\nthree\n")
    assert tail.poll() == ["two", "three"]
    os.rename(path, tmp_path / "active-responses.log.1")  # rotation by move
    path.write_text("fresh\n")
    assert tail.poll() == ["fresh"]
    path.write_text("")  # truncation
    with open(path, "a") as handle:
        handle.write("after\n")
    assert tail.poll() == ["after"]


def test_file_tail_holds_no_endless_line(tmp_path: Path) -> None:
    """A file growing without a newline is not held in memory past MAX_PARTIAL: that line is
    not shown (up to its newline, whenever it comes), the bytes are counted as skipped, and
    the lines after it are shown."""
    from arconsole.console.file_tail import MAX_PARTIAL

    path = tmp_path / "active-responses.log"
    path.write_text("before\n")
    tail = FileTail(path)
    assert tail.poll() == ["before"]
    for _ in range(5):
        with open(path, "a") as handle:
            handle.write("x" * (MAX_PARTIAL // 2 + 1))
        assert tail.poll() == []
    assert len(tail._partial) <= MAX_PARTIAL and tail.skipped > MAX_PARTIAL
    with open(path, "a") as handle:
        handle.write("end of the long one\nafter\n")
    assert tail.poll() == ["after"]
    with open(path, "a") as handle:
        handle.write("y" * (MAX_PARTIAL + 1))
    assert tail.poll() == []
    os.rename(path, tmp_path / "active-responses.log.1")  # rotated while a line was dropped
    path.write_text("first of the new file\n")
    assert tail.poll() == ["first of the new file"]


def test_file_tail_starts_near_the_end_of_a_big_file(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_text("".join(f"line {n}\n" for n in range(10_000)))
    lines = FileTail(path, initial_tail=200).poll()
    assert lines[-1] == "line 9999"
    assert len(lines) < 30 and all(line.startswith("line ") for line in lines)


def test_file_tail_says_why_it_cannot_read_and_when_it_can_again(tmp_path: Path) -> None:
    path = tmp_path / "active-responses.log"
    tail = FileTail(path)
    assert tail.poll() == [] and tail.problem is None  # missing: waited for, no complaint
    path.mkdir()
    assert tail.poll() == []
    assert tail.problem == f"cannot read {path}: not a regular file"
    path.rmdir()
    os.mkfifo(path)  # never opened: a FIFO without a writer would block the console
    assert tail.poll() == [] and tail.problem == f"cannot read {path}: not a regular file"
    path.unlink()
    path.write_text("back\n")
    assert tail.poll() == ["back"] and tail.problem is None
