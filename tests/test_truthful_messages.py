"""What arconsole tells an operator is true, precise and said once (the truth2 sweep).

Each test pins one message that used to be wrong, vague or redundant, by its exact text or by
the property that was missing.
"""

from __future__ import annotations

import ast
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from arconsole.engine.options import Mode
from arconsole.wording import counted

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "arconsole", *args], capture_output=True,
                          text=True, timeout=60, check=False, cwd=REPO)


def test_run_help_says_what_every_mode_does() -> None:
    """`--mode` offered observe without a word on what it does."""
    result = run_cli("run", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())  # argparse wraps the help
    for mode in Mode:
        assert f"{mode.value}: " in text, mode
    assert "observe: Wazuh's own execd runs the responses" in text


def alert_json(rule_id: str, level: int = 5) -> str:
    return json.dumps({
        "timestamp": "2024-01-01T00:00:00.000+0000",
        "rule": {"level": level, "description": "t", "id": rule_id, "groups": ["sshd"]},
        "agent": {"id": "001", "name": "web"}, "id": "1.1",
        "data": {"srcip": "203.0.113.9"}, "location": "/var/log/auth.log"})


def test_explain_text_counts_agree_and_a_block_without_command_is_named_so(
    tmp_path: Path,
) -> None:
    """The header said '2 <active-response> block(s)', a block without <command> was labelled
    '#1 0' (its empty name plus timeout 0), the summary counted an unreadable line as an alert
    as well ('1 alert(s), 1 unreadable' for one line), and a rules_id list read exactly as
    written still said '(read as 5710)'."""
    conf = tmp_path / "ossec.conf"
    conf.write_text(
        "<ossec_config><global><white_list>10.0.0.1</white_list></global>"
        "<command><name>firewall-drop</name><executable>firewall-drop</executable>"
        "<timeout_allowed>yes</timeout_allowed></command>"
        "<active-response><repeated_offenders>30</repeated_offenders></active-response>"
        "<active-response><command>firewall-drop</command><location>local</location>"
        "<rules_id>5710</rules_id></active-response></ossec_config>")
    alerts = tmp_path / "alerts.json"
    alerts.write_text(alert_json("5712") + "\n{not json\n")
    done = run_cli("explain", "--format", "text", str(conf), str(alerts))
    assert done.returncode == 1, done.stderr
    out = done.stdout
    assert out.startswith(f"{conf}: 2 <active-response> blocks, flavour wazuh, "
                          "1 white-list entry\n")
    assert "  -  #1 (no <command>) (line 1): never fires: no <command>/<location>" in out
    assert "  -  #2 firewall-drop0 (line 1): not bound: rule 5712 is not in " \
        "<rules_id>5710</rules_id>\n" in out
    assert "\n1 alert, 1 unreadable; fired: nothing\n" in out


def test_counted_agrees_with_its_number() -> None:
    assert [counted(n, "block") for n in (0, 1, 2)] == ["0 blocks", "1 block", "2 blocks"]
    assert counted(1, "entry", "entries") == "1 entry"
    assert counted(3, "entry", "entries") == "3 entries"


PLURAL_HEDGE = re.compile(r"[a-z]\(s\)")


def test_no_message_hedges_a_plural_with_s_in_brackets() -> None:
    """'1 block(s) restored', '3 error(s)': every count says its noun in the right number
    (`counted`). frozen.py's TypeErrors are for developers, not operators."""
    found = []
    for path in sorted((REPO / "arconsole").rglob("*.py")):
        if path.name == "frozen.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and PLURAL_HEDGE.search(node.value):
                found.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value!r}")
    assert found == []


ERRORS_CONF = """<ossec_config>
<command><name>x</name><executable>x</executable><expect>srcip</expect></command>
""" + "".join(f"<active-response><command>y{n}</command><location>local</location>"
              "<level>3</level></active-response>\n" for n in range(7)) + "</ossec_config>\n"


def test_explain_names_the_flavour_s_daemon_and_says_how_many_errors_it_left_out(
    tmp_path: Path,
) -> None:
    """An OSSEC config with errors: 'Wazuh would refuse to start with it' was said for OSSEC
    too, and only the first five errors were listed, with no word of the others."""
    conf = tmp_path / "ossec.conf"
    conf.write_text(ERRORS_CONF)
    done = subprocess.run([sys.executable, "-m", "arconsole", "explain", "--format", "jsonl",
                           "--flavour", "ossec", str(conf)], input="", capture_output=True,
                          text=True, timeout=60, check=False, cwd=REPO)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == (f"arconsole explain: {conf} has 7 errors; OSSEC would refuse to start "
                        "with it. The decisions below use the blocks that could be read.")
    assert len(lines) == 1 + 5 + 1
    assert lines[-1] == f"  ... and 2 more: arconsole check {conf}"


