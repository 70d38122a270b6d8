"""`arconsole [CONFIG] [options of run]`: the console, with the engine embedded or attached.

When an engine already owns the state file (its control socket answers), the console attaches
to it instead of starting a second engine. Leaving the console (ctrl+q, or the SSH session
dropping) never lifts blocks: they stay in the state file and the next start restores them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import threading
from typing import TYPE_CHECKING

from arconsole.commands.engine_args import (
    add_engine_options,
    options_from_args,
)
from arconsole.commands.errors import (
    EXIT_FAILED,
    CommandError,
    report,
)

if TYPE_CHECKING:
    from pathlib import Path

    from arconsole.commands.engine_host import HostedEngine
    from arconsole.console.app import ConsoleApp
    from arconsole.engine.link import EngineLink, SocketLink
    from arconsole.engine.options import EngineOptions

HANGUP_GRACE = 10.0  # after a hang-up, exit for sure this many seconds later


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "The operator console. Starts the engine (same options as `arconsole run`), or "
        "attaches to the engine that already owns the state file."
    )
    add_engine_options(parser)
    add_console_options(parser)


def add_console_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--read-only", action="store_true",
                        help="change nothing: no reverse, extend, block or reload")
    parser.add_argument("--theme", metavar="NAME",
                        help="arconsole-dark, arconsole-light, arconsole-ansi, a Textual theme "
                        "or one of ~/.config/arconsole/themes/*.toml")
    parser.add_argument("--no-mouse", action="store_true",
                        help="leave the mouse to the terminal (select and copy as usual)")
    parser.add_argument("--attach", metavar="SOCKET", action="append", default=[],
                        help="attach to the engine serving this control socket (repeat it for "
                        "several managers or cluster nodes: their blocks are merged with a "
                        "NODE column); no engine is started")


def run(args: argparse.Namespace) -> int:
    if args.attach:
        from pathlib import Path

        sockets = [Path(path) for path in args.attach]
        return asyncio.run(_run_attached(sockets, read_only=args.read_only, theme=args.theme,
                                         mouse=not args.no_mouse))
    options = options_from_args(args, read_only=args.read_only)
    return asyncio.run(_run(options, theme=args.theme, mouse=not args.no_mouse))


async def _run(options: EngineOptions, *, theme: str | None, mouse: bool) -> int:
    from arconsole.commands.engine_host import HostedEngine
    from arconsole.console.app import ConsoleApp
    from arconsole.engine.control import engine_listening
    from arconsole.engine.engine import Engine
    from arconsole.engine.link import LocalLink

    host: HostedEngine | None = None
    link: EngineLink
    if await asyncio.to_thread(engine_listening, options.socket_path):
        try:
            link = await _connect(options.socket_path, read_only=options.read_only)
        except CommandError as error:
            return report(error.message, error.status)
    else:
        host = HostedEngine(Engine(options))
        try:
            await host.start()
        except CommandError as error:
            return report(error.message, error.status)
        link = LocalLink(host.engine)
    app = ConsoleApp(link, theme=theme, flavour=options.flavour, role=options.role)
    return await run_console(app, link, host, mouse=mouse)


async def _run_attached(sockets: list[Path], *, read_only: bool, theme: str | None,
                        mouse: bool) -> int:
    """`--attach SOCKET ...`: one engine is reached directly, several through a MultiLink."""
    from arconsole.console.app import ConsoleApp
    from arconsole.engine.multilink import MultiLink

    links: list[SocketLink] = []
    for path in sockets:
        try:
            links.append(await _connect(path, read_only=read_only))
        except CommandError as error:
            for attached in links:
                await attached.close()
            return report(error.message, error.status)
    link: EngineLink = links[0] if len(links) == 1 else MultiLink(links)
    app = ConsoleApp(link, theme=theme)
    return await run_console(app, link, None, mouse=mouse)


async def _connect(path: Path, *, read_only: bool) -> SocketLink:
    """The engine on the control socket `path`; CommandError (status 1) saying why not."""
    from arconsole.engine.control import ControlError
    from arconsole.engine.link import SocketLink

    try:
        return await SocketLink.connect(path, read_only=read_only)
    except (ControlError, OSError) as error:
        raise CommandError(f"cannot attach to the engine on {path}: {error}",
                           EXIT_FAILED) from None


async def run_console(app: ConsoleApp, link: EngineLink, engine: HostedEngine | None, *,
                      mouse: bool = True) -> int:
    """Run `app` until the operator leaves or the terminal goes away; then stop cleanly.

    SIGHUP (the SSH session dropped) and SIGTERM stop the engine *first*, so its state is
    saved even if the dead terminal then makes the UI's own shutdown hang; a watchdog ends
    the process if it does.
    """
    loop = asyncio.get_running_loop()
    stopping: list[asyncio.Task[None]] = []

    async def shutdown() -> None:
        if engine is not None:
            await engine.stop()
        app.exit(0)

    def hang_up() -> None:
        if stopping:
            return
        _start_watchdog(HANGUP_GRACE)
        stopping.append(asyncio.ensure_future(shutdown()))

    handled = (signal.SIGHUP, signal.SIGTERM)
    for signum in handled:
        loop.add_signal_handler(signum, hang_up)
    try:
        await app.run_async(mouse=mouse)
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
        for task in stopping:
            with contextlib.suppress(Exception):
                await task
        with contextlib.suppress(Exception):
            await link.close()
        if engine is not None:
            await engine.stop()
    return 0


def _start_watchdog(seconds: float) -> None:
    def expire() -> None:
        # The engine has stopped (state saved); only the terminal's teardown is stuck.
        os._exit(0)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
