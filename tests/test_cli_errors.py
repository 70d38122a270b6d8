"""Every CLI entry point against bad paths and bad arguments: one line, exit 2, no traceback.

Each case runs `python -m arconsole ...` as a real process. Permission cases need a process
that obeys file modes: as root the test drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH with
`setpriv` (the interpreter lives under /root, so switching to a throwaway uid cannot even start
Python here); as another user the modes apply as they are.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from arconsole.engine.store import StateStore
from arconsole.safetext import literal

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample-conf"
LOG_LINE = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d arconsole ")
DROP_DAC = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search",
            "--inh-caps", "-dac_override,-dac_read_search"]


def obeying_modes() -> list[str] | None:
    """The command prefix under which file modes are enforced, or None when impossible."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        return None
    probe = subprocess.run([*DROP_DAC, "true"], capture_output=True, check=False)
    return DROP_DAC if probe.returncode == 0 else None


@dataclass
class Layout:
    """A scratch directory with a home and every kind of bad path."""

    root: Path

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def config(self) -> str:
        return str(self.home / "etc" / "ossec.conf")

    def p(self, relative: str) -> str:
        return str(self.root / relative)


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    root = tmp_path_factory.mktemp("bad")
    shutil.copytree(SAMPLE, root / "home")
    (root / "home" / "logs" / "alerts").mkdir(parents=True, exist_ok=True)
    (root / "file").write_text("a plain file\n")
    for name in ("good", "private", "closed", "hidden"):
        (root / name).mkdir()
    for name in ("good", "private"):
        StateStore.open(root / name / "state.db").close()
    (root / "private" / "state.db").chmod(0o000)  # the file exists, but cannot be opened
    (root / "closed").chmod(0o555)  # a directory nobody may write
    (root / "hidden").chmod(0o000)  # a directory nobody may look into
    deep = root / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    return Layout(root)


def arconsole(args: list[str], prefix: list[str] | None = None
              ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*(prefix or []), sys.executable, "-m", "arconsole", *args],
        capture_output=True, text=True, timeout=60, check=False, stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def assert_one_line(result: subprocess.CompletedProcess[str], *expected: str,
                    stream: str = "stderr") -> str:
    """Exit 2, no traceback, and exactly one error line (the engine's own timestamped log
    lines aside) holding every expected piece."""
    everything = result.stdout + result.stderr
    assert "Traceback" not in everything, everything
    assert "\x1b" not in everything, everything  # paths are printed escaped
    assert result.returncode == 2, (result.returncode, everything)
    text = result.stderr if stream == "stderr" else result.stdout
    lines = [line for line in text.splitlines() if not LOG_LINE.match(line)]
    assert len(lines) == 1, lines
    line = lines[0]
    for piece in expected:
        assert piece in line, (piece, line)
    return line


# (id, argv from the layout, pieces of the one error line, needs file modes obeyed)
Case = tuple[str, Callable[[Layout], list[str]], Callable[[Layout], list[str]], bool]


def _run(state: str) -> Callable[[Layout], list[str]]:
    return lambda s: ["run", s.config, "--state", s.p(state), "--mode", "dry-run"]


def _console(state: str) -> Callable[[Layout], list[str]]:
    return lambda s: [s.config, "--state", s.p(state), "--mode", "dry-run"]


def _blocks(action: list[str], state: str) -> Callable[[Layout], list[str]]:
    return lambda s: ["blocks", *action, "--state", s.p(state), "--config", s.config]