def test_the_config_outline_counts_diagnostics_in_the_right_number() -> None:
    """'Diagnostics (1 errors, 1 warnings)'."""
    from arconsole.config.loader import load_config_text
    from arconsole.console.config_outline import build_outline

    config = load_config_text(
        "<ossec_config><active-response><command>nope</command><location>local</location>"
        "<level>3</level><agent_id>001</agent_id></active-response></ossec_config>",
        "ossec.conf")
    titles = [item.title for item in build_outline(config).children]
    assert "Diagnostics (1 error, 1 warning)" in titles, titles


def run_dry_until(home: Path, log: Path, *options: str, until: Callable[[str], bool]) -> None:
    """`arconsole run --mode dry-run` on the home's config until its log (appended to `log`)
    satisfies `until`, then stopped with SIGTERM (exit 0)."""
    with log.open("ab") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "arconsole", "run", str(home / "etc" / "ossec.conf"),
             "--mode", "dry-run", *options], stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 30
        while not until(log.read_text()):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log.read_text()


def test_run_start_line_counts_only_the_blocks_it_restored(tmp_path: Path) -> None:
    """On a fresh state file with --from-start, the backlog's blocks were counted as
    'restored' when the start line was written after the backlog was read."""
    home = dry_run_home(tmp_path)
    log = home / "dry.log"
    text = log.read_text()
    started = [line for line in text.splitlines() if "engine started" in line]
    assert len(started) == 1 and started[0].endswith(", 0 blocks restored"), text
    assert text.count("block added:") == 3
    # The stop line: nothing ran in a dry run, and it says so.
    assert "3 alerts, 3 responses imagined (dry run: none ran), 0 unreadable lines, " \
        "3 blocks kept" in text
    # The next start brings the three back from the state file, and says so.
    run_dry_until(home, log, until=lambda text: text.count("engine started") >= 2)
    started = [line for line in log.read_text().splitlines() if "engine started" in line]
    assert started[1].endswith(", 3 blocks restored"), started


def test_the_run_log_says_a_dry_run_ran_nothing_and_who_all_is() -> None:
    """'add (dry-run) ... continue: ok' said a script that never ran was ok (and 'continue'
    alone did not say it is the engine's answer); 'for agent all' read as an agent named
    all."""
    from arconsole.engine.eventlog import describe
    from arconsole.engine.events import ScriptRan, Undelivered

    def ran(action: str, *, ok: bool = True, error: str | None = None) -> str:
        return describe(ScriptRan(1.0, action, "active-response/bin/firewall-drop",
                                  "firewall-drop-203.0.113.9", "continue", None, False, ok,
                                  error, "", 0.0))[1]

    assert ran("add (dry-run)") == ("add (dry-run) active-response/bin/firewall-drop key "
                                    "firewall-drop-203.0.113.9, answered continue: nothing run")
    assert ran("add") == ("add active-response/bin/firewall-drop key "
                          "firewall-drop-203.0.113.9, answered continue: ok")
    assert ran("add (dry-run)", ok=False, error="refused").endswith(": refused")
    assert describe(Undelivered(1.0, "disable-account3600", "all", "1.1"))[1] == (
        "disable-account3600 for all agents (alert 1.1) not delivered: no agent transport "
        "configured")
    assert describe(Undelivered(1.0, "firewall-drop600", "001", "1.1"))[1].startswith(
        "firewall-drop600 for agent 001 (alert 1.1)")


def dry_run_home(tmp_path: Path) -> Path:
    """A home whose state file holds three blocks a dry run imagined (rec-203.0.113.1..3),
    from a first start on a fresh state file with --from-start (its log: `dry.log`)."""
    from tests.engine_support import alert_line, command, make_home, recorder, response

    home = make_home(tmp_path, [command("rec")], [response("rec", level=5, timeout=600)],
                     {"rec": recorder()})
    alerts = home / "logs" / "alerts" / "alerts.json"
    alerts.write_bytes(b"".join(alert_line(f"1.{n}", srcip=f"203.0.113.{n}") + b"\n"
                                for n in range(1, 4)))
    run_dry_until(home, home / "dry.log", "--from-start", until=lambda text: (
        text.count("block added:") >= 3 and "engine started" in text))
    return home


