"""`arconsole explain` end to end: `python -m arconsole explain` on real files in tmp_path.

The scenario tables B.2, B.3 and B.4 of /work/shared/spec/scenarios.md run through the real
command. To keep the suite quick, scenarios that share a flavour, white list and agent list
share one config and one run: each scenario has its own blocks and alerts, and checks only the
decisions of its own blocks for its own alerts (explain reports every block for every alert).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
REAL = SHARED / "fixtures" / "real"
REPO = Path(__file__).resolve().parents[1]

COMMANDS = {
    "disable-account": (True, "user"), "restart-wazuh": (False, ""),
    "firewall-drop": (True, "srcip"), "host-deny": (True, "srcip"), "route-null": (True, "srcip"),
}
AGENTS = [
    {"id": "001", "name": "web-01", "status": "active"},
    {"id": "002", "name": "web-02", "status": "disconnected"},
    {"id": "003", "name": "db-01", "status": "active"},
    {"id": "004", "name": "db-02", "status": "active"},
]


def run_explain(*args: str | Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "arconsole", "explain", *map(str, args)],
        input=stdin.decode() if stdin is not None else None, capture_output=True, text=True,
        timeout=60, env=env, cwd=REPO,
    )


def config_text(blocks: list[str], flavour: str = "wazuh",
                white_list: tuple[str, ...] = ("127.0.0.1", "^localhost.localdomain$"),
                prefix: str = "") -> str:
    lines = ["<ossec_config>", "  <global>"]
    lines += [f"    <white_list>{entry}</white_list>" for entry in white_list]
    lines += ["  </global>"]
    for name, (stateful, expect) in COMMANDS.items():
        lines.append(f"  <command><name>{name}</name><executable>{name}</executable>"
                     + ("<timeout_allowed>yes</timeout_allowed>" if stateful else "")
                     + (f"<expect>{expect}</expect>" if flavour == "ossec" else "")
                     + "</command>")
    lines += [prefix, *blocks, "</ossec_config>", ""]
    return "\n".join(lines)


def block(command: str = "firewall-drop", location: str = "local", **options: object) -> str:
    body = "".join(f"<{name}>{value}</{name}>" for name, value in options.items())
    return (f"  <active-response><command>{command}</command><location>{location}</location>"
            f"{body}</active-response>")


def alert_line(rule_id: str | int = "5710", level: int = 5,
               groups: tuple[str, ...] = ("syslog", "sshd"), agent: str | None = "001",
               srcip: str | None = "203.0.113.9", dstuser: str | None = None,
               **compliance: list[str]) -> str:
    rule: dict[str, Any] = {"level": level, "description": "d", "id": rule_id,
                            "groups": list(groups), **compliance}
    document: dict[str, Any] = {"timestamp": "2024-01-01T00:00:00.000+0000", "rule": rule}
    if agent is not None:
        document["agent"] = {"id": agent, "name": f"host-{agent}"}
    document["id"] = "1704067200.1"
    data = {k: v for k, v in (("srcip", srcip), ("dstuser", dstuser)) if v is not None}
    if data:
        document["data"] = data
    document["location"] = "/var/log/auth.log"
    return json.dumps(document)


@dataclass
class Case:
    """One scenario: its blocks, its alerts, and what fires per alert as (block, targets)."""

    id: str
    blocks: list[str]
    alerts: list[dict[str, Any]]
    expect: list[list[tuple[int, list[str]]]]
    group: str = "wazuh"
    reason: str | None = None  # text found in the reasons of block 1 for alert 1
    offset: int = field(default=0)  # index of its first block in the shared config
    first_line: int = field(default=0)  # line of its first alert in the shared alerts file


GROUPS: dict[str, dict[str, Any]] = {
    "wazuh": {},
    "wazuh-10/8": {"white_list": ("10.0.0.0/8",)},
    "ossec": {"flavour": "ossec"},
    "ossec-10/8": {"flavour": "ossec", "white_list": ("10.0.0.0/8",)},
    "wazuh-!ip": {"white_list": ("!10.1.1.1",)},
    "ossec-!ip": {"flavour": "ossec", "white_list": ("!10.1.1.1",)},
    "wazuh-!foo": {"white_list": ("!foo",)},
    "wazuh-::1": {"white_list": ("::1",)},
    "agents": {"agents": True},
    "execd-off": {"prefix": block(level=3, disabled="yes")},
    # The first <disabled> is "no", so a later disabled block does not switch execd off.
    "execd-on": {"prefix": block(rules_id=1, disabled="no")},
}

CASES = [
    # ---- B.2 matching
    Case("M1", [block(level=6)], [{"level": 5}], [[]], reason="rule level 5 < <level>6"),
    Case("M2", [block(level=6)], [{"level": 6}], [[(1, ["001"])]]),
    Case("M3", [block(rules_group="authentication_failed")],
         [{"groups": ("syslog", "sshd", "authentication_failed")}], [[(1, ["001"])]]),
    Case("M4", [block(level=10, rules_group="authentication_failed")],
         [{"level": 5, "groups": ("authentication_failed",)}], [[]], reason="both must match"),
    Case("M5", [block(level=10, rules_group="authentication_failed")],
         [{"level": 5, "groups": ("authentication_failed",)}], [[(1, ["001"])]], group="ossec"),
    Case("M6", [block(level=10, rules_id=5710)], [{"rule_id": "5710", "level": 5}],
         [[(1, ["001"])]]),
    Case("M7", [block(level=10, rules_id=5710)], [{"rule_id": "9999", "level": 12}],
         [[(1, ["001"])]]),
    Case("M8", [block(rules_id="5710, 5712,,5716")], [{"rule_id": "5716"}], [[(1, ["001"])]]),
    Case("M9", [block(rules_id="5710;5712")], [{"rule_id": "5712"}, {"rule_id": "5710"}],
         [[], [(1, ["001"])]], reason="read as 5710"),
    Case("M10", [block(rules_id="5710-5712")], [{"rule_id": "5711"}], [[]]),
    Case("M11", [block()], [{"level": 16}], [[]], reason="binds no rule"),
    Case("M12", [block(rules_group="sshd")], [{"groups": ("web_sshd_custom",)}],
         [[(1, ["001"])]]),
    Case("M13", [block(rules_group="sshd,")], [{"groups": ("sshd_custom",)}], [[]]),
    Case("M14", [block(rules_group="SSHD,")], [{"groups": ("sshd",)}], [[(1, ["001"])]]),
    Case("M15", [block(rules_group="sshd,|pci_dss_11.4,")],
         [{"rule_id": "5712", "level": 10, "groups": ("syslog",), "pci_dss": ["11.4"]}],
         [[(1, ["001"])]]),
    Case("M16", [block(rules_group="^syslog,")],
         [{"groups": ("syslog", "sshd")}, {"groups": ("sshd", "syslog")}],
         [[(1, ["001"])], []]),
    Case("M17", [block(rules_group="web\\.attack")], [{"groups": ("web", "attack")}],
         [[(1, ["001"])]]),
    Case("M18", [block(rules_group="a(b")], [{"groups": ("a(b",)}], [[]],
         reason="not a valid OS_Regex"),
    Case("M19", [block(level=1)], [{"level": 0}], [[]], reason="level 0"),
    # M20: alerts.json cannot say a rule has no_ar: arconsole fires as for any other rule.
    Case("M20", [block(rules_id=5710)], [{"rule_id": "5710"}], [[(1, ["001"])]]),
    Case("M21", [block(level=5, timeout=600), block(level=5, timeout=600)], [{"level": 5}],
         [[(1, ["001"]), (2, ["001"])]]),
    # M22: a level-2 line never reaches alerts.json in practice; when one does, it fires.
    Case("M22", [block(rules_id=5402)], [{"rule_id": "5402", "level": 2}], [[(1, ["001"])]]),
    # ---- B.3 alert-time checks
    Case("D1", [block(level=3), block("disable-account", "server", level=3)],
         [{"srcip": "127.0.0.1", "dstuser": "bob"}], [[]], reason="<white_list>127.0.0.1"),
    Case("D2", [block(level=3)], [{"srcip": "::ffff:10.0.0.5"}], [[]], group="wazuh-10/8"),
    Case("D3", [block("disable-account", level=3)], [{"srcip": "10.0.0.5", "dstuser": "bob"}],
         [[]], group="wazuh-10/8"),
    Case("D4", [block("disable-account", level=3)], [{"srcip": "10.0.0.5", "dstuser": "bob"}],
         [[(1, ["001"])]], group="ossec-10/8"),
    Case("D5", [block(level=3)], [{"srcip": None}], [[(1, ["001"])]],
         reason="white list not applied"),
    Case("D6", [block(level=3)], [{"srcip": None}], [[]], group="ossec", reason="expects srcip"),
    Case("D7", [block(level=3), block("host-deny", "server", level=3)],
         [{"dstuser": "DOMAIN\\bob"}, {"dstuser": "bob smith"}], [[], []],
         reason="Invalid username"),
    Case("D8", [block(level=3)], [{"srcip": "1.2.3.4;rm -rf"}], [[]],
         reason="Invalid IP Address"),
    Case("D9-wazuh", [block(level=3)], [{"srcip": "10.1.1.1"}, {"srcip": "8.8.8.8"}],
         [[], [(1, ["001"])]], group="wazuh-!ip", reason="drops the '!'"),
    Case("D9-ossec", [block(level=3)], [{"srcip": "10.1.1.1"}, {"srcip": "8.8.8.8"}],
         [[(1, ["001"])], []], group="ossec-!ip"),
    Case("D9b", [block(level=3)], [{"srcip": "8.8.8.8"}], [[]], group="wazuh-!foo"),
    Case("D10", [block(level=3)], [{"srcip": "fe80::1a"}], [[]], group="wazuh-::1"),
    # ---- B.4 routing
    Case("L1", [block(level=3)], [{"agent": "001"}], [[(1, ["001"])]]),
    Case("L2", [block(level=3)], [{"agent": "000"}], [[(1, ["server"])]]),
    Case("L3", [block(location="server", level=3)], [{"agent": "003"}], [[(1, ["server"])]]),
    Case("L4", [block(location="defined-agent", agent_id="032", level=3)], [{"agent": "001"}],
         [[(1, ["032"])]]),
    Case("L5", [block(location="all", level=3)], [{"agent": "000"}],
         [[(1, ["001", "003", "004"])]], group="agents", reason="never the manager"),
    Case("L5-no-list", [block(location="all", level=3)], [{"agent": "000"}],
         [[(1, ["all"])]]),
    Case("L6", [block(location="all", level=3), block(location="server", level=3)], [{}],
         [[(1, ["001", "003", "004"]), (2, ["server"])]], group="agents"),
    Case("L7", [block(location="server,all", level=3)], [{"agent": "001"}],
         [[(1, ["server"])]], group="agents", reason="'server' wins over 'all'"),
    # L8/L9: versions and the legacy string are delivery's business: the decision names the agent.
    Case("L8-L9", [block(level=3)], [{"agent": "002"}], [[(1, ["002"])]], group="agents"),
    # ---- config facts as reasons
    Case("C13", [block(location="defined-agent", agent_id="000", level=3)], [{}], [[]],
         reason="1306"),
    Case("C16", [block("nope", level=3)], [{}], [[]], reason="unknown command 'nope'"),
    Case("C29", [block(level=3), block(level=3, disabled="yes")], [{}], [[(1, ["001"])]],
         group="execd-on"),
    Case("disabled", [block(level=3, disabled="yes")], [{}], [[]], group="execd-on",
         reason="disabled"),
    Case("C31", [block(location="server", level=3), block(level=3)],
         [{"agent": "001"}, {"agent": "000"}], [[(2, ["001"])], []], group="execd-off",
         reason="execd is off"),
]


@pytest.fixture(scope="module")
def scenario_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Run explain once per group; results by group name."""
    results: dict[str, list[dict[str, Any]]] = {}
    for name, settings in GROUPS.items():
        cases = [case for case in CASES if case.group == name]
        blocks: list[str] = []
        lines: list[str] = []
        for case in cases:
            case.offset = len(blocks) + (1 if "prefix" in settings else 0)
            case.first_line = len(lines) + 1
            blocks += case.blocks
            lines += [alert_line(**fields) for fields in case.alerts]
        folder = tmp_path_factory.mktemp("group")
        conf = folder / "ossec.conf"
        conf.write_text(config_text(blocks, settings.get("flavour", "wazuh"),
                                    settings.get("white_list", ("127.0.0.1",
                                                                "^localhost.localdomain$")),
                                    settings.get("prefix", "")))
        alerts = folder / "alerts.json"
        alerts.write_text("\n".join(lines) + "\n")
        args: list[str | Path] = [conf, alerts, "--format", "jsonl",
                                  "--flavour", settings.get("flavour", "wazuh")]
        if settings.get("agents"):
            agents = folder / "agents.json"
            agents.write_text(json.dumps(AGENTS))
            args += ["--agents", agents]
        done = run_explain(*args)
        assert done.returncode == 0, done.stderr
        results[name] = [json.loads(line) for line in done.stdout.splitlines()]
    return results


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_scenario_end_to_end(case: Case, scenario_results: dict[str, list[dict[str, Any]]]) -> None:
    objects = scenario_results[case.group]
    for number, expected in enumerate(case.expect):
        obj = objects[case.first_line - 1 + number]
        assert obj["line"] == case.first_line + number and obj["error"] is None
        own = obj["responses"][case.offset: case.offset + len(case.blocks)]
        assert [r["index"] for r in own] == [case.offset + i for i in
                                            range(1, len(case.blocks) + 1)]
        got = [(r["index"] - case.offset, r["targets"]) for r in own if r["fires"]]
        assert got == expected, [r["reasons"] for r in own]
    if case.reason is not None:
        first = objects[case.first_line - 1]["responses"][case.offset]
        assert case.reason in " | ".join(first["reasons"]), first["reasons"]


