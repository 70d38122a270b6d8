"""`arconsole demo`: the console on a private copy of the sample home, with live alerts.

The copy lives in a new temporary directory (mode 0700) unless `--home` names one. The demo's
response scripts are the real stock scripts in record mode (HOME/etc/arconsole-demo): they
append what they would do to HOME/logs/demo-actions.log and touch nothing else. Timeouts are
shortened in the private ossec.conf so that blocks appear, count down and expire within a
minute. Nothing outside the demo home is written.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import shutil
import stat
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import arconsole
from arconsole.directories import ensure_directory

if TYPE_CHECKING:
    from arconsole.console.screens.main import MainScreen

DEMO_MARKER = Path("etc") / "arconsole-demo"
DEFAULT_MAX_TIMEOUT = 40


class DemoError(Exception):
    """The demo home cannot be prepared."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="open the console on a private copy of the sample home, with live alerts",
        description="Copies sample-conf/ into a private temporary home, appends realistic "
        "alerts to its alerts.json, and opens the console with the engine embedded. The "
        "response scripts only record what they would do (logs/demo-actions.log).",
    )
    parser.add_argument("--home", type=Path, metavar="DIR",
                        help="use DIR as the demo home (created if missing, kept at exit; "
                        "an earlier demo home is reused and its blocks restored)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary home at exit")
    parser.add_argument("--rate", type=float, default=3.0, metavar="N",
                        help="alerts per second from the generator (default 3)")
    parser.add_argument("--seconds", type=float, default=None, metavar="N",
                        help="stop generating alerts after N seconds (default: never)")
    parser.add_argument("--max-timeout", type=int, default=DEFAULT_MAX_TIMEOUT, metavar="S",
                        help=f"cap every <timeout> of the private ossec.conf (default "
                        f"{DEFAULT_MAX_TIMEOUT}s)")
    parser.add_argument("--seed", type=int, default=None, help="make the alert stream repeatable")
    parser.add_argument("--theme", metavar="NAME", help="console theme")
    parser.set_defaults(handler=run)


def sample_conf_dir() -> Path:
    """The sample home: inside the installed package (wheel), else beside it in the repo."""
    package = Path(arconsole.__file__).resolve().parent
    for candidate in (package / "sample-conf", package.parent / "sample-conf"):
        if (candidate / "etc").is_dir():
            return candidate
    raise DemoError("the sample home (sample-conf/) is not installed with arconsole")


def _rewrite_shebangs(bin_dir: Path) -> None:
    """Launchers run with this Python, which can import arconsole (no venv guesswork); the
    shipped scripts get the lean launcher `install-scripts` writes (no site: issue 13)."""
    from arconsole.scripts.install import SAMPLE_SCRIPTS, launcher_text

    if not bin_dir.is_dir():
        return
    for script in bin_dir.iterdir():
        if not script.is_file():
            continue
        data = script.read_bytes()
        if script.name in SAMPLE_SCRIPTS:
            script.write_text(launcher_text(SAMPLE_SCRIPTS[script.name], sys.executable))
        elif data.startswith(b"#!") and b"python" in data.split(b"\n", 1)[0]:
            rest = data.split(b"\n", 1)[1] if b"\n" in data else b""
            script.write_bytes(f"#!{sys.executable}\n".encode() + rest)
        mode = script.stat().st_mode
        script.chmod(mode | stat.S_IXUSR)


_TIMEOUT = re.compile(r"(<timeout>\s*)(\d+)(\s*</timeout>)")
_OFFENDERS = re.compile(r"(<repeated_offenders>)([^<]*)(</repeated_offenders>)")


def shorten_timeouts(text: str, max_timeout: int) -> str:
    """Cap every `<timeout>` at `max_timeout` seconds and every repeated-offender step (in
    minutes) at as many whole minutes, one at least: demo blocks expire within about a minute."""
    text = _TIMEOUT.sub(
        lambda m: f"{m.group(1)}{min(int(m.group(2)), max_timeout)}{m.group(3)}", text)
    minutes = max(1, max_timeout // 60)

    def offenders(match: re.Match[str]) -> str:
        steps = [s.strip() for s in match.group(2).split(",") if s.strip()]
        capped = [str(min(int(s), minutes)) if s.isdigit() else s for s in steps]
        return f"{match.group(1)}{','.join(capped)}{match.group(3)}"

    return _OFFENDERS.sub(offenders, text)


def prepare_home(home: Path, *, max_timeout: int = DEFAULT_MAX_TIMEOUT) -> Path:
    """Copy the sample into `home` (or reuse an earlier demo home there); return it."""
    home = home.absolute()
    if home.exists() and any(home.iterdir()):
        if not (home / DEMO_MARKER).is_file():
            raise DemoError(f"{home} is not empty and is not a demo home: refusing to use it")
        return home  # an earlier demo: keep its state so its blocks are restored
    source = sample_conf_dir()
    ensure_directory(home)
    home.chmod(0o700)
    shutil.copytree(source, home, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".gitkeep"))
    home.chmod(0o700)  # copytree copied the sample's own mode onto it
    if not (home / DEMO_MARKER).is_file():
        raise DemoError(f"{source} has no {DEMO_MARKER}: its scripts would not be in record mode")
    _rewrite_shebangs(home / "active-response" / "bin")
    config = home / "etc" / "ossec.conf"
    config.write_text(shorten_timeouts(config.read_text(encoding="utf-8"), max_timeout),
                      encoding="utf-8")
    ensure_directory(home / "logs" / "alerts")
    (home / "logs" / "alerts" / "alerts.json").touch()
    return home