PROC = "/proc/nope/state.db"
ADD = ["add", "--command", "firewall-drop", "--srcip", "203.0.113.9"]
CASES: list[Case] = [
    ("run-proc", lambda s: ["run", s.config, "--state", PROC],
     lambda s: [f"arconsole: cannot open state {PROC}: No such file or directory"], False),
    ("console-proc", lambda s: [s.config, "--state", PROC],
     lambda s: [f"arconsole: cannot open state {PROC}: No such file or directory"], False),
    ("run-escapes-in-path", lambda s: ["run", s.config, "--state", "/proc/n\n\x1b[2Jo/s.db"],
     lambda s: ["arconsole: cannot open state /proc/n\\x0a\\x1b[2Jo/s.db: No such file"], False),
    ("blocks-escapes-in-path", lambda s: ["blocks", "list", "--state", "/proc/n\n\x1b[2Jo/s.db"],
     lambda s: ["no state file at /proc/n\\x0a\\x1b[2Jo/s.db"], False),
    ("run-under-file", _run("file/state.db"),
     lambda s: [f"cannot open state {s.p('file/state.db')}: Not a directory"], False),
    ("console-under-file", _console("file/state.db"),
     lambda s: [f"cannot open state {s.p('file/state.db')}: Not a directory"], False),
    ("blocks-list-under-file", _blocks(["list"], "file/state.db"),
     lambda s: [f"no state file at {s.p('file/state.db')} and no engine running"], False),
    ("run-state-is-dir", _run("good"),
     lambda s: [f"cannot open state {s.p('good')}: not a regular file"], False),
    ("blocks-list-state-is-dir", _blocks(["list"], "good"),
     lambda s: [f"cannot open state {s.p('good')}: not a regular file"], False),
    ("run-unwritable-dir", _run("closed/state.db"),
     lambda s: [f"cannot open state {s.p('closed/state.db')}: Permission denied"], True),
    ("console-unwritable-dir", _console("closed/state.db"),
     lambda s: [f"cannot open state {s.p('closed/state.db')}: Permission denied"], True),
    ("run-no-access", _run("private/state.db"),
     lambda s: [f"cannot open state {s.p('private/state.db')}: Permission denied"], True),
    ("console-no-access", _console("private/state.db"),
     lambda s: [f"cannot open state {s.p('private/state.db')}: Permission denied"], True),
    ("blocks-list-no-access", _blocks(["list"], "private/state.db"),
     lambda s: [f"cannot open state {s.p('private/state.db')}: Permission denied"], True),
    ("blocks-reverse-no-access", _blocks(["reverse", "k-1"], "private/state.db"),
     lambda s: [f"cannot open state {s.p('private/state.db')}: Permission denied"], True),
    ("blocks-extend-no-access", _blocks(["extend", "k-1", "60"], "private/state.db"),
     lambda s: [f"cannot open state {s.p('private/state.db')}: Permission denied"], True),
    ("blocks-add-no-access", _blocks(ADD, "private/state.db"),
     lambda s: [f"cannot open state {s.p('private/state.db')}: Permission denied"], True),
    ("run-hidden-dir", _run("hidden/state.db"),
     lambda s: [f"cannot open state {s.p('hidden/state.db')}: Permission denied"], True),
    ("console-hidden-dir", _console("hidden/state.db"),
     lambda s: [f"cannot open state {s.p('hidden/state.db')}: Permission denied"], True),
    ("blocks-list-hidden-dir", _blocks(["list"], "hidden/state.db"),
     lambda s: [f"cannot open state {s.p('hidden/state.db')}: Permission denied"], True),
    ("blocks-add-hidden-dir", _blocks(ADD, "hidden/state.db"),
     lambda s: [f"cannot open state {s.p('hidden/state.db')}: Permission denied"], True),
    ("run-socket-too-long",
     lambda s: ["run", s.config, "--state", s.p(f"{'d' * 60}/{'e' * 60}/state.db")],
     lambda s: ["cannot create the control socket", "state.db.sock"], False),
    ("run-missing-config", lambda s: ["run", s.p("nope.conf"), "--state", s.p("s1/state.db")],
     lambda s: [f"cannot read config {s.p('nope.conf')}: No such file or directory"], False),
    ("console-missing-config", lambda s: [s.p("nope.conf"), "--state", s.p("s1/state.db")],
     lambda s: [f"cannot read config {s.p('nope.conf')}: No such file or directory"], False),
    ("run-config-is-dir", lambda s: ["run", s.p("home"), "--state", s.p("s1/state.db")],
     lambda s: [f"cannot read config {s.p('home')}: Is a directory"], False),
    ("run-missing-home", lambda s: ["run", "--home", s.p("nohome")],
     lambda s: [f"cannot read config {s.p('nohome/etc/ossec.conf')}"], False),
    ("blocks-add-missing-config",
     lambda s: ["blocks", *ADD, "--state", s.p("good/state.db"), "--config", s.p("nope.conf")],
     lambda s: [f"cannot read config {s.p('nope.conf')}: No such file or directory"], False),
    ("run-alerts-under-file",
     lambda s: ["run", s.config, "--state", s.p("s1/state.db"), "--alerts",
                s.p("file/alerts.json")],
     lambda s: [f"cannot read alerts {s.p('file/alerts.json')}: Not a directory"], False),
    ("console-alerts-no-access",
     lambda s: [s.config, "--state", s.p("s1/state.db"), "--alerts", s.p("hidden/a.json")],
     lambda s: [f"cannot read alerts {s.p('hidden/a.json')}: Permission denied"], True),
    ("run-agents-missing",
     lambda s: ["run", s.config, "--state", s.p("s1/state.db"), "--agents", s.p("nope.json")],
     lambda s: [f"--agents: cannot read {s.p('nope.json')}: No such file or directory"], False),
    ("blocks-list-missing-home", lambda s: ["blocks", "list", "--home", s.p("nohome")],
     lambda s: [f"no state file at {s.p('nohome/var/arconsole/state.db')}"], False),
    ("explain-missing-config", lambda s: ["explain", s.p("nope.conf"), s.p("file")],
     lambda s: [f"cannot read {s.p('nope.conf')}: No such file or directory"], False),
    ("explain-alerts-under-file", lambda s: ["explain", s.config, s.p("file/alerts.json")],
     lambda s: [f"cannot read {s.p('file/alerts.json')}: Not a directory"], False),
    ("explain-alerts-no-access", lambda s: ["explain", s.config, s.p("private/state.db")],
     lambda s: [f"cannot read {s.p('private/state.db')}: Permission denied"], True),
    ("explain-agents-dir", lambda s: ["explain", s.config, s.p("file"), "--agents", s.p("home")],
     lambda s: [f"cannot read {s.p('home')}: Is a directory"], False),
    ("explain-escapes-in-config-path",
     lambda s: ["explain", "/proc/n\n\x1b[2Jo/c.conf", s.p("file")],
     lambda s: ["arconsole explain: cannot read /proc/n\\x0a\\x1b[2Jo/c.conf: No such file"],
     False),
    ("explain-escapes-in-alerts-path", lambda s: ["explain", s.config, "/proc/n\n\x1b[2Jo/a"],
     lambda s: ["arconsole explain: cannot read /proc/n\\x0a\\x1b[2Jo/a: No such file"], False),
]


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_bad_path_is_one_line(layout: Layout, case: Case) -> None:
    _, argv, expected, needs_modes = case
    prefix: list[str] | None = []
    if needs_modes:
        prefix = obeying_modes()
        if prefix is None:
            pytest.skip("cannot drop root's file-mode override here (no setpriv)")
    line = assert_one_line(arconsole(argv(layout), prefix), *expected(layout))
    assert line.startswith("arconsole")


