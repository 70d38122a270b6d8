"""AlertFollower on real files, with a real writer process rotating under it (scenarios H1-H5)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import statistics
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from arconsole.alerts.follower import (
    AlertFollower,
    FollowItem,
    Line,
    Skipped,
    SkipReason,
    first_line_hash,
)
from arconsole.alerts.position import ReadPosition

WRITER = Path(__file__).with_name("follow_writer.py")
COUNT = 1600  # lines the writer appends in the rotation tests
RATE = 1000.0  # lines per second


def numbered(first: int, count: int, pad: int = 0) -> bytes:
    return b"".join(
        b'{"id": %d, "pad": "%s"}\n' % (n, b"p" * pad) for n in range(first, first + count)
    )


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(data)


class Collector:
    """Consumes a follower in a task, noting when each item arrived.

    Clearing `gate` blocks the consumer after its next item, which suspends the follower:
    the way to make it lag behind the file.
    """

    def __init__(self, follower: AlertFollower) -> None:
        self.follower = follower
        self.items: list[FollowItem] = []
        self.times: list[float] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async with contextlib.aclosing(self.follower.lines()) as items:
            async for item in items:
                self.items.append(item)
                self.times.append(time.monotonic())
                await self.gate.wait()

    @property
    def lines(self) -> list[Line]:
        return [item for item in self.items if isinstance(item, Line)]

    @property
    def skipped(self) -> list[Skipped]:
        return [item for item in self.items if isinstance(item, Skipped)]

    def ids(self) -> list[int]:
        return [int(json.loads(line.data)["id"]) for line in self.lines]

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        """Until `count` items have arrived."""
        deadline = time.monotonic() + timeout
        while len(self.items) < count:
            if self.task.done():
                self.task.result()
                pytest.fail(f"follower ended after {len(self.items)} of {count} items")
            if time.monotonic() > deadline:
                pytest.fail(f"{len(self.items)} of {count} items after {timeout} s")
            await asyncio.sleep(0.005)

    async def wait_id(self, ident: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.lines or int(json.loads(self.lines[-1].data)["id"]) < ident:
            if time.monotonic() > deadline:
                pytest.fail(f"id {ident} not seen after {timeout} s: last {self.ids()[-1:]}")
            await asyncio.sleep(0.005)

    async def close(self) -> None:
        self.follower.stop()
        self.gate.set()
        await asyncio.wait_for(self.task, 5.0)


async def take(follower: AlertFollower, count: int) -> list[FollowItem]:
    """The first `count` items, then stop (a consumer leaving early, as at shutdown)."""
    taken: list[FollowItem] = []
    async with contextlib.aclosing(follower.lines()) as items:
        async for item in items:
            taken.append(item)
            if len(taken) == count:
                break
    follower.stop()
    return taken


def ids_of(items: list[FollowItem]) -> list[int]:
    return [int(json.loads(item.data)["id"]) for item in items if isinstance(item, Line)]


# -- the writer process ----------------------------------------------------------------


class Writer:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, path: Path, first: int, count: int, rate: float) -> Writer:
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(WRITER), str(path), str(first), str(count), str(rate),
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert process.stdout is not None
        assert await process.stdout.readline() == b"ready\n"
        return cls(process)

    def reopen(self) -> None:
        os.kill(self.process.pid, signal.SIGHUP)

    async def pause(self) -> None:
        """SIGSTOP, and wait until the process really is stopped (no write in flight)."""
        os.kill(self.process.pid, signal.SIGSTOP)
        for _ in range(1000):
            state = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if state in ("T", "t"):
                return
            await asyncio.sleep(0.001)
        pytest.fail("writer did not stop")

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    async def finish(self) -> None:
        assert await asyncio.wait_for(self.process.wait(), 30.0) == 0


def last_id_in(path: Path) -> int:
    lines = path.read_bytes().splitlines()
    return int(json.loads(lines[-1])["id"]) if lines else -1


def shift_rotated(path: Path) -> Path:
    """logrotate's numbering: .1 becomes .2, the live file becomes .1."""
    first = path.with_name(path.name + ".1")
    if first.exists():
        os.replace(first, path.with_name(path.name + ".2"))
    return first


