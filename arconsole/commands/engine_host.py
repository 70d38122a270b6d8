"""An engine run by a command (`run`, the console, `demo`): the engine and its control socket,
started and stopped together, the socket last up and first down; a start that fails is said
in one line (what failed, where) with its exit status."""

from __future__ import annotations

import contextlib
import sqlite3

from arconsole.commands.engine_args import with_home_hint
from arconsole.commands.errors import CommandError, describe_start_failure
from arconsole.engine.control import ControlServer, serve_control
from arconsole.engine.engine import Engine, EngineError
from arconsole.engine.store import StateError


class HostedEngine:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._control: ControlServer | None = None

    async def start(self) -> None:
        """Start the engine, then serve its control socket. When either cannot start, what
        had started is stopped and CommandError says why (`describe_start_failure`)."""
        try:
            await self.engine.start()
            self._control = await serve_control(self.engine)
        except (EngineError, StateError, OSError, sqlite3.Error) as error:
            with contextlib.suppress(Exception):  # the failure to report is `error`
                await self.engine.stop(reverse=False)  # whatever had started (store, socket)
            options = self.engine.options
            message, status = describe_start_failure(
                error, config=options.config_path, state=options.state_path,
                alerts=options.alerts_path, socket=options.socket_path,
            )
            raise CommandError(with_home_hint(message, options), status) from error

    async def stop(self) -> None:
        if self._control is not None:
            await self._control.stop()
            self._control = None
        await self.engine.stop()