# ---------------------------------------------------------------- the command itself


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    (tmp_path / "ossec.conf").write_text(config_text([
        block(level=6, timeout=600),
        block("host-deny", "server", rules_group="sshd,|pci_dss_11.4,"),
    ]))
    return tmp_path


def test_jsonl_object_shape(home: Path) -> None:
    (home / "alerts.json").write_text(alert_line(level=10) + "\n")
    done = run_explain(home / "ossec.conf", home / "alerts.json", "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    (obj,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert list(obj) == ["line", "alert_id", "rule_id", "level", "agent_id", "srcip",
                         "dstuser", "responses", "error"]
    assert (obj["line"], obj["alert_id"], obj["rule_id"], obj["level"], obj["agent_id"],
            obj["srcip"], obj["dstuser"]) == (1, "1704067200.1", "5710", 10, "001",
                                              "203.0.113.9", None)
    first, second = obj["responses"]
    # The original fields in their order (a contract), then the added ones.
    assert list(first) == ["index", "line", "command", "name", "fires", "reasons", "targets",
                           "timeout", "stateful", "outcome", "deliveries"]
    assert (first["index"], first["command"], first["name"], first["fires"], first["targets"],
            first["timeout"], first["stateful"]) == (1, "firewall-drop", "firewall-drop600",
                                                     True, ["001"], 600, True)
    conf_lines = (home / "ossec.conf").read_text().splitlines()
    assert first["line"] == 1 + next(i for i, text in enumerate(conf_lines)
                                     if "<active-response>" in text)  # the block's own line
    assert (second["name"], second["fires"], second["targets"]) == ("host-deny0", True,
                                                                    ["server"])


