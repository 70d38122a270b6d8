"""`check` and the engine apply one set of executable rules, with real homes, files and
symlinks; and `check` prints every value escaped, in text and in JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_config_support import REPO, ar, line_of

from arconsole.config.diagnostics import Severity
from arconsole.config.executables import (
    ExecutableMissing,
    ExecutableRefused,
    check_executables,
    checked_executable,
)
from arconsole.config.loader import load_config
from arconsole.engine.executor import Executor, resolve_executable

RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: shows "fw-exe.sh" as "fw-hs.exe"
ESC = "\x1b"


def make_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    (home / "etc").mkdir(parents=True)
    bin_dir = home / "active-response" / "bin"
    bin_dir.mkdir(parents=True)
    good = bin_dir / "good"
    good.write_text("#!/bin/sh\nexit 0\n")
    good.chmod(0o750)
    outside = home / "outside.sh"
    outside.write_text("#!/bin/sh\nexit 0\n")
    outside.chmod(0o755)
    (bin_dir / "escape").symlink_to(outside)
    (bin_dir / "to-sh").symlink_to("/bin/sh")
    (bin_dir / "to-bin").symlink_to(".")
    (bin_dir / "alias").symlink_to("good")
    (bin_dir / "dangling").symlink_to("nowhere")
    (bin_dir / "folder").mkdir()
    plain = bin_dir / "plain"
    plain.write_text("#!/bin/sh\n")
    plain.chmod(0o644)
    return home


def write_config(home: Path, executable: str, command: str = "c") -> Path:
    """A config whose one response fires `command`, which runs `executable`."""
    text = ("<ossec_config>\n  <command>\n    <name>" + command + "</name>\n"
            "    <executable>" + executable + "</executable>\n  </command>\n"
            + ar(f"<command>{command}</command>", "<location>local</location>",
                 "<level>5</level>") + "\n</ossec_config>\n")
    path = home / "etc" / "ossec.conf"
    path.write_text(text, encoding="utf-8")
    return path


def check(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "arconsole", "check", *map(str, args)],
                          capture_output=True, text=True, timeout=60, cwd=REPO,
                          env={**os.environ, "PYTHONIOENCODING": "utf-8"})


def engine_verdict(home: Path, executable: str) -> str:
    try:
        resolve_executable(home, executable)
    except ExecutableRefused:
        return "refused"
    except ExecutableMissing:
        return "missing"
    return "runs"


def check_verdict(home: Path, executable: str) -> tuple[str, str]:
    """check's verdict, and the name as loaded: what the engine would be given to run."""
    config = load_config(write_config(home, executable))
    codes = {d.code: d.severity for d in config.diagnostics if d.code.startswith("AR-EXEC")}
    verdict = "refused" if Severity.ERROR in codes.values() else "missing" if codes else "runs"
    return verdict, config.commands[0].executable


NAMES = ["good", "alias", "escape", "to-sh", "to-bin", "dangling", "folder", "plain", "absent",
         "../good", "x..y", "a\\b", "bad\nname", "tab\tname", f"fw{RLO}hs.exe", f"e{ESC}[31m",
         "c1\x9bname", "zero\u200bwidth"]


@pytest.mark.parametrize("name", NAMES)
def test_check_and_the_engine_agree_on_every_name_and_file(tmp_path: Path, name: str) -> None:
    home = make_home(tmp_path)
    if name.startswith("fw"):  # the bidi name exists as a real, executable file
        target = home / "active-response" / "bin" / name
        target.write_text("#!/bin/sh\nexit 0\n")
        target.chmod(0o755)
    verdict, loaded = check_verdict(home, name)
    assert verdict == engine_verdict(home, loaded)


def test_the_verdicts_are_the_expected_ones(tmp_path: Path) -> None:
    """The parity above is not vacuous: each kind of verdict occurs."""
    home = make_home(tmp_path)
    verdicts = {name: engine_verdict(home, name) for name in NAMES}
    assert [n for n, v in verdicts.items() if v == "runs"] == ["good", "alias"]
    assert {n for n, v in verdicts.items() if v == "missing"} == {
        "dangling", "folder", "plain", "absent"}
    assert verdicts["escape"] == verdicts["to-sh"] == verdicts["bad\nname"] == "refused"
    assert verdicts[f"fw{RLO}hs.exe"] == verdicts["zero\u200bwidth"] == "refused"