def run(args: argparse.Namespace) -> int:
    keep = args.keep or args.home is not None
    try:
        if args.home is not None:
            home = prepare_home(args.home, max_timeout=args.max_timeout)
        else:
            home = prepare_home(Path(tempfile.mkdtemp(prefix="arconsole-demo-")),
                                max_timeout=args.max_timeout)
    except (DemoError, OSError) as error:
        from arconsole.commands.errors import path_failure
        from arconsole.safetext import literal

        reason = str(error)
        if isinstance(error, OSError):
            where = args.home if args.home is not None else Path(tempfile.gettempdir())
            reason = path_failure("prepare the demo home in", where, error)
        print(f"arconsole demo: {literal(reason)}", file=sys.stderr)
        return 1
    try:
        return asyncio.run(_run(home, args))
    finally:
        # Said after the console has given the terminal back, and true when it is read.
        if keep:
            print(f"arconsole demo: kept its home {home}", file=sys.stderr)
        else:
            shutil.rmtree(home, ignore_errors=True)
            print(f"arconsole demo: removed its temporary home {home} "
                  "(--keep or --home DIR keeps one)", file=sys.stderr)


def demo_note(home: Path) -> str:
    """What the header says the demo changed: the cap on the private config's timeouts."""
    try:
        text = (home / "etc" / "ossec.conf").read_text(encoding="utf-8")
    except OSError:
        return "timeouts shortened"
    timeouts = [int(m.group(2)) for m in _TIMEOUT.finditer(text)]
    return f"timeouts cut to {max(timeouts)} s" if timeouts else "timeouts shortened"


def white_listed_addresses(home: Path) -> list[str]:
    """Single addresses of the sample's white list, for the generator to trip over."""
    import ipaddress

    from arconsole.config.loader import load_config

    config = load_config(home / "etc" / "ossec.conf")
    addresses = []
    for entry in config.white_list:
        if entry.network is not None and not entry.negated:
            network = entry.network
            host = network.network_address if network.num_addresses == 1 else next(
                network.hosts(), network.network_address)
            if isinstance(host, ipaddress.IPv4Address) and not host.is_loopback:
                addresses.append(str(host))
    return addresses


def say_why_alerts_stopped(screen: MainScreen, feed: asyncio.Task[str | None]) -> None:
    """The generator stopped before its time (its file cannot be appended to): said in the
    events log and a toast, not left to look like a quiet network."""
    if feed.cancelled():
        return
    reason = feed.result()
    if reason is not None:
        from arconsole.console.flows import stamp
        from arconsole.console.text import escape_text

        screen.log_lines([f"{stamp(screen.clock())} error   demo alerts stopped: {reason}"])
        screen.toast(escape_text(f"demo alerts stopped: {reason}", limit=300), error=True)


async def _run(home: Path, args: argparse.Namespace) -> int:
    from arconsole.commands.console import run_console
    from arconsole.commands.engine_host import HostedEngine
    from arconsole.commands.errors import CommandError
    from arconsole.console.app import ConsoleApp
    from arconsole.console.generator import AlertGenerator
    from arconsole.engine.engine import Engine
    from arconsole.engine.link import LocalLink
    from arconsole.engine.options import EngineOptions
    from arconsole.safetext import literal

    options = EngineOptions(
        config_path=home / "etc" / "ossec.conf", home=home,
        alerts_path=home / "logs" / "alerts" / "alerts.json",
        state_path=home / "var" / "arconsole" / "state.db", from_start=True,
    )
    ensure_directory(home / "var" / "arconsole")
    host = HostedEngine(Engine(options))
    try:
        await host.start()
    except CommandError as error:
        print(f"arconsole demo: {literal(error.message)}", file=sys.stderr)
        return 1
    link = LocalLink(host.engine)
    generator = AlertGenerator(options.alerts_path, white_listed=white_listed_addresses(home),
                               seed=args.seed)
    app = ConsoleApp(link, theme=args.theme, demo=demo_note(home))
    task = asyncio.create_task(generator.run(args.rate, seconds=args.seconds))
    task.add_done_callback(partial(say_why_alerts_stopped, app.main))
    try:
        return await run_console(app, link, host)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
