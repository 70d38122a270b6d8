"""Spoofed `add` AR alerts with ever new keys against the fleet table (issue 14, fleet_bounds).

An agent's log line decodes as a rule-651 `add` as well as a real one does, so a compromised
agent (or anything that writes its logs) can report blocks that never were. Active and overdue
rows are kept, so the table is bounded otherwise: keys of the program's shape only, a cap of
active rows per agent and in all, overdue rows (oldest first) giving their place to new ones,
and the operator told once, with the counts in `status`. Real engine, real state file, lines
through the intake's decoder (the real 651's layout, `tests/test_ar_lines.REAL_651`).
"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

from arconsole.engine.engine import Engine
from arconsole.engine.fleet_bounds import PER_AGENT_ACTIVE, key_fits
from arconsole.engine.requests import status_of
from tests.engine_support import T0, command, make_home, response, started
from tests.test_ar_lines import real


def ar_line(agent: str, key: str, at: float, *, program: str = "firewall-drop",
            command_word: str = "add") -> bytes:
    """The real 651 for another agent, key and time (the trigger is the same 5710)."""
    document = real()
    document["agent"] = {"id": agent, "name": f"host-{agent}"}
    stamp = _stamp(at)
    document["timestamp"] = stamp
    data = document["data"]
    data["command"] = command_word
    data["parameters"]["program"] = f"active-response/bin/{program}"
    if program == "disable-account":
        del data["srcip"]
        data["dstuser"] = key
    else:
        data["srcip"] = key
    return json.dumps(document, separators=(",", ":")).encode() + b"\n"


def _stamp(at: float) -> str:
    import datetime as dt

    moment = dt.datetime.fromtimestamp(at, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def address(n: int) -> str:
    return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


def fleet_home(tmp_path: Path) -> Path:
    return make_home(tmp_path, [command("firewall-drop"), command("disable-account")],
                     [response("firewall-drop", rules_id="5710", timeout=600)])


def warnings(engine: Engine) -> list[str]:
    return [event.message for event in engine.store.list_events(1000)
            if event.message.startswith("fleet table:")]


async def test_a_flood_of_spoofed_adds_is_capped_and_genuine_rows_survive(tmp_path: Path
                                                                          ) -> None:
    home = fleet_home(tmp_path)
    engine = await started(home)
    try:
        await engine.handle_line(ar_line("001", "203.0.113.9", T0))  # genuine, other agent
        await engine.handle_line(ar_line("007", "198.51.100.1", T0))  # genuine, same agent
        flood = PER_AGENT_ACTIVE + 3_000
        tracemalloc.start()
        try:
            for n in range(flood):
                await engine.handle_line(ar_line("007", address(n), T0 + 1))
                if n == PER_AGENT_ACTIVE + 999:
                    at_cap = tracemalloc.get_traced_memory()[0]
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        engine.fleet.flush()
        table = engine.fleet.table
        assert len([ident for ident in table.rows if ident[0] == "007"]) == PER_AGENT_ACTIVE
        assert table.get("007", "firewall-drop", "198.51.100.1") is not None
        assert table.get("001", "firewall-drop", "203.0.113.9") is not None
        # 2,000 more spoofed lines past the cap kept nothing: memory flat (a row is ~1 KB).
        assert after - at_cap < 200_000, f"grew {after - at_cap:,} bytes"
        counts = status_of(engine)["fleet"]
        assert counts["active"] == PER_AGENT_ACTIVE + 1
        assert counts["refused_over_cap"] == flood - (PER_AGENT_ACTIVE - 1)
        told = warnings(engine)
        assert len(told) == 1 and "agent 007 reached the cap of 5,000" in told[0]
        # The state file holds the same bounded table.
        store = table.store
        assert store is not None
        assert len(store.load_rows()) == PER_AGENT_ACTIVE + 1
    finally:
        await engine.stop()


async def test_overdue_rows_give_their_place_oldest_first_and_restarts_keep_it(
        tmp_path: Path) -> None:
    home = fleet_home(tmp_path)
    engine = await started(home)
    try:
        store = engine.fleet.table.store
        assert store is not None
        engine.fleet.attach(store, per_agent=10, total=25)
        table = engine.fleet.table
        for n in range(10):  # spoofed at T0 and T0 + 1 s: 600 s + 1 s + 30 s later, overdue
            await engine.handle_line(ar_line("007", address(n), T0 + (n >= 5)))
        await engine.handle_line(ar_line("007", address(99), T0 + 100))
        assert table.get("007", "firewall-drop", address(99)) is None  # none overdue yet
        assert status_of(engine)["fleet"]["refused_over_cap"] == 1
        # Later, a genuine block: the oldest overdue row (the first at T0) gives its place.
        await engine.handle_line(ar_line("007", "198.51.100.1", T0 + 1_000))
        assert table.get("007", "firewall-drop", "198.51.100.1") is not None
        assert table.get("007", "firewall-drop", address(0)) is None
        assert table.get("007", "firewall-drop", address(9)) is not None
        # Fresh genuine rows of other agents up to the total cap of 25...
        fresh = [(agent, f"192.0.2.{n}") for agent, count in (("001", 8), ("002", 7))
                 for n in range(count)]
        for agent, key in fresh:
            await engine.handle_line(ar_line(agent, key, T0 + 1_000))
        assert status_of(engine)["fleet"]["active"] == 25
        # ...past it, the overdue ones of 007 go (oldest first, a tenth of the cap), never
        # a row within its expected end.
        await engine.handle_line(ar_line("003", "192.0.2.200", T0 + 1_001))
        assert table.get("003", "firewall-drop", "192.0.2.200") is not None
        assert all(table.get(agent, "firewall-drop", key) is not None for agent, key in fresh)
        assert table.get("007", "firewall-drop", "198.51.100.1") is not None
        assert [table.get("007", "firewall-drop", address(n)) for n in (1, 2)] == [None, None]
        counts = status_of(engine)["fleet"]
        assert (counts["active"], counts["evicted_overdue"]) == (24, 3)
        told = warnings(engine)
        assert any("agent 007 reached the cap of 10 active rows and none is overdue" in m
                   for m in told)
        assert any("agent 007 reached the cap of 10 active rows: 1 overdue" in m for m in told)
        assert any("all agents reached the cap of 25 active rows: 2 overdue" in m
                   for m in told)
        assert any("agent 007 below the cap again" in m for m in told)
        engine.fleet.flush()
    finally:
        await engine.stop()
    engine = await started(home)  # what was dropped stays dropped; the counts come back
    try:
        table = engine.fleet.table
        assert table.get("007", "firewall-drop", address(0)) is None
        assert table.get("003", "firewall-drop", "192.0.2.200") is not None
        assert status_of(engine)["fleet"]["active"] == 24
    finally:
        await engine.stop()


async def test_keys_not_of_the_programs_shape_keep_no_row(tmp_path: Path) -> None:
    home = fleet_home(tmp_path)
    engine = await started(home)
    try:
        lines = [ar_line("007", "not-an-address", T0),
                 ar_line("007", "10.0.0.256", T0),
                 ar_line("007", "mallory;reboot", T0, program="disable-account"),
                 ar_line("007", "2001:db8::1", T0),
                 ar_line("007", "10.0.0.1", T0),
                 ar_line("007", "mallory", T0, program="disable-account")]
        for line in lines:
            await engine.handle_line(line)
        keys = sorted(ident[2] for ident in engine.fleet.table.rows)
        assert keys == ["10.0.0.1", "2001:db8::1", "mallory"]
        assert status_of(engine)["fleet"]["refused_bad_key"] == 3
        told = warnings(engine)
        assert len(told) == 1 and "'not-an-address', which is not an address" in told[0]
    finally:
        await engine.stop()


def test_key_shapes() -> None:
    assert key_fits("firewall-drop", "203.0.113.9") and key_fits("netsh.exe", "::1")
    assert not key_fits("firewall-drop", "203.0.113.9 ") and not key_fits("route-null", "x")
    assert not key_fits("host-deny", "01.2.3.4") and not key_fits("host-deny", "1.2.3")
    assert key_fits("disable-account", "svc.backup@corp") and not key_fits(
        "disable-account", "-rf")
    assert key_fits("custom-script", "203.0.113.9") and key_fits("custom-script", "bob")
    assert not key_fits("custom-script", "a b") and not key_fits("custom-script", "\x1b[2J")
    # `FleetBounds.admit` takes an IPv4 address without asking the program's shape: one fits
    # every shape (and anything else is asked).
    for program in ("firewall-drop", "netsh.exe", "disable-account", "custom-script"):
        assert key_fits(program, "255.250.0.9") and key_fits(program, "0.0.0.0")
    for odd in ("1.2.3.4\0", "256.1.1.1", "1.2.3.04", "\u0663.1.1.1", "1.2.3.4.5", "0x1.2.3.4"):
        assert not key_fits("firewall-drop", odd), odd
