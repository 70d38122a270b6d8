"""A blank line in alerts.json is skipped silently by the engine (issue 12 item 8): no input
error, and the alerts around it are handled. Real engine following a real file."""

from __future__ import annotations

from pathlib import Path

from tests.engine_support import (
    alert_line,
    command,
    make_home,
    new_engine,
    recorder,
    records,
    response,
    wait_for,
)


async def test_blank_lines_between_alerts_are_no_input_errors(tmp_path: Path) -> None:
    home = make_home(tmp_path, [command("rec")], [response("rec", level=5)],
                     {"rec": recorder()})
    alerts = home / "logs" / "alerts" / "alerts.json"
    alerts.write_bytes(b"\n".join([
        b"", alert_line("1.1", srcip="203.0.113.1"), b"", b"   ",
        alert_line("1.2", srcip="203.0.113.2"), b"",
    ]) + b"\n")
    engine = new_engine(home, from_start=True)
    await engine.start(follow=True)
    try:
        await wait_for(lambda: len(records(home)) == 2)
        await engine.drain()
        assert engine.stats.alerts == 2
        assert engine.stats.input_errors == 0
        # A line that really is not JSON is still reported: the check can fail.
        with alerts.open("ab") as out:
            out.write(b"not json\n" + alert_line("1.3", srcip="203.0.113.3") + b"\n")
        await wait_for(lambda: len(records(home)) == 3)
        assert engine.stats.input_errors == 1
    finally:
        await engine.stop()