@pytest.mark.skipif(not REAL.exists(), reason="shared fixtures absent")
def test_stdin_is_the_default_and_dash_reads_it(home: Path) -> None:
    data = (REAL / "alerts-sample.json").read_bytes()
    implicit = run_explain(home / "ossec.conf", stdin=data)
    dash = run_explain(home / "ossec.conf", "-", stdin=data)
    assert implicit.returncode == dash.returncode == 0, implicit.stderr
    assert implicit.stdout == dash.stdout
    objects = [json.loads(line) for line in implicit.stdout.splitlines()]
    assert [o["line"] for o in objects] == list(range(1, 19))
    assert objects[2]["responses"][0]["fires"] is True  # line 3: rule 5720, level 10, agent 004
    assert objects[2]["responses"][0]["targets"] == ["004"]


@pytest.mark.skipif(not REAL.exists(), reason="shared fixtures absent")
def test_alerts_log_is_detected(home: Path) -> None:
    done = run_explain(home / "ossec.conf", REAL / "alerts-log-sample.log", "--format", "jsonl",
                       "--agents", _agents(home))
    assert done.returncode == 0, done.stderr
    objects = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(o["line"], o["rule_id"], o["level"]) for o in objects] == [
        (1, "5710", 5), (7, "550", 7), (17, "80705", 3)]
    # Record 2 (agent "ubuntu", level 7): `local` needs the agent's id, and the list lacks it.
    syscheck = objects[1]["responses"][0]
    assert syscheck["fires"] is False and "--agents" in " ".join(syscheck["reasons"])
    assert objects[0]["srcip"] == "18.18.18.18"
    assert objects[0]["responses"][1]["fires"] is True  # sshd, -> host-deny on the manager