def test_nothing_was_created_by_a_refused_start(layout: Layout) -> None:
    """A start refused for a bad alerts path leaves no state behind it."""
    state = layout.root / "untouched" / "state.db"
    result = arconsole(["run", layout.config, "--state", str(state),
                        "--alerts", layout.p("file/x.json")])
    assert_one_line(result, "cannot read alerts")
    assert not state.parent.exists()


@pytest.mark.parametrize("stream_args", [
    ["check", "{root}/file/ossec.conf"],
    ["check", "{root}/home"],
])
def test_check_unreadable_is_one_line(layout: Layout, stream_args: list[str]) -> None:
    argv = [arg.format(root=layout.root) for arg in stream_args]
    assert_one_line(arconsole(argv), argv[1], "cannot read", stream="stdout")


# (argv, the argument named, a piece of the reason)
BAD_ARGUMENTS: list[tuple[list[str], str, str]] = [
    (["run", "--time-limit", "nan"], "--time-limit", "above 0"),
    (["run", "--time-limit", "-5"], "--time-limit", "above 0"),
    (["run", "--time-limit", "1e400"], "--time-limit", "at most 86400"),
    (["run", "--time-limit", "soon"], "--time-limit", "not a number"),
    (["run", "--mode", "loud"], "--mode", "invalid choice"),
    (["run", "--offender-decay", "forever"], "--offender-decay", "not a duration"),
    (["--skip-backlog-older-than", "1x"], "--skip-backlog-older-than", "not a duration"),
    (["blocks", "extend", "k-1", "99999999999999999999999999999"], "SECONDS", "ten years"),
    (["blocks", "extend", "k-1", "315360001"], "SECONDS", "ten years"),
    (["blocks", "extend", "k-1", "-5"], "SECONDS", "negative"),
    (["blocks", "extend", "k-1", "0"], "SECONDS", "above 0"),
    (["blocks", "extend", "k-1", "1e9"], "SECONDS", "whole number"),
    (["blocks", "extend", "k-1\x1b[2J", "60"], "KEY", "k-1\\x1b[2J"),
    (["blocks", "add", "--command", "firewall-drop", "--srcip", "1.2.3.4", "--timeout",
      "9" * 5000], "--timeout", "ten years"),
    (["blocks", "add", "--command", "firewall-drop", "--srcip", "1.2.3.4", "--timeout", "-1"],
     "--timeout", "negative"),
    (["blocks", "add", "--command", "firewall-drop", "--srcip", "::1%-j ACCEPT"],
     "--srcip", "'::1%-j ACCEPT' (an IPv6 zone is not accepted)"),
    (["blocks", "add", "--command", "firewall-drop", "--srcip", "fe80::1%eth0\n\x1b[31mX"],
     "--srcip", "not an IP address: 'fe80::1%eth0\\x0a\\x1b[31mX'"),
    (["blocks", "add", "--command", "firewall-drop", "--srcip", "--rf"],
     "--srcip", "expected one argument"),
    (["blocks", "add", "--command", "firewall-drop", "--srcip=-1.2.3.4"],
     "--srcip", "not an IP address: '-1.2.3.4'"),
    (["blocks", "add", "--command", "firewall-drop", "--srcip", "::ffff:1.2.3.4 "],
     "--srcip", "not an IP address"),
    (["blocks", "add", "--command", "firewall-drop", "--srcip", "300.1.1.1"],
     "--srcip", "not an IP address"),
    (["blocks", "add", "--command", "fw\x07", "--srcip", "1.2.3.4"], "--command", "fw\\x07"),
    (["blocks", "reverse"], "KEY", "--all"),
    (["explain", "--format", "yaml", "x.conf"], "--format", "invalid choice"),
]


