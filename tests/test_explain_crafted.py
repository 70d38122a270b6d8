"""`arconsole explain` refuses alerts whose decision keys are repeated or re-cased (issue 11
item 2): each such line is reported unreadable as crafted, and decides nothing.

Runs the real command (`python -m arconsole explain`) on files in tmp_path; the shapes are the
library's (tests/test_alerts_crafted.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_alerts_crafted import AGENT, RULE, SHAPES, line

REPO = Path(__file__).resolve().parents[1]
CONFIG = """<ossec_config>
  <global><white_list>10.0.0.0/8</white_list></global>
  <command><name>firewall-drop</name><executable>firewall-drop</executable>
    <timeout_allowed>yes</timeout_allowed></command>
  <active-response><command>firewall-drop</command><location>local</location>
    <level>6</level><timeout>600</timeout></active-response>
</ossec_config>
"""


def run_explain(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "arconsole", "explain", *map(str, args)],
        capture_output=True, text=True, timeout=60, env=env, cwd=REPO,
    )


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    (tmp_path / "ossec.conf").write_text(CONFIG)
    plain = line(RULE, AGENT, '"data":{"srcip":"8.8.8.8"}')
    (tmp_path / "alerts.json").write_bytes(
        b"\n".join([raw for _, raw, _ in SHAPES] + [plain]) + b"\n"
    )
    return tmp_path


def test_every_shape_is_unreadable_as_crafted_in_jsonl(home: Path) -> None:
    done = run_explain(home / "ossec.conf", home / "alerts.json", "--format", "jsonl")
    assert done.returncode == 1, done.stderr  # some lines could not be read
    assert "Traceback" not in done.stderr
    objects = [json.loads(text) for text in done.stdout.splitlines()]
    assert [o["line"] for o in objects] == list(range(1, len(SHAPES) + 2))
    for (name, _, path), obj in zip(SHAPES, objects, strict=False):
        assert list(obj) == ["line", "error"], name
        assert obj["error"].startswith(f"crafted: key '{path}'"), (name, obj["error"])
    plain = objects[-1]
    assert plain["error"] is None and plain["srcip"] == "8.8.8.8"
    assert plain["responses"][0]["fires"] is True  # the same alert, written plainly, fires


def test_text_report_names_the_key_and_escapes_it(home: Path) -> None:
    hostile = line(RULE, AGENT, '"data":{"SrcIP\\u001b[2J":"x","SrcIp":"10.20.0.5"}')
    (home / "alerts.json").write_bytes(hostile + b"\n")
    done = run_explain(home / "ossec.conf", home / "alerts.json", "--format", "text")
    assert done.returncode == 1, done.stderr
    assert "\x1b" not in done.stdout
    assert "line 1: unreadable: crafted: key 'data.SrcIp' differs from 'srcip' only by case" \
        in done.stdout
    assert "\n0 alerts, 1 unreadable; fired: nothing" in done.stdout  # the one line