def _agents(home: Path) -> Path:
    path = home / "agents.json"
    path.write_text(json.dumps(AGENTS))
    return path


@pytest.mark.skipif(not REAL.exists(), reason="shared fixtures absent")
def test_D10_unreadable_lines_are_reported_and_skipped(home: Path) -> None:
    invalid = (REAL / "alerts-invalid-sample.txt").read_text().strip()
    huge = '{"rule":{"id":"1","level":3},"full_log":"' + "x" * 70000 + '"}'
    lines = [alert_line(level=10), invalid, "[1,2]", huge, "", alert_line(level=10)]
    (home / "alerts.json").write_text("\n".join(lines) + "\n")
    done = run_explain(home / "ossec.conf", home / "alerts.json")
    assert done.returncode == 1  # some lines could not be read
    objects = [json.loads(line) for line in done.stdout.splitlines()]
    assert [o["line"] for o in objects] == [1, 2, 3, 4, 6]
    assert [o["error"] is None for o in objects] == [True, False, False, False, True]
    assert list(objects[1]) == ["line", "error"]
    assert "64 KiB" in objects[3]["error"]
    assert objects[4]["responses"][0]["fires"] is True


def test_text_report_for_people(home: Path) -> None:
    lines = [alert_line(level=10, srcip="127.0.0.1"), alert_line(level=10),
             alert_line(level=3, dstuser="x\x1b[31mred\u202e")]
    (home / "alerts.json").write_text("\n".join(lines) + "\n")
    done = run_explain(home / "ossec.conf", home / "alerts.json", "--format", "text")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "line 2: alert 1704067200.1: rule 5710 level 10" in out
    assert "+  #1 firewall-drop600" in out and "-> 001 [stateful 600 s]" in out
    assert "-> manager [stateless]" in out
    assert "white-listed by <white_list>127.0.0.1</white_list>" in out
    assert "\n3 alerts, 0 unreadable; fired: firewall-drop600 x1, host-deny0 x1" in out
    assert "no_ar" in out  # the note about what alerts.json cannot show
    # Attacker text reaches the terminal escaped (Part E D8).
    assert "\x1b" not in out and "\u202e" not in out
    assert "x\\x1b[31mred\\u202e" in out


