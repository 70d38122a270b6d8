"""`arconsole-reverse` (the agent-side POSIX sh helper) attacked directly: the script that
`arconsole install-scripts --agent HOME` writes is run for real by dash and by bash in POSIX
mode, in a temp agent home, with hostile program and key arguments in the message execd
would hand it. Nothing outside `active-response/bin/<program>` may run, no text may reach a
shell as code, and a valid request still runs the program's delete.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from arconsole.engine.agent_messages import adhoc_json, reverse_json
from arconsole.scripts.agent_reverse import SCRIPT, install_agent_scripts
from arconsole.scripts.install import SCRIPT_MODE, install_scripts

SHELLS = [s for s in (["dash"], ["bash", "--posix"]) if shutil.which(s[0])]

RECORDING_PROGRAM = """#!/bin/sh
IFS= read -r line
printf '%s\\n' "$line" >> "$(pwd)/program-calls.log"
"""


def agent_home(tmp_path: Path) -> Path:
    home = tmp_path / "agent home"  # a space in the path: every expansion must be quoted
    (home / "logs").mkdir(parents=True)
    install_agent_scripts(home)
    program = home / "active-response" / "bin" / "firewall-drop"
    program.write_text(RECORDING_PROGRAM)
    program.chmod(0o755)
    return home


def run(home: Path, shell: list[str], message: bytes) -> subprocess.CompletedProcess[bytes]:
    # execd runs it from the home with a relative argv[0] and the message on stdin.
    return subprocess.run([*shell, "active-response/bin/arconsole-reverse"], cwd=home,
                          input=message + b"\n", capture_output=True, timeout=20,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(home)}, check=False)


def as_execd_sends(program: str, key: str, alert: bytes = b'{"data":{}}') -> bytes:
    # execd rewrites `!arconsole-reverse` to "add" and appends the program (spec 7.3).
    message = json.loads(adhoc_json(node_name="node01", executable="arconsole-reverse",
                                    extra_args=(program, key), alert_raw=alert))
    message["command"] = "add"
    message["parameters"]["program"] = "active-response/bin/arconsole-reverse"
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_a_valid_reverse_runs_the_programs_delete(tmp_path: Path, shell: list[str]) -> None:
    home = agent_home(tmp_path)
    raw = json.loads(reverse_json(node_name="n", program="firewall-drop", key="203.0.113.9"))
    raw["command"] = "add"
    result = run(home, shell, json.dumps(raw, separators=(",", ":")).encode())
    assert result.returncode == 0 and result.stdout == b""
    call = json.loads((home / "program-calls.log").read_text())
    assert call["command"] == "delete"
    assert call["parameters"]["alert"] == {"data": {"srcip": "203.0.113.9"}}


HOSTILE = [
    ("firewall-drop", "203.0.113.9;touch pwned"),
    ("firewall-drop", "$(touch pwned)"),
    ("firewall-drop", "`touch pwned`"),
    ("firewall-drop", "203.0.113.9 -j ACCEPT"),
    ("firewall-drop", "-rf"),
    ("firewall-drop", "1.2.3.4\n{\"version\":1}"),
    ("firewall-drop", "1.2.3.4\x1b[2J\u202e"),
    ("firewall-drop", "1.2.3.4\"],\"x\":[\""),
    ("firewall-drop", "1" * 256),
    ("firewall-drop", "*"),
    ("firewall-drop", "１.２.３.４"),  # fullwidth digits
    ("../../../bin/sh", "203.0.113.9"),
    ("/bin/sh", "203.0.113.9"),
    ("..", "203.0.113.9"),
    (".", "203.0.113.9"),
    ("-x", "203.0.113.9"),
    ("fire*", "203.0.113.9"),
    ("firewall-drop\nsh", "203.0.113.9"),
    ("firewall-drop\u202e", "203.0.113.9"),
    ("arconsole-reverse", "203.0.113.9"),
    ("missing-program", "203.0.113.9"),
    ("a" * 129, "203.0.113.9"),
    ("", "203.0.113.9"),
    ("firewall-drop", ""),
]


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
@pytest.mark.parametrize(("program", "key"), HOSTILE)
def test_hostile_program_or_key_runs_nothing(tmp_path: Path, shell: list[str], program: str,
                                             key: str) -> None:
    home = agent_home(tmp_path)
    result = run(home, shell, as_execd_sends(program, key))
    assert result.returncode == 1 and result.stdout == b""
    assert not (home / "program-calls.log").exists()
    assert not (home / "pwned").exists()
    log = (home / "logs" / "active-responses.log").read_bytes().splitlines()
    assert len(log) == 2  # the message as received, then one refusal line
    assert b"Invalid" in log[1] or b"No such program" in log[1]


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_extra_args_smuggled_in_the_trigger_alert_are_not_read(tmp_path: Path,
                                                               shell: list[str]) -> None:
    """The trigger alert is the attacker's: a fake `extra_args` inside it is never taken."""
    home = agent_home(tmp_path)
    alert = b'{"parameters":{"extra_args":["firewall-drop","203.0.113.9"]},"data":{}}'
    message = as_execd_sends("missing", "x;y", alert)
    result = run(home, shell, message)
    assert result.returncode == 1 and not (home / "program-calls.log").exists()


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_three_extra_args_or_odd_shapes_are_refused(tmp_path: Path, shell: list[str]) -> None:
    home = agent_home(tmp_path)
    for message in (
        b'{"version":1,"origin":{"name":"n","module":"arconsole"},"command":"add",'
        b'"parameters":{"extra_args":["firewall-drop","203.0.113.9","x"],"alert":{}}}',
        b'{"command":"add","parameters":{"extra_args":["firewall-drop","203.0.113.9"]}}',
        b"x" * 70_000,
        b"",
    ):
        result = run(home, shell, message)
        assert result.returncode == 1
    assert not (home / "program-calls.log").exists()


