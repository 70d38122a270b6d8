"""What `arconsole run` logs when an agent's AR log changes a fleet row, and the local clock
times a row's expected end is shown in (bench/fleet_engine.py found both on the AR path)."""

from __future__ import annotations

import io
import time
from pathlib import Path

from arconsole.engine.clock import ManualClock
from arconsole.engine.eventlog import EventLogger
from arconsole.engine.fleet_table import clock_time
from tests.engine_support import T0, started
from tests.fleet_support import fleet_home
from tests.test_hostile_fleet import HOSTILE_NAME, ar_alert

ADDED_AT = 1_700_000_002  # the AR alert's own timestamp, 2023-11-14T22:13:22Z


async def test_run_logs_each_fleet_row_change_by_its_key_literally(tmp_path: Path) -> None:
    home = fleet_home(tmp_path)  # 5710 (the trigger's rule): firewall-drop, 60 s
    engine = await started(home, ManualClock(T0))
    subscription = engine.bus.subscribe(idle_alerts=False)  # as `arconsole run` does
    stream = io.StringIO()
    try:
        await engine.handle_line(ar_alert("001", "active-response/bin/firewall-drop",
                                          "198.51.100.7", agent_name=HOSTILE_NAME))
        await engine.handle_line(ar_alert("001", "active-response/bin/firewall-drop",
                                          "198.51.100.7", agent_name=HOSTILE_NAME,
                                          command="delete", rule_id="652"))
        await engine.drain()
        EventLogger(stream).flush(subscription)
    finally:
        await engine.stop()
    text = stream.getvalue()
    lines = [line for line in text.splitlines() if "fleet" in line]
    assert len(lines) == 2, text
    end = time.strftime("%H:%M:%S", time.localtime(ADDED_AT + 60))
    assert lines[0].endswith("info: fleet row added: 001:firewall-drop-198.51.100.7 (agent "
                             f"\\x1b]0;pwned\\x07[bold red]x[/][@click=app.quit]q[/]\\u202eevil"
                             f"\\u2028, rule 651, expected end {end})"), lines[0]
    assert "info: fleet row lifted: 001:firewall-drop-198.51.100.7 (agent" in lines[1]
    assert lines[1].endswith(", rule 652)"), lines[1]
    for raw in ("\x1b", "\x07", "\u202e", "\u2028"):
        assert raw not in text


def test_clock_time_is_the_local_second_each_time_falls_in() -> None:
    # Converted once per second (cached): times in one second share it, the next differs.
    for at in (T0, T0 + 0.25, T0 + 0.9999, T0 + 1, T0 + 59.5, T0 + 3600, T0 + 182 * 86400,
               T0 + 0.5):
        assert clock_time(at) == time.strftime("%H:%M:%S", time.localtime(int(at))), at
    assert clock_time(T0 + 0.9999) != clock_time(T0 + 1)