@pytest.mark.parametrize("argv,argument,reason", BAD_ARGUMENTS,
                         ids=[" ".join(a[0])[:60] for a in BAD_ARGUMENTS])
def test_bad_argument_is_a_usage_error(
    layout: Layout, argv: list[str], argument: str, reason: str
) -> None:
    # A real state file, so nothing but the argument can be what is refused.
    result = arconsole([*argv, "--state", layout.p("good/state.db")]
                       if argv[0] == "blocks" else argv)
    everything = result.stdout + result.stderr
    assert "Traceback" not in everything, everything
    assert result.returncode == 2, everything
    errors = [line for line in result.stderr.splitlines() if line.startswith("arconsole")]
    assert len(errors) == 1, result.stderr
    assert argument in errors[0] and reason in errors[0], errors[0]
    assert "\x1b" not in everything and "\x07" not in everything



@pytest.mark.parametrize("argv", [
    ["install-scripts", "{root}/file"],
    ["install-scripts", "--agent", "{root}/file"],
    ["install-scripts", "{root}/file/n\n\x1b[2Jo"],
    ["demo", "--home", "{root}/file/n\n\x1b[2Jo"],
])
def test_a_home_that_cannot_be_written_is_one_phrased_line(layout: Layout,
                                                         argv: list[str]) -> None:
    """install-scripts and demo end an unusable HOME with status 1 (their contract) and one
    line saying what failed where, escaped: no `[Errno 20]`, no Python repr of a path."""
    argv = [arg.format(root=layout.root) for arg in argv]
    result = arconsole(argv)
    everything = result.stdout + result.stderr
    assert "Traceback" not in everything and "Errno" not in everything, everything
    assert "\x1b" not in everything, everything
    assert result.returncode == 1, everything
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"arconsole {argv[0]}: cannot "), line
    assert ": Not a directory" in line, line
    if "\n" in argv[-1]:
        assert "n\\x0a\\x1b[2Jo" in line, line
    assert not (layout.root / "file").is_dir()  # nothing was made of the file