OLD_TEMPORARY = ".arconsole-reverse.tmp"  # the fixed name the install once wrote through


@pytest.mark.parametrize("plant", ["symlink", "hard link"])
def test_install_neither_follows_nor_rewrites_what_is_planted_at_a_temporary_name(
        tmp_path: Path, plant: str) -> None:
    home = tmp_path / "agent"
    bin_dir = home / "active-response" / "bin"
    bin_dir.mkdir(parents=True)
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    planted = bin_dir / OLD_TEMPORARY
    if plant == "symlink":
        planted.symlink_to(victim)
    else:
        os.link(victim, planted)
    assert install_agent_scripts(home) == [bin_dir / "arconsole-reverse"]
    assert victim.read_text() == "keep\n"
    assert os.path.lexists(planted)  # not ours: left as it was
    script = bin_dir / "arconsole-reverse"
    assert not script.is_symlink() and script.read_text() == SCRIPT
    assert os.stat(script).st_nlink == 1 and not os.path.samefile(script, victim)


def test_install_makes_the_folder_and_script_as_the_stock_install_does(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        install_agent_scripts(tmp_path / "agent")
        install_scripts(tmp_path / "manager")
    finally:
        os.umask(old)
    agent_bin = tmp_path / "agent" / "active-response" / "bin"
    manager_bin = tmp_path / "manager" / "active-response" / "bin"
    assert stat.S_IMODE(agent_bin.stat().st_mode) == 0o750
    assert stat.S_IMODE(agent_bin.stat().st_mode) == stat.S_IMODE(manager_bin.stat().st_mode)
    assert stat.S_IMODE((agent_bin / "arconsole-reverse").stat().st_mode) == SCRIPT_MODE
    assert sorted(p.name for p in agent_bin.iterdir()) == ["arconsole-reverse"]  # no temporary


def test_install_keeps_an_existing_script_unless_forced(tmp_path: Path) -> None:
    home = tmp_path / "agent"
    script = home / "active-response" / "bin" / "arconsole-reverse"
    install_agent_scripts(home)
    script.write_text("#!/bin/sh\n# the operator's own\n")
    assert install_agent_scripts(home) == []
    assert script.read_text() == "#!/bin/sh\n# the operator's own\n"
    assert install_agent_scripts(home, overwrite=True) == [script]
    assert script.read_text() == SCRIPT


PROGRAMS = ["firewall-drop", "fw_2.sh", ".hidden", "-p", "a" * 128, "b" * 129, "x y", "é"]
KEYS = ["203.0.113.9", "2001:db8::1", "user@host", "_u", "-x", "a" * 255, "c" * 256, "x;y",
        "é", "a b", ".a", "x/y"]


@pytest.mark.parametrize(("program", "key"), [
    *((program, "203.0.113.9") for program in PROGRAMS),
    *(("firewall-drop", key) for key in KEYS)])
def test_the_engine_refuses_exactly_what_the_helper_refuses(
        tmp_path: Path, program: str, key: str) -> None:
    """`reverse_refusal` (checked before the engine sends a reverse and reports it sent) must
    agree with the real helper run by a real shell, both ways."""
    from arconsole.engine.agent_messages import reverse_refusal

    home = agent_home(tmp_path)
    target = home / "active-response" / "bin" / program
    target.write_text(RECORDING_PROGRAM)
    target.chmod(0o755)
    run(home, SHELLS[0], as_execd_sends(program, key))
    ran = (home / "program-calls.log").exists()
    assert ran == (reverse_refusal(program, key) is None), (program, key)