def test_offline_actions_on_a_dry_run_s_blocks_find_them_and_lose_none(
    tmp_path: Path,
) -> None:
    """With no engine running, `blocks extend KEY` on a block `blocks list` showed as
    'active (dry-run)' said 'no such block' (the private enforcing engine had dropped every
    dry-run block from the state file); forgetting one said 'whatever it holds stays in
    force' of a block that never held anything."""
    from tests.engine_support import records

    home = dry_run_home(tmp_path)
    where = ["--home", str(home)]

    def keys() -> list[str]:
        listing = json.loads(run_cli("blocks", "list", *where, "--format", "json").stdout)
        return sorted(str(block["key"]) for block in listing)

    assert keys() == ["rec-203.0.113.1", "rec-203.0.113.2", "rec-203.0.113.3"]
    extended = run_cli("blocks", "extend", "rec-203.0.113.1", "60", *where)
    assert extended.returncode == 0, extended.stdout + extended.stderr
    assert "extended by 60s" in extended.stdout
    forgot = run_cli("blocks", "forget", "rec-203.0.113.2", *where)
    assert forgot.stdout == ("forget rec-203.0.113.2: done: forgotten (active, a dry run's "
                             "block: nothing was ever in force)\n")
    again = run_cli("blocks", "forget", "rec-203.0.113.2", *where)
    assert again.returncode == 1
    assert again.stdout == ("forget rec-203.0.113.2: FAILED: no such block ('arconsole blocks "
                            "list' with the same --home or --state shows the keys)\n")
    assert keys() == ["rec-203.0.113.1", "rec-203.0.113.3"]  # the others are still there
    assert records(home) == []  # no script ever ran


LOG_LINE = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d arconsole (info|warning|error): ")


def test_the_followers_own_words_are_run_log_lines(tmp_path: Path) -> None:
    """The alerts follower speaks through Python logging: its warnings ('cannot read ...;
    trying again') reached stderr bare, with no time or level, and its infos (a rotation, a
    truncation) were dropped. Now each is a line of the run log."""
    from tests.engine_support import alert_line, command, make_home, recorder, response

    home = make_home(tmp_path, [command("rec")], [response("rec", level=5, timeout=600)],
                     {"rec": recorder()})
    alerts = home / "logs" / "alerts" / "alerts.json"
    alerts.write_bytes(b"")
    log = home / "engine.log"
    with log.open("ab") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "arconsole", "run", str(home / "etc" / "ossec.conf"),
             "--mode", "dry-run"], stdout=subprocess.DEVNULL, stderr=err)
    socket = home / "var" / "arconsole" / "state.db.sock"

    def wait(what: str) -> None:
        deadline = time.monotonic() + 30
        while what not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)

    try:
        deadline = time.monotonic() + 30
        while not socket.exists():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        alerts.write_bytes(alert_line("1.1", srcip="203.0.113.1") + b"\n")
        wait("block added: rec-203.0.113.1")
        alerts.rename(alerts.with_name("alerts.json.1"))
        alerts.write_bytes(alert_line("1.2", srcip="203.0.113.2") + b"\n")
        wait("block added: rec-203.0.113.2")
        wait("was rotated")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    lines = log.read_text().splitlines()
    assert [line for line in lines if not LOG_LINE.match(line)] == []
    assert any(line.endswith(f"arconsole info: {alerts} was rotated: reading the new file from "
                             "its start") for line in lines), lines


def test_the_readme_lists_every_blocks_action() -> None:
    """README's command list left out `blocks forget` and `blocks reconcile`."""
    import argparse

    from arconsole.cli import build_parser

    readme = (REPO / "README.md").read_text()
    parser = build_parser()
    blocks = next(action for action in parser._actions
                  if isinstance(action, argparse._SubParsersAction)).choices["blocks"]
    actions = next(action for action in blocks._actions
                   if isinstance(action, argparse._SubParsersAction)).choices
    assert len(actions) >= 6
    for name in actions:
        assert f"    arconsole blocks {name} " in readme, name