def test_flavour_option(home: Path) -> None:
    (home / "ossec.conf").write_text(config_text(
        [block(level=10, rules_group="authentication_failed")], flavour="ossec"))
    (home / "alerts.json").write_text(alert_line(level=5, groups=("authentication_failed",)))
    wazuh = run_explain(home / "ossec.conf", home / "alerts.json")
    ossec = run_explain(home / "ossec.conf", home / "alerts.json", "--flavour", "ossec")
    assert json.loads(wazuh.stdout)["responses"][0]["fires"] is False
    assert json.loads(ossec.stdout)["responses"][0]["fires"] is True


def test_unreadable_inputs_exit_2(home: Path) -> None:
    missing_config = run_explain(home / "nope.conf", stdin=b"")
    assert missing_config.returncode == 2 and "cannot read" in missing_config.stderr
    missing_alerts = run_explain(home / "ossec.conf", home / "nope.json")
    assert missing_alerts.returncode == 2 and "nope.json" in missing_alerts.stderr
    (home / "agents.json").write_text('{"not": "a list"}')
    bad_agents = run_explain(home / "ossec.conf", "--agents", home / "agents.json", stdin=b"")
    assert bad_agents.returncode == 2 and "agents" in bad_agents.stderr


def test_config_errors_are_warned_about_but_explained(home: Path) -> None:
    (home / "ossec.conf").write_text(config_text([block("nope", level=3), block(level=3)]))
    done = run_explain(home / "ossec.conf", stdin=alert_line().encode())
    assert done.returncode == 0
    assert "1303" in done.stderr and "refuse to start" in done.stderr
    responses = json.loads(done.stdout)["responses"]
    assert [r["fires"] for r in responses] == [False, True]


