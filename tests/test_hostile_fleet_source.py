"""An AR log alert counts for the fleet only when it was read from an agent's
active-responses.log.

Wazuh's `ar_log_json` decoder knows an AR log line by its text alone
(`^YYYY/MM/DD hh:mm:ss active-response/bin/<program>: `, `0010-active-response_decoders.xml`),
and a syslog line's message is decoded after its header: any user of an agent who can run
`logger` (or any program whose log lines start with text they choose) raises a rule 650-658
alert with the content they like, whose `location` is the file or journal it came from. Such a
line must neither add a row, nor lift a block Wazuh's execd holds, nor confirm a delivery; it
is counted (`status` fleet.refused_not_ar_log), told at most every ten minutes, and decided like
any other alert, as Wazuh decides it (here a server response bound to rule 651 runs for it).
Real engine, real Unix datagram socket standing for Wazuh's queue, real script.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arconsole.engine.clock import ManualClock
from arconsole.engine.engine import Engine
from arconsole.engine.fleet import FORGED_TELL_EVERY
from arconsole.engine.requests import status_of
from arconsole.safetext import literal
from tests.engine_support import T0, records
from tests.fleet_support import bind_queue, fleet_engine, fleet_home
from tests.test_fleet_store_fault import home_with_ar_response
from tests.test_hostile_fleet import ar_alert


def read_from(location: str, *, command: str = "add", key: str = "198.51.100.7") -> bytes:
    document = json.loads(ar_alert("002", "active-response/bin/firewall-drop", key,
                                   command=command))
    document["location"] = location
    return json.dumps(document, separators=(",", ":")).encode()


GENUINE = ["/var/ossec/logs/active-responses.log", "/opt/ossec/logs/active-responses.log",
           "active-response\\active-responses.log",  # Windows, as its agent config says
           "C:\\Program Files (x86)\\ossec-agent\\active-response\\active-responses.log",
           "C:\\ossec-agent\\Active-Response\\Active-Responses.LOG"]  # NTFS ignores case
FORGED = ["journald", "/var/log/syslog", "/var/log/active-responses.log.txt", "192.0.2.7",
          "/var/ossec/logs/active-responses.log/../../../var/log/syslog",
          "/var/ossec/logs/Active-Responses.log",  # another file on a Linux agent
          "C:\\ossec-agent\\active-response\\active-responses.log.txt",
          "\x1b]0;pwned\x07[bold red]x[/]\u202e"]


def warnings(engine: Engine) -> list[str]:
    """The fleet table's warnings the engine kept in its state file's event log."""
    return [event.message for event in engine.store.list_events(1000)
            if event.message.startswith("fleet table:")]


@pytest.mark.parametrize("location", GENUINE)
async def test_the_agents_ar_log_adds_its_row(tmp_path: Path, location: str) -> None:
    home = fleet_home(tmp_path)
    queue = bind_queue(home)
    engine = await fleet_engine(home, ManualClock(T0))
    try:
        await engine.handle_line(read_from(location))
        await engine.drain()
        assert [row["target"] for row in engine.fleet.listing()] == ["198.51.100.7"]
        assert engine.stats.input_errors == 0
    finally:
        await engine.stop()
        queue.close()


@pytest.mark.parametrize("location", FORGED)
async def test_a_line_from_another_log_neither_adds_nor_lifts_and_is_decided(
        tmp_path: Path, location: str) -> None:
    home = home_with_ar_response(tmp_path)
    queue = bind_queue(home)
    clock = ManualClock(T0)
    engine = await fleet_engine(home, clock)
    try:
        await engine.handle_line(read_from(location, key="203.0.113.50"))  # a fake block
        await engine.handle_line(read_from(GENUINE[0]))  # the block Wazuh's execd holds
        await engine.handle_line(read_from(location, command="delete"))  # hiding it
        await engine.drain()
        assert [(ident, row.active) for ident, row in engine.fleet.table.rows.items()] == [
            (("002", "firewall-drop", "198.51.100.7"), True)]
        # Not bad lines: alerts, each decided like any other (rule 651's script ran 3 times).
        assert engine.stats.input_errors == 0
        assert engine.stats.alerts == 3
        assert len(records(home)) == 3
        assert status_of(engine)["fleet"]["refused_not_ar_log"] == 2
        told = [m for m in warnings(engine) if "not an agent's active-responses.log" in m]
        assert len(told) == 1 and "1 refused so far" in told[0], told  # the second: counted
        assert literal(location) in told[0]  # attacker text rendered literally
        assert not any(char in told[0] for char in "\x1b\x07\u202e")
        clock.advance(FORGED_TELL_EVERY)  # ten minutes on: told again, with the count
        await engine.handle_line(read_from(location, key="203.0.113.51"))
        told = [m for m in warnings(engine) if "not an agent's active-responses.log" in m]
        assert len(told) == 2 and any("3 refused so far" in m for m in told), told
    finally:
        await engine.stop()
        queue.close()
