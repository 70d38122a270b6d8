"""An AR log alert counts for the fleet only when it was read from an agent's
active-responses.log.

Wazuh's `ar_log_json` decoder knows an AR log line by its text alone
(`^YYYY/MM/DD hh:mm:ss active-response/bin/<program>: `, `0010-active-response_decoders.xml`),
and a syslog line's message is decoded after its header: any user of an agent who can run
`logger` (or any program whose log lines start with text they choose) raises a rule 650-658
alert with the content they like, whose `location` is the file or journal it came from. Such a
line must neither add a row, nor lift a block Wazuh's execd holds, nor confirm a delivery.
Real engine, real Unix datagram socket standing for Wazuh's queue.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arconsole.engine.clock import ManualClock
from tests.engine_support import T0
from tests.fleet_support import bind_queue, fleet_engine, fleet_home
from tests.test_hostile_fleet import ar_alert


def read_from(location: str, *, command: str = "add", key: str = "198.51.100.7") -> bytes:
    document = json.loads(ar_alert("002", "active-response/bin/firewall-drop", key,
                                   command=command))
    document["location"] = location
    return json.dumps(document, separators=(",", ":")).encode()


GENUINE = ["/var/ossec/logs/active-responses.log", "/opt/ossec/logs/active-responses.log",
           "active-response\\active-responses.log"]  # Linux, another prefix, Windows
FORGED = ["journald", "/var/log/syslog", "/var/log/active-responses.log.txt", "192.0.2.7",
          "/var/ossec/logs/active-responses.log/../../../var/log/syslog"]


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
async def test_a_line_from_another_log_neither_adds_nor_lifts(
        tmp_path: Path, location: str) -> None:
    home = fleet_home(tmp_path)
    queue = bind_queue(home)
    engine = await fleet_engine(home, ManualClock(T0))
    try:
        await engine.handle_line(read_from(location, key="203.0.113.50"))  # a fake block
        await engine.handle_line(read_from(GENUINE[0]))  # the block Wazuh's execd holds
        await engine.handle_line(read_from(location, command="delete"))  # hiding it
        await engine.drain()
        listing = engine.fleet.listing()
        assert [(row["target"], row["state"]) for row in listing] == [
            ("198.51.100.7", "active")], listing
        assert engine.stats.input_errors == 2  # each forged line counted and skipped
    finally:
        await engine.stop()
        queue.close()
