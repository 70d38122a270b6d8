"""An engine run by a command (`run`, the console, `demo`): the engine and its control socket,
started and stopped together, the socket last up and first down."""

from __future__ import annotations

from arconsole.engine.control import ControlServer, serve_control
from arconsole.engine.engine import Engine


class HostedEngine:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._control: ControlServer | None = None

    async def start(self) -> None:
        """Start the engine (EngineError when it cannot), then serve its control socket."""
        await self.engine.start()
        self._control = await serve_control(self.engine)

    async def stop(self) -> None:
        if self._control is not None:
            await self._control.stop()
            self._control = None
        await self.engine.stop()
