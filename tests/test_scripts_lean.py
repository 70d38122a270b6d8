"""The scripts' cheap start (issue 13): what a run imports, and the small stand-ins written so
that it need not import json, ipaddress or subprocess, checked against the real modules."""

from __future__ import annotations

import ipaddress
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_scripts_helpers import ar_message, line_of

from arconsole.scripts.install import PYTHON_FLAGS, package_root
from arconsole.scripts.protocol import compact_json, ip_version, parse_json
from arconsole.scripts.system import run_command

REPO = Path(__file__).resolve().parents[1]
# Modules whose import costs a large share of a run (measured with python -X importtime).
HEAVY = {"json", "re", "enum", "ipaddress", "dataclasses", "inspect", "typing", "subprocess",
         "pathlib", "shutil", "tempfile", "contextlib", "random", "socket", "signal",
         "collections", "functools", "site", "ast", "dis", "tokenize"}

# Runs the script's main() as its launcher does, then reports what the run imported.
PROBE = """
import sys
sys.path.append({root!r})
from arconsole.scripts.{module} import main
status = main([{argv0!r}])
print("MODULES " + " ".join(sorted(sys.modules)), file=sys.stderr)
raise SystemExit(status)
"""


def modules_of_a_run(home: Path, module: str, name: str, message: dict[str, object],
                     reply: str | None) -> tuple[int, set[str]]:
    code = PROBE.format(root=package_root(), module=module,
                        argv0=f"active-response/bin/{name}")
    stdin = line_of(message) + "\n"
    if reply is not None:
        body = json.loads(line_of(message))
        body["command"] = reply
        stdin += line_of(body) + "\n"
    done = subprocess.run([sys.executable, PYTHON_FLAGS, "-c", code], cwd=home, input=stdin,
                          capture_output=True, text=True, check=False, timeout=60)
    modules = next(line for line in done.stderr.splitlines() if line.startswith("MODULES "))
    return done.returncode, set(modules.split()[1:])


@pytest.fixture
def demo_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    (home / "etc").mkdir(parents=True)
    (home / "etc" / "arconsole-demo").write_text("demo\n")
    return home


@pytest.mark.parametrize(("module", "name", "command", "reply"), [
    ("firewall_drop", "firewall-drop", "add", "continue"),
    ("firewall_drop", "firewall-drop", "delete", None),
    ("firewall_drop", "firewall-drop", "check", None),
    ("route_null", "route-null", "add", "continue"),
    ("host_deny", "host-deny", "delete", None),
])
def test_a_run_imports_nothing_heavy(demo_home: Path, module: str, name: str, command: str,
                                     reply: str | None) -> None:
    message = ar_message(command, program=name)
    status, modules = modules_of_a_run(demo_home, module, name, message, reply)
    assert status == 0
    assert "arconsole.scripts.runner" in modules  # the probe saw a real run
    assert modules & HEAVY == set()
    assert not any(m.startswith(("arconsole.engine", "arconsole.config", "arconsole.console"))
                   for m in modules)


def test_the_installed_launcher_starts_without_site_and_finds_this_package(
        tmp_path: Path) -> None:
    from arconsole.scripts.install import install_scripts

    home = tmp_path / "home"
    install_scripts(home)
    launcher = (home / "active-response" / "bin" / "route-null").read_text()
    assert launcher.splitlines()[0] == f"#!{sys.executable} -IS"
    assert f"sys.path.append({package_root()!r})" in launcher
    # PYTHONPATH pointing elsewhere is ignored (-I): the launcher uses the folder it carries.
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path / "nowhere")}
    done = subprocess.run(["active-response/bin/route-null"], cwd=home, env=env,
                          input=b"not json\n", capture_output=True, check=False)
    assert done.returncode == 255
    assert b"Invalid input format" in (home / "logs" / "active-responses.log").read_bytes()


# --- ip_version is ipaddress.ip_address on the characters it lets through ---------------------

IP_ALPHABET = "0123456789abcdefABCDEF.:"


def reference_version(text: str) -> int | None:
    if not text or len(text) > 45 or not set(text) <= set(IP_ALPHABET):
        return None
    try:
        return ipaddress.ip_address(text).version
    except ValueError:
        return None


@st.composite
def address_like(draw: st.DrawFn) -> str:
    """Real addresses in every spelling, then damaged: the edges where parsers differ."""
    if draw(st.booleans()):
        text = str(ipaddress.IPv4Address(draw(st.integers(0, 2**32 - 1))))
    else:
        address = ipaddress.IPv6Address(draw(st.integers(0, 2**128 - 1)))
        text = draw(st.sampled_from([str(address), address.exploded,
                                     address.compressed.upper()]))
        if draw(st.booleans()):
            text = text.rsplit(":", 2)[0] + ":" + str(ipaddress.IPv4Address(
                draw(st.integers(0, 2**32 - 1))))
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(st.sampled_from([*IP_ALPHABET, "::", "0", "00"]))
        if edit == "insert":
            text = text[:at] + piece + text[at:]
        elif edit == "delete":
            text = text[:at] + text[at + 1:]
        else:
            text = text[:at] + piece + text[at + 1:]
    return text