async def rename_and_create(path: Path, writer: Writer, collector: Collector) -> None:
    rotated = shift_rotated(path)
    os.rename(path, rotated)
    path.touch()
    # The writer goes on in the renamed file until told to reopen: let it write some there.
    await collector.wait_id(last_id_in(rotated) + 10)
    writer.reopen()


async def delete_and_recreate(path: Path, writer: Writer, collector: Collector) -> None:
    deleted_at = collector.ids()[-1]
    os.unlink(path)
    path.touch()
    # Written into the deleted inode, which only the follower can still read: some of that.
    await collector.wait_id(deleted_at + 50)
    writer.reopen()


async def copy_truncate(path: Path, writer: Writer, collector: Collector) -> None:
    # The consumer pauses so that the follower is behind when the file is truncated: the
    # lines it has not read yet exist only in the copy.
    collector.gate.clear()
    await writer.pause()
    shutil.copyfile(path, shift_rotated(path))
    os.truncate(path, 0)
    writer.resume()
    while path.stat().st_size == 0:  # until the writer has written into the emptied file
        await asyncio.sleep(0.001)
    collector.gate.set()


async def truncate(path: Path, writer: Writer, collector: Collector) -> None:
    # No copy: only what the follower has already read survives, so let it catch up first.
    await writer.pause()
    await collector.wait_id(last_id_in(path))
    os.truncate(path, 0)
    writer.resume()


Rotation = Callable[[Path, Writer, Collector], Awaitable[None]]


