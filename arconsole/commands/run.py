"""`arconsole run`: the headless engine."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from arconsole.commands.engine_args import (
    add_engine_options,
    options_from_args,
)
from arconsole.commands.errors import CommandError, report
from arconsole.wording import counted

if TYPE_CHECKING:
    from arconsole.commands.engine_host import HostedEngine
    from arconsole.engine.engine import Engine
    from arconsole.engine.eventlog import EventLogger


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run", help="run the active-response engine headless",
        description="Follow the alerts file, run responses, keep and reverse blocks. "
        "SIGTERM/SIGINT stop cleanly (blocks stay unless --reverse-on-exit); SIGHUP reloads. "
        "While it runs, `arconsole blocks ... --home HOME` and the console (`arconsole CONFIG`, "
        "same state file) attach to it over the control socket beside the state file.",
        epilog="Exit status: 0 stopped cleanly; 1 the engine could not start (the config has "
        "errors, or another engine owns the state file); 2 a path cannot be used (missing, "
        "not a directory, no permission) or an argument is wrong. Every such problem is one "
        "line on stderr.",
    )
    add_engine_options(parser)
    parser.add_argument("--quiet", action="store_true",
                        help="log only warnings, errors and backlog progress")
    parser.add_argument("--verbose", action="store_true",
                        help="also log alerts that fire nothing")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    options = options_from_args(args)
    return asyncio.run(_run(options, quiet=args.quiet, verbose=args.verbose))


def _log_words_as_lines(lines: EventLogger) -> Callable[[], None]:
    """Python logging of arconsole's modules (the alerts follower, the file watcher) goes
    through the run log's own format; returns what takes it out again."""
    from arconsole.engine.eventlog import LineHandler

    words = logging.getLogger("arconsole")
    handler = LineHandler(lines)
    before = words.level, words.propagate
    words.addHandler(handler)
    words.setLevel(logging.INFO)
    words.propagate = False

    def undo() -> None:
        words.removeHandler(handler)
        words.setLevel(before[0])
        words.propagate = before[1]
    return undo


async def _run(options: Any, *, quiet: bool, verbose: bool) -> int:
    from arconsole.commands.engine_host import HostedEngine
    from arconsole.engine.engine import Engine
    from arconsole.engine.eventlog import EventLogger

    engine = Engine(options)
    host = HostedEngine(engine)
    logger = EventLogger(sys.stderr, quiet=quiet, verbose=verbose)
    undo_logging = _log_words_as_lines(logger)
    try:
        return await _run_logged(engine, host, logger, options, verbose=verbose)
    finally:
        undo_logging()


async def _run_logged(engine: Engine, host: HostedEngine, logger: EventLogger, options: Any,
                      *, verbose: bool) -> int:
    # Alerts that fire nothing are logged only with --verbose: not even built otherwise.
    subscription = engine.bus.subscribe(idle_alerts=verbose)
    printer = asyncio.create_task(logger.follow(subscription))
    # Handlers go in before the control socket appears, so no signal finds the defaults.
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, engine.request_stop)
    loop.add_signal_handler(signal.SIGINT, engine.request_stop)
    loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(engine.reload()))
    try:
        await host.start()
    except CommandError as error:
        await asyncio.sleep(0)
        logger.flush(subscription)
        printer.cancel()
        return report(error.message, error.status)
    # Only the blocks the state file brought back: a backlog read at start (--from-start)
    # may already have added others by now.
    restored = sum(1 for block in engine.blocks.values() if block.restored)
    logger.line(
        f"engine started: mode {options.mode}, config {options.config_path} "
        f"(generation {engine.generation}), alerts {options.alerts_path}, "
        f"state {options.state_path}, {counted(restored, 'block')} restored"
    )
    # The start-up heap (modules, config, restored blocks) lives as long as the process: out of
    # the collector's sight, a full collection no longer stalls the loop for 30-70 ms scanning it.
    gc.freeze()
    await engine.run_until_stopped()
    logger.line("stopping")
    await host.stop()
    await asyncio.sleep(0)
    logger.flush(subscription)
    printer.cancel()
    logger.line(
        f"stopped after {time.time() - engine.stats.started_at:.0f}s: "
        f"{counted(engine.stats.alerts, 'alert')}, {counted(engine.stats.fired, 'response')}"
        f"{' imagined (dry run: none ran)' if options.mode == 'dry-run' else ''}, "
        f"{counted(engine.stats.input_errors, 'unreadable line')}, "
        f"{counted(len(engine.blocks), 'block')} kept"
    )
    return 0