def test_empty_input_gives_nothing(home: Path) -> None:
    done = run_explain(home / "ossec.conf", stdin=b"\n\n")
    assert (done.returncode, done.stdout) == (0, "")


# ---------------------------------------------------------------- what would really happen


def outcome_home(tmp_path: Path) -> Path:
    (tmp_path / "ossec.conf").write_text(config_text([
        block("firewall-drop", "local", level=5, timeout=600),
        block("disable-account", "server", level=5, timeout=600),
        block("restart-wazuh", "server", level=5),
    ]))
    return tmp_path


def explain_one(home: Path, line: str) -> tuple[dict[str, Any], str]:
    (home / "alerts.json").write_text(line + "\n")
    jsonl = run_explain(home / "ossec.conf", home / "alerts.json")
    text = run_explain(home / "ossec.conf", home / "alerts.json", "--format", "text")
    assert jsonl.returncode == 0 and text.returncode == 0, jsonl.stderr + text.stderr
    return json.loads(jsonl.stdout), text.stdout


def test_firewall_drop_without_srcip_fires_but_the_script_refuses(tmp_path: Path) -> None:
    obj, text = explain_one(outcome_home(tmp_path), alert_line(agent="000", srcip=None))
    drop, account, restart = obj["responses"]
    assert drop["fires"] is True  # Wazuh's decision is unchanged (contract)
    assert drop["outcome"] == "script-refuses"
    assert drop["deliveries"] == [{
        "target": "server", "outcome": "script-refuses",
        "detail": "fires, but firewall-drop needs srcip and this alert has none"}]
    assert account["outcome"] == "script-refuses"
    assert "disable-account needs dstuser and this alert has none" in text
    # restart-wazuh keys on nothing: it would run.
    assert restart["outcome"] == "would-run"
    assert "=> would run active-response/bin/restart-wazuh on the manager" in text
    assert "=> fires, but firewall-drop needs srcip and this alert has none" in text
    assert "(1 would run, 2 refused by the script)" in text


def test_agent_target_is_not_delivered(tmp_path: Path) -> None:
    obj, text = explain_one(outcome_home(tmp_path), alert_line(agent="010", dstuser="alice"))
    drop, account, _ = obj["responses"]
    assert (drop["fires"], drop["targets"], drop["outcome"]) == (True, ["010"], "not-delivered")
    assert drop["deliveries"][0]["detail"].startswith(
        "not delivered to agent 010: no agent transport configured")
    assert "=> not delivered to agent 010: no agent transport configured" in text
    assert account["outcome"] == "would-run"  # dstuser alice, on the manager
    assert "=> would run active-response/bin/disable-account on the manager" in text


def test_srcip_is_read_as_the_stock_scripts_read_it(tmp_path: Path) -> None:
    home = outcome_home(tmp_path)
    windows = json.loads(alert_line(agent="000", srcip=None))
    windows["data"] = {"win": {"eventdata": {"ipAddress": "198.51.100.4"}}}
    obj, _ = explain_one(home, json.dumps(windows))
    assert obj["responses"][0]["outcome"] == "would-run"  # Windows events carry it there
    named = alert_line(agent="000", srcip="attacker.example")
    obj, text = explain_one(home, named)
    assert obj["responses"][0]["outcome"] == "script-refuses"
    assert "firewall-drop needs srcip as a numeric address and this alert's is " \
           "'attacker.example'" in text
    # The first present field decides, as in the scripts: a bad ipAddress is not skipped.
    windows["data"] = {"win": {"eventdata": {"ipAddress": "-", "destinationIp": "198.51.100.4"}}}
    obj, _ = explain_one(home, json.dumps(windows))
    assert obj["responses"][0]["outcome"] != "would-run"
    # A srcip that disagrees with the scripts' address is refused as crafted (exit 1: a line
    # that cannot be decided).
    windows["data"] = {"srcip": "198.51.100.4", "win": {"eventdata": {"ipAddress": "-"}}}
    (home / "alerts.json").write_text(json.dumps(windows) + "\n")
    refused = run_explain(home / "ossec.conf", home / "alerts.json")
    assert json.loads(refused.stdout)["error"].startswith("crafted: data.srcip '198.51.100.4'")


def test_root_is_refused_by_disable_account(tmp_path: Path) -> None:
    obj, text = explain_one(outcome_home(tmp_path), alert_line(agent="000", dstuser="root"))
    assert obj["responses"][1]["outcome"] == "script-refuses"
    assert "disable-account refuses dstuser 'root'" in text