@pytest.mark.parametrize(
    ("rotate", "use_events"),
    [
        (rename_and_create, True),
        (rename_and_create, False),
        (delete_and_recreate, True),
        (copy_truncate, True),
        (copy_truncate, False),
        (truncate, True),
    ],
)
async def test_rotation_while_writing_loses_and_repeats_nothing(
    tmp_path: Path, rotate: Rotation, use_events: bool
) -> None:
    path = tmp_path / "alerts.json"
    path.touch()
    collector = Collector(
        AlertFollower(path, position=None, poll_interval=0.1, use_events=use_events)
    )
    writer = await Writer.start(path, 0, COUNT, RATE)
    for quarter in (1, 2, 3):
        await collector.wait_id(quarter * COUNT // 4)
        await rotate(path, writer, collector)
    await writer.finish()
    await collector.wait_for(COUNT)
    await collector.follower.looked(2)  # and nothing more comes
    await collector.close()
    assert collector.skipped == []
    assert collector.ids() == list(range(COUNT))


async def test_file_that_does_not_exist_yet_is_read_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "alerts" / "alerts.json"  # not even the folder yet
    follower = AlertFollower(path, position=None, poll_interval=0.1)
    collector = Collector(follower)
    await follower.ready()
    path.parent.mkdir(parents=True)
    writer = await Writer.start(path, 0, 500, RATE)
    await writer.finish()
    await collector.wait_for(500)
    await collector.close()
    assert collector.ids() == list(range(500))


# -- start, partial and long lines ---------------------------------------------------------


async def test_first_start_begins_at_the_end(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    path.write_bytes(numbered(0, 10))
    follower = AlertFollower(path, position=None)
    collector = Collector(follower)
    await follower.ready()
    assert collector.items == []
    append(path, numbered(10, 3))
    await collector.wait_for(3)
    await collector.close()
    assert collector.ids() == [10, 11, 12]


async def test_from_start_reads_everything_with_exact_positions(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    content = numbered(0, 10, pad=7)
    path.write_bytes(content)
    collector = Collector(AlertFollower(path, position=None, from_start=True))
    await collector.wait_for(10)
    await collector.close()
    assert collector.ids() == list(range(10))
    first_hash = hashlib.sha256(content.split(b"\n")[0] + b"\n").hexdigest()
    ends = [i + 1 for i, byte in enumerate(content) if byte == ord("\n")]
    inode = path.stat().st_ino
    assert [line.position for line in collector.lines] == [
        ReadPosition(str(path), inode, end, first_hash) for end in ends
    ]


async def test_position_before_any_line_is_where_reading_starts(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    path.write_bytes(numbered(0, 4))
    follower = AlertFollower(path, position=None)
    collector = Collector(follower)
    await follower.ready()
    start = follower.position
    await collector.close()
    assert start is not None and start.offset == path.stat().st_size
    # Stored at once, it lets a restart pick up what was written while stopped.
    append(path, numbered(4, 2))
    later = Collector(AlertFollower(path, position=start))
    await later.wait_for(2)
    await later.close()
    assert later.ids() == [4, 5]


async def test_partial_last_line_waits_for_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    path.touch()
    follower = AlertFollower(path, position=None, poll_interval=0.05)
    collector = Collector(follower)
    await follower.ready()
    append(path, b'{"id": 7, "rule":')
    await follower.looked(2)  # the half line has been read, and held back
    assert follower.pending_partial and collector.items == []
    append(path, b' {"id": "1"}}\n')
    await collector.wait_for(1)
    await collector.close()
    assert collector.lines[0].data == b'{"id": 7, "rule": {"id": "1"}}'
    assert collector.lines[0].position.offset == path.stat().st_size


async def test_start_at_end_keeps_a_line_that_is_being_written(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    path.write_bytes(numbered(0, 3) + b'{"id": 3, "ha')
    follower = AlertFollower(path, position=None)
    collector = Collector(follower)
    await follower.ready()
    append(path, b'lf": true}\n')
    await collector.wait_for(1)
    await collector.close()
    assert [line.data for line in collector.lines] == [b'{"id": 3, "half": true}']


async def test_long_line_is_skipped_with_a_warning_and_the_next_line_read(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    path.touch()
    follower = AlertFollower(path, position=None)
    collector = Collector(follower)
    await follower.ready()
    long_line = b'{"id": 0, "full_log": "' + b"A" * 70 * 1024 + b'"}\n'
    limit_line = b"B" * 65536 + b"\n"  # exactly the limit: kept
    append(path, long_line + numbered(1, 1) + limit_line + numbered(2, 1))
    await collector.wait_for(4)
    await collector.close()
    skipped, *rest = collector.items
    assert isinstance(skipped, Skipped) and skipped.reason is SkipReason.LONG_LINE
    assert skipped.position.offset == len(long_line)
    assert [item.data for item in rest if isinstance(item, Line)] == [
        numbered(1, 1).rstrip(b"\n"),
        limit_line.rstrip(b"\n"),
        numbered(2, 1).rstrip(b"\n"),
    ]


async def test_long_line_written_in_pieces_is_dropped_with_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    path.touch()
    follower = AlertFollower(path, position=None, poll_interval=0.02)
    collector = Collector(follower)
    await follower.ready()
    for _ in range(8):  # 160 KiB without a newline, seen in several reads
        append(path, b"C" * 20 * 1024)
        await follower.looked()
    append(path, b"\n" + numbered(5, 1))
    await collector.wait_for(2)
    await collector.close()
    skipped, line = collector.items
    assert isinstance(skipped, Skipped) and skipped.reason is SkipReason.LONG_LINE
    assert skipped.position.offset == 160 * 1024 + 1
    assert isinstance(line, Line) and ids_of([line]) == [5]


# -- truncation seen live ----------------------------------------------------------------


async def test_truncation_to_a_smaller_size_reads_the_new_content(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    path.write_bytes(numbered(0, 50))
    collector = Collector(AlertFollower(path, position=None, from_start=True))
    await collector.wait_for(50)
    os.truncate(path, 0)
    append(path, numbered(100, 3))
    await collector.wait_for(53)
    await collector.follower.looked(2)  # and nothing more comes
    await collector.close()
    assert collector.ids() == [*range(50), 100, 101, 102]
    assert collector.skipped == []


async def test_truncated_and_rewritten_past_the_offset_is_noticed_by_its_first_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "alerts.json"
    path.write_bytes(numbered(0, 20))
    collector = Collector(AlertFollower(path, position=None, from_start=True))
    await collector.wait_for(20)
    # Without yielding to the follower: it only ever sees a bigger file with another first line.
    os.truncate(path, 0)
    append(path, numbered(1000, 300))
    await collector.wait_for(320)
    await collector.close()
    assert collector.ids() == [*range(20), *range(1000, 1300)]


@pytest.mark.parametrize("extra", [0, 1], ids=["same size", "one more line"])
async def test_rewritten_to_the_old_offset_before_the_follower_looks(
    tmp_path: Path, extra: int
) -> None:
    """Issue 11 item 9: same-length records refill the file to the old offset (or one line
    past it) before the follower wakes; the lines written after the truncation are read."""
    path = tmp_path / "alerts.json"
    path.write_bytes(numbered(100, 20))
    collector = Collector(AlertFollower(path, position=None, from_start=True))
    await collector.wait_for(20)
    old_size = path.stat().st_size
    # No await in between: the follower's next look finds the refilled file.
    with open(path, "r+b") as handle:
        handle.truncate(0)
        handle.write(numbered(200, 20 + extra))
    assert path.stat().st_size == old_size + extra * len(numbered(200, 1))
    await collector.wait_for(40 + extra)
    await collector.close()
    assert collector.ids() == [*range(100, 120), *range(200, 220 + extra)]


async def test_blank_lines_are_passed_over_silently(tmp_path: Path) -> None:
    """Issue 12 item 8: Wazuh never writes a blank line; one is no alert and no error."""
    path = tmp_path / "alerts.json"
    path.write_bytes(b"\n" + numbered(0, 1) + b"\n  \t\n\r\n" + numbered(1, 1) + b"\n")
    follower = AlertFollower(path, position=None, from_start=True)
    items = await take(follower, 2)
    assert ids_of(items) == [0, 1] and all(isinstance(item, Line) for item in items)
    second = path.read_bytes().index(numbered(1, 1))
    assert items[1].position.offset == second + len(numbered(1, 1))
    # alerts.log's reader keeps them: they end its records.
    kept = await take(AlertFollower(path, position=None, from_start=True, skip_blank=False), 4)
    assert [item.data for item in kept if isinstance(item, Line)] == [
        b"", numbered(0, 1).rstrip(b"\n"), b"", b"  \t"]


async def test_copy_truncate_while_behind_reads_the_rest_from_the_copy(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    path.write_bytes(numbered(0, 20))
    collector = Collector(AlertFollower(path, position=None, from_start=True))
    await collector.wait_for(20)
    append(path, numbered(20, 30))  # not seen before the copy-truncate below
    shutil.copyfile(path, tmp_path / "alerts.json.1")
    os.truncate(path, 0)
    append(path, numbered(50, 400))  # the new content is longer than the old offset
    await collector.wait_for(450)
    await collector.follower.looked(2)  # and nothing more comes
    await collector.close()
    assert collector.ids() == list(range(450))
    assert collector.skipped == []


async def test_truncation_under_unread_data_without_copy_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    path.write_bytes(numbered(0, 4000, pad=60))  # ~300 KiB: several reads of 64 KiB
    follower = AlertFollower(path, position=None, from_start=True, chunk_size=65537)
    collector = Collector(follower)
    collector.gate.clear()  # hold the follower after its first line: it has seen the size
    await collector.wait_for(1)
    os.truncate(path, 0)
    append(path, numbered(9000, 2))
    collector.gate.set()
    await collector.wait_id(9001)
    await collector.close()
    ids = collector.ids()
    truncated = [s for s in collector.skipped if s.reason is SkipReason.TRUNCATED]
    assert len(truncated) == 1 and truncated[0].position.offset == 0
    assert ids[-2:] == [9000, 9001]
    assert ids[:-2] == list(range(len(ids) - 2))  # what was read before, in order, once


# -- restart (H4) ------------------------------------------------------------------------


async def test_restart_continues_exactly_after_the_stored_position(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    path.write_bytes(numbered(0, 1000))
    first = await take(AlertFollower(path, position=None, from_start=True), 500)
    assert ids_of(first) == list(range(500))
    collector = Collector(AlertFollower(path, position=first[-1].position))
    await collector.wait_for(500)
    append(path, numbered(1000, 10))
    await collector.wait_for(510)
    await collector.follower.looked(2)  # and nothing more comes
    await collector.close()
    assert collector.ids() == list(range(500, 1010))


async def test_restart_at_the_end_repeats_nothing(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    path.write_bytes(numbered(0, 100))
    first = await take(AlertFollower(path, position=None, from_start=True), 100)
    follower = AlertFollower(path, position=first[-1].position, from_start=True)
    collector = Collector(follower)
    await follower.ready()
    append(path, numbered(100, 1))
    await collector.wait_for(1)
    await collector.close()
    assert collector.ids() == [100]


async def test_restart_in_the_middle_of_a_rotation(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    rotated = tmp_path / "alerts.json.1"
    path.write_bytes(numbered(0, 1000))
    first = await take(AlertFollower(path, position=None, from_start=True), 500)
    # While stopped: renamed, more written to the renamed file, a new empty file created.
    os.rename(path, rotated)
    append(rotated, numbered(1000, 100))
    path.touch()
    collector = Collector(AlertFollower(path, position=first[-1].position))
    await collector.wait_id(1099)
    append(rotated, numbered(1100, 50))  # the writer has not moved yet
    await collector.wait_id(1149)
    append(path, numbered(1150, 50))  # now it has
    await collector.wait_id(1199)
    await collector.follower.looked(2)  # and nothing more comes
    await collector.close()
    assert collector.ids() == [*range(500, 1000), *range(1000, 1200)]
    assert collector.skipped == []


async def test_restart_after_wazuh_daily_rotation_finds_the_hard_linked_file(
    tmp_path: Path,
) -> None:
    alerts = tmp_path / "logs" / "alerts"
    day1 = alerts / "2024" / "Jan" / "ossec-alerts-31.json"
    day2 = alerts / "2024" / "Feb" / "ossec-alerts-01.json"
    day1.parent.mkdir(parents=True)
    day2.parent.mkdir(parents=True)
    live = alerts / "alerts.json"
    day1.write_bytes(numbered(0, 1000))
    os.link(day1, live)  # analysisd: alerts.json is a hard link to the daily file
    first = await take(AlertFollower(live, position=None, from_start=True), 500)
    # While stopped: more alerts that day, then midnight (new daily file, link switched).
    append(live, numbered(1000, 100))
    day2.write_bytes(numbered(1100, 100))
    os.unlink(live)
    os.link(day2, live)
    collector = Collector(AlertFollower(live, position=first[-1].position))
    await collector.wait_for(700)
    await collector.follower.looked(2)  # and nothing more comes
    await collector.close()
    assert collector.ids() == list(range(500, 1200))
    assert collector.skipped == []


@pytest.mark.parametrize("new_lines", [100, 900])  # shorter and longer than the old offset
async def test_restart_after_copy_truncate_reads_the_copy_first(
    tmp_path: Path, new_lines: int
) -> None:
    path = tmp_path / "alerts.json"
    path.write_bytes(numbered(0, 1000))
    first = await take(AlertFollower(path, position=None, from_start=True), 500)
    shutil.copyfile(path, tmp_path / "alerts.json.1")
    os.truncate(path, 0)
    append(path, numbered(1000, new_lines))
    collector = Collector(AlertFollower(path, position=first[-1].position))
    await collector.wait_for(500 + new_lines)
    await collector.follower.looked(2)  # and nothing more comes
    await collector.close()
    assert collector.ids() == [*range(500, 1000), *range(1000, 1000 + new_lines)]


async def test_restart_when_the_old_file_is_gone_warns_and_reads_the_new_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "alerts.json"
    path.write_bytes(numbered(0, 1000))
    first = await take(AlertFollower(path, position=None, from_start=True), 500)
    os.unlink(path)  # compressed away; the new file may even get the same inode number
    path.write_bytes(numbered(2000, 20))
    collector = Collector(AlertFollower(path, position=first[-1].position))
    await collector.wait_for(21)
    await collector.close()
    skipped = collector.items[0]
    assert isinstance(skipped, Skipped) and skipped.reason is SkipReason.ROTATED_AWAY
    assert skipped.position.inode == path.stat().st_ino and skipped.position.offset == 0
    assert collector.ids() == list(range(2000, 2020))


async def test_a_fifo_in_place_of_the_file_does_not_hang_the_follower(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    os.mkfifo(path)
    follower = AlertFollower(path, position=None, poll_interval=0.05)
    collector = Collector(follower)
    await follower.looked(3)  # it keeps looking: the FIFO never blocks it
    assert collector.items == [] and not collector.task.done()
    path.unlink()
    path.write_bytes(numbered(0, 2))  # the real file, new: read from its start
    await collector.wait_for(2)
    await collector.close()
    assert collector.ids() == [0, 1]


async def test_position_of_another_file_is_not_used(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    path.write_bytes(numbered(0, 10))
    elsewhere = ReadPosition(str(tmp_path / "other.json"), path.stat().st_ino, 0, "")
    follower = AlertFollower(path, position=elsewhere)
    collector = Collector(follower)
    await follower.ready()
    append(path, numbered(10, 1))
    await collector.wait_for(1)
    await collector.close()
    assert collector.ids() == [10]


# -- latency and backlog (H5) ------------------------------------------------------------


@pytest.mark.parametrize("use_events", [True, False])
async def test_latency_from_write_to_line(tmp_path: Path, use_events: bool) -> None:
    path = tmp_path / "alerts.json"
    path.touch()
    follower = AlertFollower(path, position=None, poll_interval=0.1, use_events=use_events)
    collector = Collector(follower)
    await follower.ready()  # the watch is in force
    latencies = []
    for n in range(10):
        written = time.monotonic()
        append(path, numbered(n, 1))
        await collector.wait_for(n + 1)
        latencies.append(collector.times[n] - written)
        await asyncio.sleep(0.02)
    await collector.close()
    events = "events" if use_events else "polling every 0.1 s"
    print(f"\nlatency with {events}: median {statistics.median(latencies) * 1000:.1f} ms, "
          f"max {max(latencies) * 1000:.1f} ms")  # fmt: skip
    assert max(latencies) < 1.0


async def test_writes_through_wazuh_daily_file_wake_the_follower(tmp_path: Path) -> None:
    alerts = tmp_path / "logs" / "alerts"
    day1 = alerts / "2024" / "Jan" / "ossec-alerts-31.json"
    day2 = alerts / "2024" / "Feb" / "ossec-alerts-01.json"
    day1.parent.mkdir(parents=True)
    day2.parent.mkdir(parents=True)
    day1.touch()
    live = alerts / "alerts.json"
    os.link(day1, live)
    # Polling every 5 s: a quick delivery can only come from the watch on the file's inode
    # (analysisd writes through the daily name, so nothing happens in alerts.json's folder).
    follower = AlertFollower(live, position=None, poll_interval=5.0)
    collector = Collector(follower)
    await follower.ready()
    written = time.monotonic()
    append(day1, numbered(0, 1))
    await collector.wait_for(1, timeout=3.0)
    before = collector.times[0] - written
    day2.touch()  # midnight: a new daily file, and the link switched to it
    os.unlink(live)
    os.link(day2, live)
    new_file = (day2.stat().st_dev, day2.stat().st_ino)
    while follower.watched_file != new_file:  # until the watch follows the new daily file
        await asyncio.sleep(0.005)
    written = time.monotonic()
    append(day2, numbered(1, 1))
    await collector.wait_for(2, timeout=3.0)
    after = collector.times[1] - written
    await collector.close()
    assert collector.ids() == [0, 1]
    print(f"\nwrites through the daily file: {before * 1000:.1f} ms, after rotation "
          f"{after * 1000:.1f} ms")  # fmt: skip
    assert before < 1.0 and after < 1.0


BURST_WRITER = """
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
for n in range(int(sys.argv[2])):  # one line per write, as analysisd writes alerts
    os.write(fd, b'{"id": %d, "pad": "%s"}\\n' % (n, b"p" * 200))
"""


async def test_a_busy_writer_pauses_file_events_and_they_come_back_when_it_stops(
    tmp_path: Path,
) -> None:
    """Issue 13 item 5: while a writer keeps the follower busy, it polls instead of taking
    one file event per write; once the writer is quiet, events are back (the poll interval
    here is 30 s, so only an event can bring the last line quickly)."""
    path = tmp_path / "alerts.json"
    path.touch()
    follower = AlertFollower(path, position=None, poll_interval=30.0)
    collector = Collector(follower)
    count = 30_000
    writer = await asyncio.create_subprocess_exec(
        sys.executable, "-c", BURST_WRITER, str(path), str(count))
    paused_seen = False

    async def watch_pause() -> None:
        nonlocal paused_seen
        while not paused_seen:
            paused_seen = follower.events_paused
            await asyncio.sleep(0.002)

    sampler = asyncio.create_task(watch_pause())
    await collector.wait_for(count)
    await writer.wait()
    await asyncio.wait_for(sampler, 1.0)  # paused at least once (it lasts 0.1 s at least)
    assert paused_seen
    assert collector.ids() == list(range(count))
    deadline = time.monotonic() + 5.0
    while follower.events_paused:  # back to events after IDLE_RESUME without data
        assert time.monotonic() < deadline, "file events were not resumed"
        await asyncio.sleep(0.01)
    await follower.ready()
    await follower.looked()  # the one quick look after resuming: events only from now on
    written = time.monotonic()
    append(path, numbered(count, 1))
    await collector.wait_for(count + 1, timeout=2.0)
    assert collector.times[-1] - written < 1.0  # an event, not the 30 s poll
    await collector.close()


async def test_backlog_is_read_with_bounded_memory_and_visible_progress(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    block = numbered(0, 1000, pad=1000)
    blocks = 50 * 1024 * 1024 // len(block) + 1
    with open(path, "wb") as handle:
        for _ in range(blocks):
            handle.write(block)
    size = path.stat().st_size
    lines_expected = blocks * 1000
    start = ReadPosition(str(path), path.stat().st_ino, 0, first_line_hash(path))
    follower = AlertFollower(path, position=start)
    seen = 0
    progress = []
    tracemalloc.start()
    try:
        async with asyncio.timeout(60):
            async for batch in follower.batches():
                seen += len(batch)
                progress.append(follower.progress)
                if seen >= lines_expected:
                    follower.stop()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    print(f"\nbacklog of {size / 2**20:.0f} MiB: peak traced memory {peak / 2**20:.1f} MiB")
    assert seen == lines_expected
    assert peak < 16 * 2**20
    assert progress[0].total == size and progress[0].done < size
    assert [p.done for p in progress] == sorted(p.done for p in progress)
    assert progress[-1].done == size and progress[-1].caught_up


# -- first-line hash and iteration rules -------------------------------------------------


def test_first_line_hash_of_path_and_descriptor(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    path.write_bytes(b"first\nsecond\n")
    expected = hashlib.sha256(b"first\n").hexdigest()
    assert first_line_hash(path) == expected
    fd = os.open(path, os.O_RDONLY)
    try:
        os.lseek(fd, 3, os.SEEK_SET)
        assert first_line_hash(fd) == expected
        assert os.lseek(fd, 0, os.SEEK_CUR) == 3  # the descriptor's offset is left alone
    finally:
        os.close(fd)
    path.write_bytes(b"no newline yet")
    assert first_line_hash(path) == ""
    assert first_line_hash(tmp_path / "missing") == ""
    long_first = b"L" * 200_000 + b"\n"
    path.write_bytes(long_first + b"x\n")
    assert first_line_hash(str(path)) == hashlib.sha256(long_first).hexdigest()


async def test_a_follower_is_iterated_once(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    path.write_bytes(numbered(0, 2))
    follower = AlertFollower(path, position=None, from_start=True)
    assert len(await take(follower, 2)) == 2
    with pytest.raises(RuntimeError):
        await take(follower, 1)
