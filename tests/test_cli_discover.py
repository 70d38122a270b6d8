"""Finding one's way: help that says what plain `arconsole` is, did-you-mean with the right
usage, help for every argument, `blocks` pointing at --home, and `explain` saying it reads a
terminal. Every case runs the real command line as a process."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "sample-conf" / "etc" / "ossec.conf"


def arconsole(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arconsole", *args], capture_output=True, text=True,
        timeout=60, check=False, stdin=subprocess.DEVNULL, cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_top_level_help_says_plain_arconsole_is_the_console() -> None:
    result = arconsole("--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert ("Plain `arconsole [CONFIG] [options]` (or `arconsole console ...`) is the console"
            in text)
    assert "attaches to it" in text and "--read-only" in text
    assert "console the operator console" in text


def test_console_sub_command_has_its_own_help() -> None:
    result = arconsole("console", "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: arconsole console")
    assert "--read-only" in result.stdout and "attaches" in result.stdout


@pytest.mark.parametrize("typed,meant", [("chek", "check"), ("blokcs", "blocks"),
                                         ("explian", "explain"), ("rnu", "run")])
def test_mistyped_command_shows_that_commands_usage(
        typed: str, meant: str, tmp_path: Path) -> None:
    result = arconsole(typed, "FILE", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"usage: arconsole {meant}"), result.stderr
    assert f"unknown command '{typed}' (did you mean '{meant}'?)" in result.stderr
    assert "--read-only" not in result.stderr  # not the console's usage


def test_a_file_named_like_a_command_is_still_the_consoles_config(tmp_path: Path) -> None:
    (tmp_path / "chek").write_text("<ossec_config>\n")  # broken on purpose: start must fail
    result = arconsole("chek", "--state", str(tmp_path / "state.db"), cwd=tmp_path)
    assert "did you mean" not in result.stderr
    assert "chek" in result.stderr and result.returncode in (1, 2)
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("argv,usage,hint", [
    (["check", "--formt", "json", "FILE"], "usage: arconsole check", "did you mean --format?"),
    (["blocks", "list", "--formt", "json"], "usage: arconsole blocks list",
     "did you mean --format?"),
    (["run", "--dry-run"], "usage: arconsole run", "did you mean --mode dry-run?"),
    (["explain", "x.conf", "--agnets", "a.json"], "usage: arconsole explain",
     "did you mean --agents?"),
    (["--raed-only"], "usage: arconsole", "did you mean --read-only?"),
])
def test_unknown_option_is_reported_by_its_sub_command(
        argv: list[str], usage: str, hint: str) -> None:
    result = arconsole(*argv)
    assert result.returncode == 2
    assert result.stderr.startswith(usage), result.stderr
    assert "COMMAND" not in result.stderr  # not the top-level usage
    last = result.stderr.splitlines()[-1]
    assert "unrecognized arguments" in last and hint in last, last


@pytest.mark.parametrize("argv,pieces", [
    (["run", "--help"], ["dry-run: decide, record", "decide as Wazuh 4.x",
                         "attach to it over the control socket"]),
    (["blocks", "extend", "--help"], ["the block's key, as `blocks list` shows it",
                                      "seconds to add to the time the block has left"]),
    (["blocks", "reverse", "--help"], ["a block's key, as `blocks list` shows it"]),
    (["blocks", "--help"], ["Give the engine's --home (or --state) unless its home is "
                            "/var/ossec"]),
    (["blocks", "add", "--help"], ["the IPv4 or IPv6 address to block", "ten years"]),
    (["console", "--help"], ["dry-run: decide, record"]),
])
def test_every_argument_has_help(argv: list[str], pieces: list[str]) -> None:
    result = arconsole(*argv)
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for piece in pieces:
        assert piece in text, piece


def test_bare_blocks_list_points_at_home() -> None:
    default = Path("/var/ossec/var/arconsole/state.db")
    if default.exists():
        pytest.skip("this machine has a state file at the default home")
    result = arconsole("blocks", "list")
    assert result.returncode == 2
    assert result.stderr == (
        f"arconsole: no state file at {default} and no engine running "
        "(if the engine's home is not /var/ossec, give --home HOME or --state FILE)\n")


def test_explain_says_it_reads_a_terminal() -> None:
    master, slave = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "arconsole", "explain", str(CONFIG)], stdin=slave,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        os.close(slave)
        assert process.stderr is not None
        first = process.stderr.readline().decode()  # the readiness signal: it is waiting
        assert first.startswith("arconsole explain: reading alerts from stdin"), first
        assert "ctrl+d" in first
        os.write(master, b"\x04")  # end of input, as an operator would type it
        assert process.wait(timeout=30) == 0
    finally:
        os.close(master)


def test_explain_from_a_pipe_says_nothing_extra() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "arconsole", "explain", str(CONFIG)], input="",
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0 and result.stderr == ""


def test_readme_commands_show_home_for_blocks() -> None:
    readme = (REPO / "README.md").read_text()
    commands = readme.split("## Commands", 1)[1].split("## Layout", 1)[0]
    blocks_lines = [line for line in commands.splitlines()
                    if line.strip().startswith("arconsole blocks")]
    assert len(blocks_lines) == 6  # list, reverse, forget, extend, add, reconcile
    for line in blocks_lines:
        if not line.strip().startswith("arconsole blocks add"):
            assert "--home DIR" in line, line
    assert "--home DIR" in commands.split("arconsole blocks add", 1)[1].split("\n    arconsole")[0]
    # The two set-up commands stay exactly as they were.
    assert "    python3 -m pip install -e . && arconsole demo\n" in readme
    assert "    python3 -m pip install -e '.[dev]' && python3 -m pytest\n" in readme


@pytest.mark.parametrize("argv", [[], ["run"], ["console"]])
def test_bare_start_without_a_home_says_what_to_give(argv: list[str], tmp_path: Path) -> None:
    if Path("/var/ossec/etc/ossec.conf").exists():
        pytest.skip("this machine has a Wazuh home at /var/ossec")
    result = arconsole(*argv, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "arconsole: cannot read config /var/ossec/etc/ossec.conf: No such file or directory "
        "(no CONFIG given, so /var/ossec was assumed: give CONFIG or --home HOME; "
        "`arconsole demo` opens the console on a sample)\n")