@settings(max_examples=3000, deadline=None)
@given(address_like())
def test_ip_version_matches_ipaddress_on_addresses(text: str) -> None:
    assert ip_version(text) == reference_version(text), text


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=IP_ALPHABET, max_size=46))
def test_ip_version_matches_ipaddress_on_any_text(text: str) -> None:
    assert ip_version(text) == reference_version(text), text


@pytest.mark.parametrize("text", [
    "::", "::1", "1::", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8",
    "1:2:3:4:5:6:1.2.3.4", "::1.2.3.4", "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8:9", "1::2::3",
    ":1::2", "1::2:", "1:2:3:4:5:6:7:1.2.3.4", "12345::1", "::01.2.3.4", "0.0.0.0",
    "255.255.255.255", "256.0.0.0", "1.2.3", "00.1.2.3", "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7",
])
def test_ip_version_edges(text: str) -> None:
    assert ip_version(text) == reference_version(text)


# --- compact_json is json.dumps(ensure_ascii=False, separators=(",", ":")) -------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=1000, deadline=None)
@given(json_values)
def test_compact_json_matches_json_dumps(value: object) -> None:
    assert compact_json(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_compact_json_escapes_what_json_escapes() -> None:
    text = 'a"b\\c\n\x01\u2028é\udcff'
    assert compact_json({"k": [text, 1.5, math.inf]}) == json.dumps(
        {"k": [text, 1.5, math.inf]}, ensure_ascii=False, separators=(",", ":"))
    with pytest.raises(TypeError):
        compact_json({1: "x"})
    with pytest.raises(TypeError):
        compact_json(object())


@settings(max_examples=500, deadline=None)
@given(json_values)
def test_parse_json_reads_what_json_reads(value: object) -> None:
    text = json.dumps(value)
    if _not_finite(value):  # json writes NaN/Infinity; cJSON (and parse_json) refuse them
        with pytest.raises(ValueError):
            parse_json(text)
        return
    parsed = parse_json(text)
    assert _plain(parsed) == json.loads(text)


def _not_finite(value: object) -> bool:
    if isinstance(value, float):
        return value != value or value in (float("inf"), float("-inf"))
    if isinstance(value, dict):
        return any(_not_finite(item) for item in value.values())
    if isinstance(value, list):
        return any(_not_finite(item) for item in value)
    return False


def _plain(value: object) -> object:
    from arconsole.scripts.protocol import JsonObject

    if isinstance(value, JsonObject):
        return {key: _plain(item) for key, item in value.members}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


@pytest.mark.parametrize("text", ["", "   ", "{", '{"a":', "nul", "[1,]", '"\x01"', "NaN"])
def test_parse_json_refuses_what_json_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_json(text)


# --- run_command: posix_spawn and poll in place of subprocess.run ------------------------------

SEARCH = "/usr/sbin:/usr/bin:/sbin:/bin"


def test_run_command_feeds_stdin_and_captures_both_streams() -> None:
    script = "cat; echo err-line >&2; exit 4"
    data = "x" * 300_000 + "\nend\n"  # more than a pipe holds: feeding and reading interleave
    outcome = run_command(["/bin/sh", "-c", script], SEARCH, data)
    assert outcome.returncode == 4
    assert outcome.stdout == data
    assert outcome.output == "err-line"  # stderr's first line comes first


def test_run_command_gives_the_command_a_fixed_environment() -> None:
    outcome = run_command(["/usr/bin/env"], SEARCH)
    assert sorted(outcome.stdout.splitlines()) == sorted([f"PATH={SEARCH}", "LC_ALL=C"])


def test_run_command_without_stdin_gives_dev_null_and_restores_sigpipe() -> None:
    outcome = run_command(["/bin/sh", "-c", "cat; grep SigIgn /proc/self/status"], SEARCH)
    assert outcome.ok
    ignored = int(outcome.stdout.split()[-1], 16)
    assert not ignored & (1 << (13 - 1)), "SIGPIPE is still ignored in the command"


def test_run_command_kills_a_command_that_overstays() -> None:
    outcome = run_command(["/bin/sleep", "30"], SEARCH, timeout=0.3)
    assert (outcome.returncode, outcome.output) == (-1, "timed out after 0.3s")


def test_run_command_reports_a_command_that_cannot_start(tmp_path: Path) -> None:
    outcome = run_command([str(tmp_path / "absent")], SEARCH)
    assert (outcome.returncode, outcome.output) == (127, "No such file or directory")


def test_run_command_leaks_no_descriptor() -> None:
    before = set(os.listdir("/proc/self/fd"))
    run_command(["/bin/sh", "-c", "cat >/dev/null; echo out"], SEARCH, "in\n")
    run_command(["/bin/sleep", "5"], SEARCH, "in\n", timeout=0.1)
    run_command(["/bin/true"], SEARCH, capture=False)
    assert set(os.listdir("/proc/self/fd")) == before