def test_a_demo_whose_engine_cannot_start_says_so_as_run_does(tmp_path: Path) -> None:
    """The demo's engine start fails as `run`'s does (one shared HostedEngine.start): the
    same phrasing, status 1 as the demo always ended, no traceback."""
    from arconsole.commands.demo import prepare_home

    home = prepare_home(tmp_path / "demo")
    state = home / "var" / "arconsole" / "state.db"
    state.mkdir(parents=True)
    result = arconsole(["demo", "--home", str(home)])
    everything = result.stdout + result.stderr
    assert "Traceback" not in everything, everything
    assert result.returncode == 1, everything
    assert result.stderr.splitlines() == [
        f"arconsole demo: cannot open state {state}: not a regular file",
        f"arconsole demo: kept its home {home}",
    ]


def test_a_demo_whose_control_socket_cannot_be_made_names_it(tmp_path: Path) -> None:
    """Too long a path for the socket: said as `run` says it (it was the generic
    `arconsole: AF_UNIX path too long`, naming nothing)."""
    from arconsole.commands.demo import prepare_home

    home = prepare_home(tmp_path / ("d" * 60) / ("e" * 60))
    result = arconsole(["demo", "--home", str(home)])
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines()[0] == (
        "arconsole demo: cannot create the control socket "
        f"{home}/var/arconsole/state.db.sock: AF_UNIX path too long")


def test_attaching_to_a_socket_nobody_answers_is_one_escaped_line(tmp_path: Path) -> None:
    """`--attach` a bound socket with no engine listening: status 1 and one line; a path with
    a newline and an escape code is printed escaped (the embedded console's attach printed
    it raw)."""
    import socket

    deaf = tmp_path / "deaf\n\x1b[2J.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as bound:
        bound.bind(str(deaf))  # bound, never listening
        result = arconsole(["--attach", str(deaf)])
    everything = result.stdout + result.stderr
    assert "Traceback" not in everything, everything
    assert result.returncode == 1, everything
    (line,) = result.stderr.splitlines()
    assert line == (f"arconsole: cannot attach to the engine on {tmp_path}/deaf\\x0a"
                    "\\x1b[2J.sock: [Errno 111] Connection refused"), line


@pytest.fixture
def recorder_home(tmp_path: Path) -> Path:
    from tests.engine_support import command, make_home, recorder, response

    home = make_home(tmp_path, [command("rec")], [response("rec", level=5, timeout=600)],
                     {"rec": recorder()})
    StateStore.open(home / "var" / "arconsole" / "state.db").close()
    return home


@pytest.mark.parametrize("srcip", ["::1%-j ACCEPT", "fe80::1%eth0\n\x1b[2J", "-1.2.3.4",
                                   "10.0.0.1;id", "::1%25lo"])
def test_crafted_srcip_never_reaches_a_script(recorder_home: Path, srcip: str) -> None:
    """Offline `blocks add` (no engine running): refused as usage, the script never runs."""
    from tests.engine_support import records

    result = arconsole(["blocks", "add", "--command", "rec", f"--srcip={srcip}",
                        "--home", str(recorder_home)])
    assert result.returncode == 2 and "--srcip" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "\x1b" not in result.stderr
    assert records(recorder_home) == []


def test_a_sound_offline_add_still_runs(recorder_home: Path) -> None:
    """The same path with a good address reaches the script: the refusals above are real."""
    from tests.engine_support import records

    result = arconsole(["blocks", "add", "--command", "rec", "--srcip", "198.51.100.5",
                        "--timeout", "315360000", "--home", str(recorder_home)])
    assert result.returncode == 0, result.stdout + result.stderr
    (seen,) = records(recorder_home)
    assert "198.51.100.5" in seen["stdin"]


