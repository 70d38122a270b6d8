"""watch_config on a real folder: editor saves, in-place writes, touches, delete + re-create."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

import pytest

from arconsole.config.watch import content_digest, watch_config

CONF = b"<ossec_config>\n  <global><logall>no</logall></global>\n</ossec_config>\n"
EDITED = CONF.replace(b"no", b"yes")


class Changes:
    """Runs watch_config in a task and notes when each notification came."""

    def __init__(self, path: Path, **options: float | bool | bytes) -> None:
        self.times: list[float] = []
        self.ready = asyncio.Event()  # set by watch_config once its watch is in force
        self.task = asyncio.create_task(self._run(path, options))

    async def _run(self, path: Path, options: dict[str, float | bool | bytes]) -> None:
        async for _ in watch_config(path, ready=self.ready, **options):  # type: ignore[arg-type]
            self.times.append(time.monotonic())

    async def watching(self) -> None:
        """Until the watch is in force (a readiness signal, not a guess of how long)."""
        await asyncio.wait_for(self.ready.wait(), 5.0)

    async def wait_for(self, count: int, timeout: float = 5.0) -> float:
        deadline = time.monotonic() + timeout
        while len(self.times) < count:
            if time.monotonic() > deadline:
                pytest.fail(f"{len(self.times)} of {count} notifications after {timeout} s")
            await asyncio.sleep(0.005)
        return self.times[count - 1]

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def editor_save(path: Path, content: bytes) -> None:
    """What vim (backupcopy=no), VS Code and `sed -i` do: write a new file, rename it over."""
    temp = path.with_name(f".{path.name}.swp-new")
    temp.write_bytes(content)
    os.replace(temp, path)


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    path = tmp_path / "etc" / "ossec.conf"
    path.parent.mkdir()
    path.write_bytes(CONF)
    return path


@pytest.mark.parametrize("use_events", [True, False])
async def test_editor_save_by_rename_fires_once(conf: Path, use_events: bool) -> None:
    changes = Changes(conf, debounce=0.1, poll_interval=0.3, use_events=use_events)
    await changes.watching()
    saved = time.monotonic()
    editor_save(conf, EDITED)
    notified = await changes.wait_for(1)
    await asyncio.sleep(0.5)
    await changes.close()
    assert len(changes.times) == 1
    print(f"\nnotified {(notified - saved) * 1000:.0f} ms after the save (events: {use_events})")


async def test_in_place_write_fires(conf: Path) -> None:
    changes = Changes(conf, debounce=0.1, poll_interval=30.0)  # events only
    await changes.watching()
    with open(conf, "r+b") as handle:
        handle.write(EDITED)
    await changes.wait_for(1, timeout=3.0)
    await changes.close()


async def test_touch_or_a_save_without_change_does_not_fire(conf: Path) -> None:
    changes = Changes(conf, debounce=0.05, poll_interval=0.1)
    await changes.watching()
    os.utime(conf, (time.time() + 10, time.time() + 10))
    editor_save(conf, CONF)
    await asyncio.sleep(0.8)
    assert changes.times == []
    editor_save(conf, EDITED)  # the watcher was alive all along
    await changes.wait_for(1)
    await changes.close()


async def test_a_burst_of_writes_fires_once_when_settled(conf: Path) -> None:
    changes = Changes(conf, debounce=0.3, poll_interval=0.1)
    await changes.watching()
    for n in range(5):
        conf.write_bytes(CONF + b"<!-- %d -->\n" % n)
        await asyncio.sleep(0.1)
    last_write = time.monotonic()
    notified = await changes.wait_for(1)
    await asyncio.sleep(0.6)
    await changes.close()
    assert len(changes.times) == 1
    assert notified - last_write >= 0.25


async def test_delete_then_recreate(conf: Path) -> None:
    changes = Changes(conf, debounce=0.05, poll_interval=0.1)
    await changes.watching()
    conf.unlink()
    await asyncio.sleep(0.5)
    assert changes.times == []  # nothing to load while it is missing
    conf.write_bytes(CONF)
    await asyncio.sleep(0.5)
    assert changes.times == []  # back as it was: nothing changed for the engine
    conf.unlink()
    await asyncio.sleep(0.2)
    conf.write_bytes(EDITED)
    await changes.wait_for(1)
    await asyncio.sleep(0.3)
    await changes.close()
    assert len(changes.times) == 1


async def test_an_edit_between_loading_and_watching_is_not_missed(conf: Path) -> None:
    loaded = content_digest(conf.read_bytes())
    conf.write_bytes(EDITED)  # before the watch starts
    changes = Changes(conf, since=loaded, debounce=0.05, poll_interval=0.1)
    await changes.wait_for(1)
    await asyncio.sleep(0.3)
    await changes.close()
    assert len(changes.times) == 1


async def test_folder_created_after_the_watch_started(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "ossec.conf"
    changes = Changes(path, debounce=0.05, poll_interval=0.1)
    await changes.watching()
    path.parent.mkdir()
    path.write_bytes(CONF)
    await changes.wait_for(1)
    editor_save(path, EDITED)
    await changes.wait_for(2)
    await changes.close()
