"""The follower's write watch (follow_growth): a write to the open file wakes it at once, by
inode (through any link), and the watch moves with the follower to a rotated-in file.

Real files and real inotify: an event is queued by the write itself, so a couple of loop turns
after a write show whether it woke the follower (no timing guesses).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

from arconsole.alerts.follow_growth import FileGrowth
from arconsole.alerts.follower import AlertFollower, FollowItem


async def turns(count: int = 3) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


def inode(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return (st.st_dev, st.st_ino)


async def test_a_write_wakes_at_once_and_only_for_the_file_followed(tmp_path: Path) -> None:
    wake = asyncio.Event()
    growth = FileGrowth(asyncio.get_running_loop(), wake)
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.touch()
    second.touch()
    fd = os.open(first, os.O_RDONLY)
    try:
        growth.follow(fd, inode(first))
        assert growth.watching == inode(first)
        await turns()
        assert not wake.is_set()
        with first.open("ab") as out:
            out.write(b'{"id": 1}\n')
        await asyncio.wait_for(wake.wait(), 5.0)
        wake.clear()
        with second.open("ab") as out:  # another file in the same directory: not watched
            out.write(b'{"id": 2}\n')
        await turns()
        assert not wake.is_set()
    finally:
        growth.close()
        os.close(fd)


async def test_a_write_through_another_link_wakes_too(tmp_path: Path) -> None:
    # Wazuh writes alerts.json through its daily file, a hard link of it.
    wake = asyncio.Event()
    growth = FileGrowth(asyncio.get_running_loop(), wake)
    path, daily = tmp_path / "alerts.json", tmp_path / "ossec-alerts-03.json"
    path.touch()
    os.link(path, daily)
    fd = os.open(path, os.O_RDONLY)
    try:
        growth.follow(fd, inode(path))
        with daily.open("ab") as out:
            out.write(b'{"id": 1}\n')
        await asyncio.wait_for(wake.wait(), 5.0)
    finally:
        growth.close()
        os.close(fd)


async def test_the_watch_moves_to_the_new_file(tmp_path: Path) -> None:
    wake = asyncio.Event()
    growth = FileGrowth(asyncio.get_running_loop(), wake)
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.touch()
    new.touch()
    old_fd, new_fd = os.open(old, os.O_RDONLY), os.open(new, os.O_RDONLY)
    try:
        growth.follow(old_fd, inode(old))
        growth.follow(new_fd, inode(new))
        assert growth.watching == inode(new)
        with old.open("ab") as out:  # the file left behind no longer wakes anyone
            out.write(b'{"id": 1}\n')
        await turns()
        assert not wake.is_set()
        with new.open("ab") as out:
            out.write(b'{"id": 2}\n')
        await asyncio.wait_for(wake.wait(), 5.0)
    finally:
        growth.close()
        os.close(old_fd)
        os.close(new_fd)


async def test_the_follower_watches_the_file_it_reads_across_a_rotation(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    path.write_bytes(b'{"id": 0}\n')
    follower = AlertFollower(path, position=None, poll_interval=0.05)
    seen: list[FollowItem] = []

    async def consume() -> None:
        async with contextlib.aclosing(follower.lines()) as items:
            async for item in items:
                seen.append(item)

    task = asyncio.create_task(consume())
    try:
        await follower.ready()
        assert follower.growth_watched == inode(path)
        os.rename(path, tmp_path / "alerts.json.1")
        path.write_bytes(b'{"id": 1}\n')
        while len(seen) < 1:
            await follower.looked()
        assert follower.growth_watched == inode(path)  # the new file, once it is read
    finally:
        follower.stop()
        await asyncio.wait_for(task, 5.0)
