"""Operator actions through the engine: values checked like alert values, truthful dry runs,
one spelling of mapped addresses, and the one request dispatcher (socket and offline alike)."""

from __future__ import annotations

from pathlib import Path

import pytest

from arconsole.engine.clock import ManualClock
from arconsole.engine.events import ScriptRan
from arconsole.engine.operations import MAX_SECONDS
from arconsole.engine.requests import handle_request
from tests.engine_support import (
    T0,
    EngineStarter,
    alert_line,
    command,
    make_home,
    recorder,
    records,
    response,
)

KEY = "rec-203.0.113.7"


def rec_home(tmp_path: Path, timeout: int = 100) -> Path:
    return make_home(tmp_path, [command("rec")], [response("rec", level=5, timeout=timeout)],
                     {"rec": recorder()})


@pytest.mark.parametrize(
    ("srcip", "reason"),
    [
        ("::1%-j ACCEPT", "IPv6 zone"),  # ipaddress accepts this: the zone is free text
        ("fe80::1%eth0\n\x1b[31m", "not an IP address"),
        ("fe80::1%eth0", "IPv6 zone"),
        ("203.0.113.7 ", "not an IP address"),
        ("1.2.3.4;id", "not an IP address"),
        ("\u202e1.2.3.4", "not an IP address"),
    ],
)
async def test_operator_addresses_are_checked_before_anything_runs(
    engine_on: EngineStarter, tmp_path: Path, srcip: str, reason: str
) -> None:
    home = rec_home(tmp_path)
    engine = await engine_on(home)
    result = await engine.add_block("rec", srcip, "alice")
    assert not result.ok and reason in result.detail
    assert "\n" not in result.detail and "\x1b" not in result.detail
    assert "\n" not in result.target and "\x1b" not in result.target
    assert records(home) == [] and engine.blocks == {}
    assert engine.store.list_audit()[0].detail == result.detail  # refusals are audited too


@pytest.mark.parametrize(("timeout", "reason"), [
    (0, "must be positive"), (-5, "must be positive"),
    (MAX_SECONDS + 1, "at most"), (10**30, "at most"),
])
async def test_operator_timeouts_are_bounded_before_anything_runs(
    engine_on: EngineStarter, tmp_path: Path, timeout: int, reason: str
) -> None:
    home = rec_home(tmp_path)
    engine = await engine_on(home)
    result = await engine.add_block("rec", "203.0.113.7", "alice", timeout=timeout)
    assert not result.ok and reason in result.detail
    assert records(home) == []


@pytest.mark.parametrize(("seconds", "reason"), [
    (-10, "must be positive"), (0, "must be positive"), (10**30, "at most"),
])
async def test_extensions_must_be_positive_and_bounded(
    engine_on: EngineStarter, tmp_path: Path, seconds: int, reason: str
) -> None:
    home = rec_home(tmp_path)
    engine = await engine_on(home)
    await engine.handle_line(alert_line("1.1"))
    await engine.drain()
    before = engine.blocks[KEY]
    result = await engine.extend_block(KEY, seconds, "alice")
    assert not result.ok and reason in result.detail
    assert engine.blocks[KEY] == before
    assert engine.store.load_blocks()[0].timeout == before.timeout


async def test_dry_run_add_says_nothing_ran(engine_on: EngineStarter, tmp_path: Path) -> None:
    home = rec_home(tmp_path)
    engine = await engine_on(home, mode="dry-run")
    result = await engine.add_block("rec", "203.0.113.9", "alice")
    assert result.ok
    assert result.detail.startswith("dry-run: nothing ran; would run active-response/bin/rec")
    assert "ran active-response" not in result.detail.replace("would run active-response", "")
    assert records(home) == []
    assert engine.blocks["rec-203.0.113.9"].dry_run


async def test_dry_run_never_keys_a_block_on_nothing(
    engine_on: EngineStarter, tmp_path: Path
) -> None:
    """A stock script refuses an alert without srcip or user: a dry run imagines no block."""
    home = rec_home(tmp_path)
    engine = await engine_on(home, mode="dry-run")
    seen = engine.bus.subscribe()
    await engine.handle_line(alert_line("1.1", srcip=None))
    await engine.drain()
    assert engine.blocks == {}
    [event] = [e for e in seen.drain() if isinstance(e, ScriptRan)]
    assert event.action == "add (dry-run)" and event.key is None


async def test_uppercase_mapped_prefix_is_read_the_same_by_decider_and_lift(
    engine_on: EngineStarter, tmp_path: Path,
) -> None:
    """Wazuh's get_ip() strips `::ffff:` with a case-sensitive strncmp: `::FFFF:10.0.0.1` is
    not the white-listed 10.0.0.1 to Wazuh, so it fires; a reload must then not lift it
    (it used to: the engine ignored case where the white list did not)."""
    home = rec_home(tmp_path)
    clock = ManualClock(T0)
    engine = await engine_on(home, clock)
    await engine.handle_line(alert_line("1.1", srcip="::ffff:10.0.0.1"))
    await engine.handle_line(alert_line("1.2", srcip="::FFFF:10.0.0.1"))
    await engine.drain()
    assert list(engine.blocks) == ["rec-::FFFF:10.0.0.1"], "lower-case prefix is white-listed"
    assert engine.blocks["rec-::FFFF:10.0.0.1"].srcip == "::FFFF:10.0.0.1"
    assert await engine.reload()
    await engine.drain()
    assert list(engine.blocks) == ["rec-::FFFF:10.0.0.1"], "the reload lifted what decide kept"


async def test_one_dispatcher_refuses_bad_requests_without_acting(
    engine_on: EngineStarter, tmp_path: Path
) -> None:
    home = rec_home(tmp_path)
    engine = await engine_on(home)
    for request in (
        {"op": "extend", "key": KEY, "seconds": "10"},
        {"op": "extend", "key": KEY, "seconds": True},
        {"op": "add", "command": "rec", "srcip": 7},
        {"op": "reverse", "keys": "rec-1"},
        {"op": "explode"},
    ):
        answer = await handle_request(engine, request, "mallory")
        assert answer["ok"] is False and answer["error"].startswith("bad request: "), request
    answer = await handle_request(
        engine, {"op": "add", "command": "rec", "srcip": "203.0.113.7", "timeout": 30,
                 "command_line": "arconsole blocks add"}, "alice")
    assert answer["ok"] and answer["results"][0]["block"]["timeout"] == 30
    assert engine.store.list_audit()[0].operator == "alice (asked with: arconsole blocks add)"


async def test_a_rejected_reload_is_said_once_per_broken_content(
    engine_on: EngineStarter, tmp_path: Path
) -> None:
    """The watcher and a SIGHUP (or ctrl+r) both reload the same broken save: one rejection."""
    from arconsole.engine.events import ConfigLoaded, ConfigRejected

    home = rec_home(tmp_path)
    engine = await engine_on(home)
    seen = engine.bus.subscribe()
    conf = home / "etc" / "ossec.conf"
    good = conf.read_text()
    conf.write_text(good.replace("<location>local</location>", "<location>nowhere</location>"))
    assert not await engine.reload()
    assert not await engine.reload()
    assert [type(e) for e in seen.drain()] == [ConfigRejected]
    conf.write_text(good)
    assert await engine.reload()
    conf.write_text(good.replace("<location>local</location>", "<location>nowhere</location>"))
    assert not await engine.reload()  # broken again after a good load: said again
    assert [type(e) for e in seen.drain()] == [ConfigLoaded, ConfigRejected]
