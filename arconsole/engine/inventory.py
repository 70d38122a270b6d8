"""The agent inventory: which agents exist, which are active, and their Wazuh versions.

From `--agents FILE` (Wazuh API `GET /agents` answer, or the list `explain` takes), re-read
whenever the file changes; without it, when a transport is set, from `HOME/etc/client.keys`
(versions unknown, taken as 4.2 or later, said once). A bad file keeps the agents known
before and says why.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

from arconsole.engine.agents import AgentDirectory
from arconsole.engine.context import EngineContext
from arconsole.wording import counted


class AgentInventory:
    def __init__(self, context: EngineContext) -> None:
        self._context = context
        self.current: AgentDirectory | None = None
        self.note: str | None = None  # said once at start (client.keys)
        self._digest: bytes | None = None
        self.watch_ready = asyncio.Event()  # set once `--agents FILE` is watched

    def load(self) -> AgentDirectory | None:
        """The inventory for a config being installed (AgentsFileError if the file is bad)."""
        options = self._context.options
        agents = None
        if options.agents_file is not None:
            from arconsole.config.watch import content_digest
            from arconsole.engine.agents import load_agents

            with contextlib.suppress(OSError):  # read before loading: a later edit still fires
                self._digest = content_digest(options.agents_file.read_bytes())
            agents = load_agents(options.agents_file)
        elif options.agent_queue is not None:
            agents = self._client_keys()
        self.current = agents
        return agents

    def _client_keys(self) -> AgentDirectory | None:
        """Without --agents, a transport learns the agents from HOME/etc/client.keys."""
        from arconsole.engine.agents import AgentsFileError, load_client_keys

        try:
            agents = load_client_keys(self._context.options.home)
        except AgentsFileError as error:
            self._context.notice("warning", f"no agent inventory: {error}; 'all' reaches "
                                 "no agent (pass --agents FILE)")
            return None
        if self.note is None:  # said once, in the state file's log
            self.note = (
                f"agents from {agents.source}: {len(agents.agents)}; their Wazuh versions "
                "are unknown and taken as 4.2 or later")
        return agents

    async def watch(self, path: Path, changed: Callable[[AgentDirectory], None]) -> None:
        """`--agents FILE` is re-read whenever its content changes (not only at a reload),
        parsed on a worker thread: a fleet-sized file takes seconds, the loop must not wait."""
        from arconsole.config.watch import watch_config
        from arconsole.engine.agents import AgentsFileError, load_agents

        changes = watch_config(path, since=self._digest, ready=self.watch_ready)
        async with contextlib.aclosing(changes):
            async for _ in changes:
                try:
                    agents = await asyncio.to_thread(load_agents, path)
                except AgentsFileError as error:
                    self._kept(error, path)
                else:
                    changed(self._took(agents, path))

    def reread(self) -> AgentDirectory | None:
        """The agents file again; None (and a warning) when it went bad."""
        from arconsole.engine.agents import AgentsFileError, load_agents

        path = self._context.options.agents_file
        if path is None:
            return None
        try:
            return self._took(load_agents(path), path)
        except AgentsFileError as error:
            self._kept(error, path)
            return None

    def _took(self, agents: AgentDirectory, path: Path) -> AgentDirectory:
        self.current = agents
        self._context.notice("info", f"agents re-read from {path}: "
                             f"{counted(len(agents.agents), 'agent')}, "
                             f"{len(agents.active_ids)} active")
        return agents

    def _kept(self, error: Exception, path: Path) -> None:
        said = str(error) if str(path) in str(error) else f"{path}: {error}"
        self._context.notice("warning", f"{said}; the agents known before are kept")