def test_closing_note_cites_wazuh_not_our_spec(home: Path) -> None:
    (home / "alerts.json").write_text(alert_line(level=10) + "\n")
    out = run_explain(home / "ossec.conf", home / "alerts.json", "--format", "text").stdout
    note = out[out.index("note: "):]
    assert "spec" not in note and "as Wazuh documents them" in note
    assert "log_alert_level" in note and "no_ar" in note


async def test_explain_says_what_the_engine_does(tmp_path: Path) -> None:
    """The same config and alerts through explain and through a real engine: what explain
    calls 'would run' runs, what it calls 'not delivered' is reported undelivered."""
    from arconsole.engine.clock import ManualClock
    from arconsole.engine.events import ScriptRan, Undelivered
    from tests.engine_support import T0, command, make_home, recorder, records, response, started
    from tests.engine_support import alert_line as engine_alert

    home = make_home(tmp_path, [command("rec")],
                     [response("rec", location="local", level=5, timeout=600)],
                     {"rec": recorder()})
    lines = [engine_alert("1.1", agent_id="010", srcip="203.0.113.7"),
             engine_alert("1.2", agent_id="000", srcip="203.0.113.8")]
    alerts = home / "explain-input.json"
    alerts.write_bytes(b"".join(line + b"\n" for line in lines))
    done = run_explain(home / "etc" / "ossec.conf", alerts)
    said = [json.loads(line)["responses"][0]["outcome"] for line in done.stdout.splitlines()]
    assert said == ["not-delivered", "would-run"]

    engine = await started(home, ManualClock(T0))
    subscription = engine.bus.subscribe()
    try:
        for line in lines:
            await engine.handle_line(line)
        await engine.drain()
        events = subscription.drain()
    finally:
        await engine.stop()
    undelivered = [e for e in events if isinstance(e, Undelivered)]
    assert [(e.alert_id, e.target) for e in undelivered] == [("1.1", "010")]
    assert any(isinstance(e, ScriptRan) for e in events)
    assert [json.loads(r["stdin"])["parameters"]["alert"]["id"] for r in records(home)] == ["1.2"]


ALERTS_LOG_RECORD = "\n".join([
    "** Alert 1700000000.5: - syslog,sshd,", "2023 Nov 14 22:13:20 (web-01) any->/var/log/x",
    "Rule: 5710 (level 10) -> 'x'", "Src IP: 203.0.113.9", "log", ""])


@pytest.mark.parametrize(("flavour", "alerts"), [
    ("wazuh", "alerts.json"), ("wazuh", "alerts.log"),
    ("ossec", "alerts.json"), ("ossec", "alerts.log")])
def test_closing_note_names_the_daemon_and_the_alerts_file_read(
        tmp_path: Path, flavour: str, alerts: str) -> None:
    """The note spoke of Wazuh and alerts.json for an OSSEC config and an alerts.log input.
    OSSEC's analysisd writes an alert only at <alerts><log_alert_level> and above, runs the
    rule's responses either way, and binds none to a no_ar rule (ossec-hids
    src/analysisd/analysisd.c, rules.c Rule_AddAR)."""
    (tmp_path / "ossec.conf").write_text(config_text([block(level=6)], flavour=flavour))
    text = alert_line(level=10) + "\n" if alerts == "alerts.json" else ALERTS_LOG_RECORD
    (tmp_path / "input").write_text(text)  # the format is read from the content
    done = run_explain(tmp_path / "ossec.conf", tmp_path / "input", "--format", "text",
                       "--flavour", flavour)
    assert done.returncode == 0, done.stderr
    assert "1 alert, 0 unreadable" in done.stdout, done.stdout
    note = done.stdout[done.stdout.index("note: "):]
    assert note.startswith(f"note: arconsole sees only what reaches {alerts}. "), note
    assert "log_alert_level" in note and "no_ar" in note
    if flavour == "ossec":
        assert "Wazuh" not in note and "ossec-analysisd runs" in note, note
        assert "runs in OSSEC" in note
    else:
        assert "OSSEC" not in note and "as Wazuh documents them" in note, note
    other = "alerts.log" if alerts == "alerts.json" else "alerts.json"
    assert f"reaches {other}" not in note