def test_an_undelivered_agent_response_names_the_transport_that_would_deliver_it() -> None:
    """'arconsole runs responses on the manager only' was false since run delivers to agents
    with --agent-transport wazuh-queue."""
    from arconsole.engine.outcome import NO_TRANSPORT

    assert "manager only" not in NO_TRANSPORT
    assert NO_TRANSPORT == ("no agent transport configured (arconsole run --agent-transport "
                            "wazuh-queue delivers to agents)")
    help_text = " ".join(run_cli("run", "--help").stdout.split())
    assert "--agent-transport none|wazuh-queue[=PATH]" in help_text


async def test_the_console_does_not_call_an_agent_s_response_undelivered_when_it_is_sent(
    tmp_path: Path,
) -> None:
    """The console's alert detail said 'not delivered to agent 001: no agent transport
    configured' even when its engine ran with --agent-transport wazuh-queue."""
    from arconsole.console.explain import explain_alert
    from arconsole.engine.link import LocalLink
    from arconsole.engine.requests import status_of
    from tests.engine_support import alert_line, started
    from tests.fleet_support import fleet_engine, fleet_home

    home = fleet_home(tmp_path)
    raw = alert_line("1.1", rule_id="5710", agent_id="001").decode()
    engine = await fleet_engine(home)
    try:
        assert status_of(engine)["agent_transport"] is True
        assert LocalLink(engine).status.agent_transport is True
        text = explain_alert(engine.context.config, raw,
                             transport=LocalLink(engine).status.agent_transport).plain
    finally:
        await engine.stop()
    assert "no agent transport" not in text
    assert "at 001: goes to agent 001 through the manager's queue" in text
    assert "whether it left, was confirmed or failed" in text  # not claimed sent
    plain = await started(home)
    try:
        assert status_of(plain)["agent_transport"] is False
        text = explain_alert(plain.context.config, raw,
                             transport=LocalLink(plain).status.agent_transport).plain
    finally:
        await plain.stop()
    assert "at 001: not delivered to agent 001: no agent transport configured" in text


def test_a_bad_agents_file_is_named_and_said_once(tmp_path: Path) -> None:
    """'arconsole explain: not JSON: JSON is malformed: invalid character (byte 0)' named no
    file and said JSON twice (a reload said 'AgentsFileError: not JSON: ...')."""
    agents = tmp_path / "agents.json"
    agents.write_text("hello\n")
    done = subprocess.run([sys.executable, "-m", "arconsole", "explain",
                           str(REPO / "sample-conf" / "etc" / "ossec.conf"), "--agents",
                           str(agents)], input="", capture_output=True, text=True, timeout=60,
                          check=False, cwd=REPO)
    assert done.returncode == 2
    assert done.stderr == f"arconsole explain: {agents}: not JSON: invalid character (byte 0)\n"


def test_an_alert_line_that_is_not_json_says_json_once() -> None:
    """A bad alerts.json line read 'not JSON: JSON is malformed: invalid character (byte 4)'."""
    from arconsole.alerts.jsonreader import decode_alert_line
    from arconsole.alerts.model import AlertError

    try:
        decode_alert_line(b"not json")
    except AlertError as error:
        assert str(error) == "not JSON: invalid character (byte 4)"
    else:
        raise AssertionError("decoded")


def test_a_bad_agents_entry_reads_as_alerts_lines_do(tmp_path: Path) -> None:
    """msgspec's errors reached the agents file's message raw (`int | str` in backquotes)
    while the alerts reader said them in quotes: one helper (`wording.json_error`) now."""
    agents = tmp_path / "agents.json"
    agents.write_text('[{"id": [1]}]\n')
    done = subprocess.run([sys.executable, "-m", "arconsole", "explain",
                           str(REPO / "sample-conf" / "etc" / "ossec.conf"), "--agents",
                           str(agents)], input="", capture_output=True, text=True, timeout=60,
                          check=False, cwd=REPO)
    assert done.returncode == 2
    assert done.stderr == (f"arconsole explain: {agents}: not a JSON array of agents: "
                           "Expected 'int | str', got 'array' - at '$[0].id'\n")


def test_msgspecs_words_are_reworded_in_one_place() -> None:
    """The prefix msgspec puts before a malformed document is cut by `wording.json_error`
    only: the readers of alerts lines and of agents files used to do it each their own way."""
    sources = [path for path in (REPO / "arconsole").rglob("*.py")
               if "JSON is malformed" in path.read_text()]
    assert sources == [REPO / "arconsole" / "wording.py"]
