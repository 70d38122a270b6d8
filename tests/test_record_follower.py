"""AlertsLogFollower: OSSEC's multi-line alerts.log records, each once, when complete."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

import pytest

from arconsole.alerts.follower import Skipped, SkipReason
from arconsole.alerts.record_follower import AlertsLogFollower, Record

REAL = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real"
SAMPLE = REAL / "alerts-log-sample.log"


def record(n: int, body_lines: int = 2) -> bytes:
    body = b"".join(b"line %d of alert %d\n" % (i, n) for i in range(body_lines))
    return (
        b"** Alert 1700000000.%d: - syslog,sshd,\n" % n
        + b"2024 Jan 01 00:00:00 host->/var/log/secure\n"
        + b"Rule: 5710 (level 5) -> 'sshd: Attempt to login using a non-existent user'\n"
        + body
        + b"\n"
    )


class Records:
    def __init__(self, follower: AlertsLogFollower) -> None:
        self.follower = follower
        self.items: list[Record | Skipped] = []
        self.times: list[float] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async with contextlib.aclosing(self.follower.records()) as records:
            async for item in records:
                self.items.append(item)
                self.times.append(time.monotonic())

    @property
    def records(self) -> list[Record]:
        return [item for item in self.items if isinstance(item, Record)]

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.items) < count:
            if time.monotonic() > deadline:
                pytest.fail(f"{len(self.items)} of {count} items after {timeout} s")
            await asyncio.sleep(0.005)

    async def close(self) -> None:
        self.follower.stop()
        await asyncio.wait_for(self.task, 5.0)


@pytest.mark.skipif(not SAMPLE.exists(), reason="shared fixtures absent")
async def test_real_sample_gives_its_three_records_with_exact_positions(tmp_path: Path) -> None:
    path = tmp_path / "alerts.log"
    content = SAMPLE.read_bytes()
    path.write_bytes(content)
    reader = Records(AlertsLogFollower(path, position=None, from_start=True, quiet=0.2))
    await reader.wait_for(3)
    await asyncio.sleep(0.3)
    await reader.close()
    assert len(reader.items) == 3
    records = reader.records
    starts = [i for i in range(len(content)) if content.startswith(b"** Alert ", i)]
    assert [r.start.offset for r in records] == starts
    assert [r.position.offset for r in records] == [*starts[1:], len(content)]
    for r in records:
        # The record is its bytes in the file, without the blank line that ends it.
        assert content[r.start.offset : r.position.offset].rstrip(b"\n") == r.data
    assert records[0].data.splitlines()[3] == b"Src IP: 18.18.18.18"


async def test_a_record_is_complete_when_the_next_one_starts(tmp_path: Path) -> None:
    path = tmp_path / "alerts.log"
    path.touch()
    reader = Records(AlertsLogFollower(path, position=None, quiet=5.0))
    await asyncio.sleep(0.1)
    with open(path, "ab") as handle:
        handle.write(record(1))
    await asyncio.sleep(0.3)
    assert reader.items == []  # not quiet long enough, and no next record
    with open(path, "ab") as handle:
        handle.write(record(2)[:40])  # the next header is enough, even half written
        handle.write(b"\n")
    await reader.wait_for(1)
    await reader.close()
    assert reader.records[0].data == record(1).rstrip(b"\n")


async def test_the_last_record_is_complete_after_a_quiet_time(tmp_path: Path) -> None:
    path = tmp_path / "alerts.log"
    path.touch()
    reader = Records(AlertsLogFollower(path, position=None, quiet=0.3))
    await asyncio.sleep(0.1)
    first_half, second_half = record(1)[:90], record(1)[90:]
    with open(path, "ab") as handle:
        handle.write(first_half)
    await asyncio.sleep(0.15)  # a pause shorter than `quiet` inside a record
    with open(path, "ab") as handle:
        handle.write(second_half)
    written = time.monotonic()
    await reader.wait_for(1)
    await asyncio.sleep(0.5)
    await reader.close()
    assert [r.data for r in reader.records] == [record(1).rstrip(b"\n")]
    waited = reader.times[0] - written
    print(f"\nlast record delivered {waited * 1000:.0f} ms after its last byte (quiet 300 ms)")
    assert 0.25 <= waited < 2.0


async def test_restart_from_a_record_position_continues_with_the_next_record(
    tmp_path: Path,
) -> None:
    path = tmp_path / "alerts.log"
    path.write_bytes(b"".join(record(n) for n in range(6)))
    first = AlertsLogFollower(path, position=None, from_start=True, quiet=0.2)
    taken: list[Record | Skipped] = []
    async with contextlib.aclosing(first.records()) as records:
        async for item in records:
            taken.append(item)
            if len(taken) == 3:
                break
    first.stop()
    assert isinstance(taken[-1], Record)
    reader = Records(AlertsLogFollower(path, position=taken[-1].position, quiet=0.2))
    await reader.wait_for(3)
    os.rename(path, path.with_name("alerts.log.1"))  # and a rotation for good measure
    path.write_bytes(record(6))
    await reader.wait_for(4)
    await asyncio.sleep(0.3)
    await reader.close()
    assert [r.data.split(b":")[0] for r in reader.records] == [
        b"** Alert 1700000000.%d" % n for n in (3, 4, 5, 6)
    ]


async def test_text_outside_records_and_long_lines_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "alerts.log"
    long_body = b"full log " + b"Z" * 70_000 + b"\n"
    content = b"stray text\n\n" + record(1)[:-1] + long_body + b"\n" + record(2)
    path.write_bytes(content)
    reader = Records(AlertsLogFollower(path, position=None, from_start=True, quiet=0.2))
    await reader.wait_for(4)
    await reader.close()
    stray, first, long_line, second = reader.items
    assert isinstance(stray, Skipped) and stray.reason is SkipReason.NOT_A_RECORD
    assert isinstance(first, Record) and first.data == record(1).rstrip(b"\n")
    # The dropped line is reported after its record, with the record's end position, so
    # storing positions in the order received never goes backwards.
    assert isinstance(long_line, Skipped) and long_line.reason is SkipReason.LONG_LINE
    assert long_line.position == first.position
    assert isinstance(second, Record) and second.start == first.position


async def test_a_record_that_never_ends_is_cut_not_held(tmp_path: Path) -> None:
    """A header followed by more than MAX_RECORD bytes of lines (a file that is not an
    alerts.log, or a writer gone wrong) is not held in memory: as the file reader does, the
    body past MAX_RECORD is dropped and the record (its fields are in its first lines) is
    yielded whole at the next header, its end position past every line it dropped."""
    from arconsole.alerts.logreader import MAX_RECORD, decode_alert_record

    path = tmp_path / "alerts.log"
    filler = b"".join(b"field %07d: " % n + b"x" * 1000 + b"\n"
                      for n in range(3 * MAX_RECORD // 1000))
    path.write_bytes(record(1)[:-1] + filler + b"\n" + record(2) + record(3))
    reader = Records(AlertsLogFollower(path, position=None, from_start=True, quiet=0.2))
    await reader.wait_for(3)
    await reader.close()
    first, second, third = reader.items
    assert isinstance(first, Record) and isinstance(second, Record)
    assert first.data.startswith(record(1)[:-1]) and len(first.data) <= MAX_RECORD
    assert first.data.count(b"\n") < filler.count(b"\n") // 2  # the body was cut
    assert first.position == second.start  # every dropped line is behind its end
    assert decode_alert_record(first.data).rule_id == "5710"
    assert isinstance(third, Record) and third.data == record(3).rstrip(b"\n")


async def test_both_readers_cut_a_long_record_alike(tmp_path: Path) -> None:
    """A line that does not fit cuts the record there: a short line after it is not joined to
    what came before (the follower once kept it, leaving a gap in the middle), and the follower
    and the file reader (`arconsole explain`) keep the very same lines."""
    from arconsole.alerts.logreader import MAX_RECORD, iter_records

    path = tmp_path / "alerts.log"
    first = b"".join(b"A%d: " % n + b"a" * 60_000 + b"\n" for n in range(4))  # lines < 64 KiB
    too_long = b"B: " + b"b" * 60_000 + b"\n"  # does not fit after `first`
    assert len(record(1)) + len(first) < MAX_RECORD < len(record(1)) + len(first + too_long)
    short = b"C: would fit\n"
    path.write_bytes(record(1)[:-1] + first + too_long + short + b"\n" + record(2) + record(3))
    reader = Records(AlertsLogFollower(path, position=None, from_start=True, quiet=0.2))
    await reader.wait_for(3)
    await reader.close()
    followed = reader.records[0].data
    assert followed.endswith(first.rstrip(b"\n")) and b"C: would fit" not in followed
    read = list(iter_records(path.read_text().splitlines(keepends=True)))
    assert "\n".join(read[0][1]).encode() == followed
    assert [record.data for record in reader.records[1:]] == [
        "\n".join(lines).encode() for _, lines in read[1:]]