async def test_the_executor_refuses_what_check_calls_an_error(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    executor = Executor(home)
    for name in ("escape", "bad\nname", f"fw{RLO}hs.exe"):
        with pytest.raises(ExecutableRefused):
            await executor.run_argv(name, ["add"])
    result = await executor.run_argv("alias", ["add"])
    assert result.ok
    await executor.aclose()


def test_a_symlink_leaving_the_folder_is_an_error_at_the_executable(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    path = write_config(home, "escape")
    result = check(path)
    assert result.returncode == 1, result.stdout
    line, column = line_of(path.read_text(), "<executable>")
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"{path}:{line}:{column}: error: executable 'escape' of command "
                            "'c' is refused by the engine: active-response/bin/escape resolves to")
    assert first.endswith("[AR-EXEC-REFUSED]")
    assert "outside" in first
    assert result.stdout.splitlines()[1].startswith("    hint: put the script itself in ")
    assert result.stdout.splitlines()[-1].startswith("1 error, 0 warnings")


def test_a_symlink_staying_inside_is_fine(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    config = load_config(write_config(home, "alias"))
    assert config.diagnostics == ()
    assert check_executables(config, home / "active-response" / "bin") == []


def test_a_name_with_a_newline_is_an_error_and_forges_no_line(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    forged = "good\nossec.conf:1:1: info: all fine [AR-OK]"
    path = write_config(home, forged)
    result = check(path)
    assert result.returncode == 1, result.stdout
    lines = result.stdout.splitlines()
    assert not any(line.startswith("ossec.conf") for line in lines)
    line, column = line_of(path.read_text(), "<executable>")
    [error] = [text for text in lines if "[AR-EXEC-NAME]" in text]
    assert error.startswith(f"{path}:{line}:{column}: error: the engine refuses to run it: ")
    assert "good\\x0aossec.conf:1:1" in error
    assert lines[lines.index(error) + 1].startswith("    hint: rename the script")


def test_a_name_with_line_breaks_around_it_gets_the_space_hint(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    config = load_config(write_config(home, "\n      good\n    "))
    [error] = [d for d in config.diagnostics if d.code == "AR-EXEC-NAME"]
    assert error.severity is Severity.ERROR
    assert error.hint is not None and error.hint.startswith("remove the spaces or line breaks")


def test_bidi_and_escapes_are_printed_literally_in_text_and_json(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    hostile = f"c{ESC}]0;owned{ESC}\\{RLO}x"
    # the command's name is hostile too, and its file is missing: a warning that names both
    path = write_config(home, f"fw{RLO}hs.exe", command=hostile)
    text = check(path)
    assert text.returncode == 1
    for output in (text.stdout, check("--format", "json", path).stdout):
        assert ESC not in output and RLO not in output, output
    assert "fw\\u202ehs.exe" in text.stdout
    document = json.loads(check("--format", "json", path).stdout)
    messages = [d["message"] for d in document["diagnostics"]]
    assert any("fw\\u202ehs.exe" in m for m in messages), messages
    for diagnostic in document["diagnostics"]:
        for value in (diagnostic["message"], diagnostic["hint"] or ""):
            assert value.isprintable() and RLO not in value


def test_a_hostile_config_path_is_printed_escaped(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    path = write_config(home, "absent")
    hostile = path.with_name(f"ossec{RLO}\n.conf")
    path.rename(hostile)
    result = check(hostile)
    assert RLO not in result.stdout
    assert all(line.startswith(str(home / "etc" / "ossec\\u202e\\x0a.conf")) or
               line.startswith(("    hint:", "0 errors")) for line in result.stdout.splitlines())
    unreadable = check(tmp_path / f"missing{ESC}[2J.conf")
    assert unreadable.returncode == 2 and ESC not in unreadable.stdout
    assert "missing\\x1b[2J.conf: error: cannot read the file" in unreadable.stdout


def test_checked_executable_is_what_the_engine_runs(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    bin_dir = os.fspath(home / "active-response" / "bin")
    assert checked_executable(bin_dir, "good") == os.path.join(bin_dir, "good")
    assert checked_executable(bin_dir, "alias") == os.path.realpath(os.path.join(bin_dir, "good"))
    assert resolve_executable(home, "alias") == (home / "active-response" / "bin" / "good")\
        .resolve()


def test_values_in_any_message_are_escaped_by_check_itself(tmp_path: Path) -> None:
    """XML allows a zero-width joiner in element names: the 'invalid element' message quotes
    the name as read, and `check` escapes it on output (text and JSON)."""
    path = tmp_path / "ossec.conf"
    path.write_text("<ossec_config>\n  <glo\u200dbal/>\n</ossec_config>\n", encoding="utf-8")
    text = check(path).stdout
    document = json.loads(check("--format", "json", path).stdout)
    assert "\u200d" not in text and "glo\\u200dbal" in text
    assert any("glo\\u200dbal" in d["message"] for d in document["diagnostics"])