def test_cli_and_engine_agree_on_the_longest_block() -> None:
    from arconsole.commands.operator_args import MAX_BLOCK_SECONDS
    from arconsole.engine.operations import MAX_SECONDS

    assert MAX_BLOCK_SECONDS == MAX_SECONDS


def test_a_reader_that_goes_away_is_not_an_error_message(tmp_path: Path) -> None:
    """`arconsole blocks list | head -1`: no traceback, no complaint about the pipe."""
    from tests.test_store import make_block

    state = tmp_path / "var" / "arconsole" / "state.db"
    store = StateStore.open(state)
    try:
        for n in range(3000):  # far more than a pipe buffer holds
            store.save_block(make_block(f"firewall-drop-10.0.{n // 256}.{n % 256}",
                                        srcip=f"10.0.{n // 256}.{n % 256}"))
    finally:
        store.close()
    reader, writer = os.pipe()
    process = subprocess.Popen(
        [sys.executable, "-m", "arconsole", "blocks", "list", "--state", str(state),
         "--format", "json"],
        stdout=writer, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        assert pipe.read(10)  # the listing started; then the reader leaves
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert stderr == b"", stderr


@pytest.mark.parametrize("agent", [[], ["--agent"]])
def test_a_file_where_the_scripts_folder_goes_is_not_a_directory(tmp_path: Path,
                                                                 agent: list[str]) -> None:
    """`active-response/bin` is a file: the system's "File exists" from making it would say
    all is well; what is true is that it is not a directory."""
    home = tmp_path / "home"
    (home / "active-response").mkdir(parents=True)
    (home / "active-response" / "bin").write_text("a plain file\n")
    result = arconsole(["install-scripts", *agent, str(home)])
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"arconsole install-scripts: cannot install scripts into {home}: Not a directory "
        f"({home}/active-response/bin)"]
    assert (home / "active-response" / "bin").read_text() == "a plain file\n"


def test_a_demo_home_with_a_file_for_its_state_folder_says_not_a_directory(
        tmp_path: Path) -> None:
    from arconsole.commands.demo import prepare_home

    home = prepare_home(tmp_path / "demo")
    (home / "var").mkdir(exist_ok=True)
    shutil.rmtree(home / "var" / "arconsole", ignore_errors=True)
    (home / "var" / "arconsole").write_text("a plain file\n")
    result = arconsole(["demo", "--home", str(home)])
    assert "Traceback" not in result.stderr and result.returncode != 0, result.stderr
    assert result.stderr.splitlines()[-1] == \
        f"arconsole: cannot use {home}/var/arconsole: Not a directory"
    assert "File exists" not in result.stderr


@pytest.mark.parametrize("missing", ["var/osec", "no/such/var/ossec", "n\n\x1b[2Jo"])
def test_an_agent_home_that_does_not_exist_is_refused_not_made(tmp_path: Path,
                                                               missing: str) -> None:
    """`--agent HOME` writes into an installed agent's home: a typo made a new home (and
    every folder on the way) with the helper in it, and said nothing was wrong."""
    home = tmp_path / missing
    result = arconsole(["install-scripts", "--agent", str(home)])
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line == (f"arconsole install-scripts: no agent home at {literal(str(home))}: it "
                    "does not exist (--agent writes into an installed agent's home, such as "
                    "/var/ossec; nothing was made)"), line
    assert sorted(tmp_path.iterdir()) == []


def test_the_manager_form_still_makes_its_home(tmp_path: Path) -> None:
    """Without --agent, HOME is arconsole's own (a fresh one is fine): it is made."""
    home = tmp_path / "fresh" / "home"
    result = arconsole(["install-scripts", str(home)])
    assert result.returncode == 0, result.stderr
    assert (home / "active-response" / "bin" / "firewall-drop").is_file()
    agent = tmp_path / "agent"
    agent.mkdir()  # an existing agent home: written as before
    result = arconsole(["install-scripts", "--agent", str(agent)])
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{agent}/active-response/bin/arconsole-reverse\n"
