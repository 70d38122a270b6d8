"""A line nested deeper than the JSON decoders go is a bad line, counted and skipped.

msgspec (and the json module) stop at Python's recursion limit, about a thousand levels, and
raise RecursionError, not a decode error. A 64 KiB line holds 32 000 levels; Wazuh writes a
JSON log's nested objects back as nested objects in `data`. Such a line took the engine's
follower down and, started again at the same line, down again every second: no alert after it
was ever decided. Real `arconsole run` on a real file, the real `explain` command, the
console's explanation of an alert.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from arconsole.config.loader import load_config_text
from arconsole.console.explain import explain_alert
from arconsole.console.screens.detail import DetailScreen
from tests.console_support import console, screen_text, settle
from tests.engine_support import alert_line, command, make_home, recorder, response
from tests.hostile_support import REPO, blocked, run_until_blocked


def deep(where: str, depth: int = 5000) -> bytes:
    """An alert whose `where` member (data, full_log's neighbour...) nests `depth` arrays."""
    document = json.loads(alert_line("1.1", srcip="203.0.113.66"))
    line = json.dumps(document, separators=(",", ":"))
    nested = "[" * depth + "]" * depth
    if where == "data":
        line = line.replace('"data":{', f'"data":{{"x":{nested},', 1)
    else:
        line = line.replace('"id":"1.1"', f'"id":"1.1","{where}":{nested}', 1)
    return line.encode()


def test_the_engine_skips_a_deep_line_and_decides_the_next(tmp_path: Path) -> None:
    home = make_home(tmp_path, [command("rec", timeout_allowed=False)],
                     [response("rec", level=5)], {"rec": recorder()})
    path = home / "logs" / "alerts" / "alerts.json"
    path.write_bytes(deep("data") + b"\n" + deep("full_log") + b"\n"
                     + alert_line("1.2", srcip="198.51.100.2") + b"\n")
    text = run_until_blocked(home, "198.51.100.2", "--from-start",
                             what="the line after the deep ones")
    assert blocked(home) == ["198.51.100.2"], text
    assert text.count("nested too deeply") == 2 and "starting again" not in text, text
    assert "Traceback" not in text


def test_explain_reports_a_deep_line_and_goes_on(tmp_path: Path) -> None:
    conf = tmp_path / "ossec.conf"
    conf.write_text("<ossec_config><command><name>firewall-drop</name><executable>"
                    "firewall-drop</executable></command><active-response><command>"
                    "firewall-drop</command><location>local</location><level>5</level>"
                    "</active-response></ossec_config>")
    alerts = tmp_path / "alerts.json"
    alerts.write_bytes(deep("data") + b"\n" + alert_line("1.2") + b"\n")
    done = subprocess.run(
        [sys.executable, "-m", "arconsole", "explain", "--format", "jsonl", str(conf),
         str(alerts)], capture_output=True, text=True, timeout=60,
        env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "nested too deeply" in done.stdout + done.stderr
    assert '"fires": true' in done.stdout or '"fires":true' in done.stdout


@pytest.mark.parametrize("where", ["data", "full_log"])
def test_the_consoles_explanation_of_a_deep_line_is_a_sentence(where: str) -> None:
    config = load_config_text("<ossec_config></ossec_config>", "ossec.conf")
    text = explain_alert(config, deep(where).decode()).plain
    assert "cannot be decided" in text and "nested too deeply" in text


async def test_the_consoles_detail_of_the_deepest_alert_read_shows_it(tmp_path: Path) -> None:
    """The deepest line the engine reads (following runs in a task of its own, on a short
    stack) is deeper than the detail's pretty-printer goes, called from a key's handler."""
    async with console(tmp_path) as c:
        for depth in range(995, 700, -5):  # the first the engine reads, on a task's stack
            await asyncio.get_running_loop().create_task(
                c.engine.handle_line(deep("data", depth)))
            if c.engine.stats.alerts:
                break
        await settle(c)
        assert len(c.app.main.ring) == 1, "the engine read one line"
        await c.press("2", "enter")
        assert isinstance(c.app.screen, DetailScreen)
        assert "203.0.113.66" in screen_text(c.app)
        await c.press("escape")
        assert len(c.app.screen_stack) == 1
