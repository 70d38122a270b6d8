"""The engine façade: start, stop and reload, and the stages wired in between.

This is Wazuh's analysisd active-response half plus execd in one asyncio process, with the
deliberate differences of spec 1.4: blocks persist (SQLite), scripts have a time limit and
run concurrently per key, operators can reverse, extend and add blocks.

Data flows one way through the stages:
intake (follow, decode, decide, watermark) -> dispatch (server protocols) or delivery (agents)
-> block book (blocks, timers, reversal); restore fills the book at start; operations are the
operator's way in. Callers (CLI, control socket, console) learn outcomes from events on `bus`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Iterable
from typing import Any

from arconsole.alerts.position import ReadPosition
from arconsole.config.model import Config
from arconsole.engine.agent_delivery import WazuhQueueDelivery
from arconsole.engine.agents import AgentDirectory
from arconsole.engine.blockbook import BlockBook
from arconsole.engine.bus import EventBus
from arconsole.engine.clock import Clock, SystemClock
from arconsole.engine.context import EngineContext, EngineStats
from arconsole.engine.crafted_tell import CraftedDstuserTell, CraftedSrcipTell
from arconsole.engine.decide import Decider
from arconsole.engine.delivery import AgentDelivery, NoTransport
from arconsole.engine.dispatch import Dispatcher
from arconsole.engine.drift import DriftChecker
from arconsole.engine.errors import EngineError, ReadOnlyError
from arconsole.engine.events import ConfigLoaded, ConfigRejected
from arconsole.engine.executor import Executor
from arconsole.engine.fleet import FleetStage, double_delivery_warning
from arconsole.engine.fleet_store import FleetStore
from arconsole.engine.intake import Intake
from arconsole.engine.inventory import AgentInventory
from arconsole.engine.model import ActionResult, Block, BlockState
from arconsole.engine.operations import Operations
from arconsole.engine.options import EngineOptions, Mode
from arconsole.engine.restore import lift_white_listed, restore_blocks
from arconsole.engine.script_report import ScriptReporter
from arconsole.engine.store import StateError, StateStore, StoreWriteError
from arconsole.engine.timers import TimerTable
from arconsole.wording import counted

__all__ = ["ActionResult", "Engine", "EngineError", "EngineStats", "ReadOnlyError"]

SNAPSHOT_CHECK_S = 0.25


class Engine:
    def __init__(
        self,
        options: EngineOptions,
        *,
        clock: Clock | None = None,
        delivery: AgentDelivery | None = None,
    ) -> None:
        self.options = options
        self.clock: Clock = clock or SystemClock()
        self.context = EngineContext(options, self.clock)
        reporter = ScriptReporter(self.context)
        self.book = BlockBook(self.context, reporter)
        self.dispatcher = Dispatcher(self.context, self.book, reporter)
        self.agent_delivery: WazuhQueueDelivery | None = None
        if delivery is None and options.agent_queue is not None:
            self.agent_delivery = WazuhQueueDelivery(
                self.context, options.agent_queue, lambda: self.inventory.current)
            delivery = self.agent_delivery
        self.inventory = AgentInventory(self.context)
        self.intake = Intake(self.context, self.dispatcher, delivery or NoTransport(self.context))
        self.fleet = FleetStage(self.context, lambda: self.intake.decider, self.agent_delivery)
        self.intake.observe = self.fleet.observe
        self.crafted_srcip = CraftedSrcipTell(self.context)  # counted, told now and then
        self.crafted_dstuser = CraftedDstuserTell(self.context)
        self.operations = Operations(self.context, self.book, self.dispatcher)
        self.drift = DriftChecker(self.context, self.book, reporter)
        self.operations.agent_reverse = self.fleet.reverse_on_agent
        self.generation = 0
        self._background: list[asyncio.Task[None]] = []
        self._fleet_store: FleetStore | None = None  # closed at stop
        self._stopped = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._config_digest: bytes | None = None
        self._rejected_digest: bytes | None = None  # the broken content last refused

    # ------------------------------------------------------------------ what callers read

    @property
    def bus(self) -> EventBus:
        return self.context.bus

    @property
    def stats(self) -> EngineStats:
        return self.context.stats

    @property
    def config(self) -> Config | None:
        return self.context.config

    @property
    def blocks(self) -> dict[str, Block]:
        return self.book.blocks

    @property
    def timers(self) -> TimerTable:
        return self.book.timers

    @property
    def mode(self) -> Mode:
        return self.options.mode

    @property
    def read_only(self) -> bool:
        return self.options.read_only

    @property
    def store(self) -> StateStore:
        return self.context.store

    @property
    def store_fault(self) -> str | None:
        """Why the state file cannot be written now, or None (the console shows it)."""
        return self.context.health.fault

    @property
    def store_fault_since(self) -> float | None:
        """When the current store fault began (clock time), or None."""
        return self.context.health.faulted_at

    @property
    def store_warnings(self) -> list[str]:
        """What the state store found wrong at open (a world-writable directory...): logged
        at start, and shown by the console for as long as it runs."""
        store = self.context.store_or_none
        return store.warnings if store is not None else []

    @property
    def executor(self) -> Executor:
        return self.context.executor

    # ------------------------------------------------------------------ lifecycle

    async def start(self, *, follow: bool = True) -> None:
        """Load the config, take the state file, restore blocks, start following alerts."""
        from arconsole.config.loader import read_config_bytes
        from arconsole.config.watch import content_digest
        from arconsole.engine.agents import AgentsFileError

        context = self.context
        with contextlib.suppress(OSError):  # ConfigReadError too: load_config says it below
            # What was loaded, so an edit made before the watcher starts still reloads.
            self._config_digest = content_digest(read_config_bytes(self.options.config_path))
        from arconsole.config.loader import ConfigReadError

        try:
            config = self._load_config()
        except ConfigReadError as error:
            raise EngineError(f"cannot read {self.options.config_path}: {error}") from error
        if not config.ok:
            first = config.errors[0]
            raise EngineError(
                f"{config.path}:{first.line}:{first.column}: error: {first.message} "
                f"[{first.code}] ({counted(len(config.errors), 'error')}; run 'arconsole check')"
            )
        try:
            decider = self._decider_for(config)
        except AgentsFileError as error:
            raise EngineError(str(error)) from error
        self._install_config(config, decider, summary="initial load")
        try:
            context.store_or_none = StateStore.open(
                self.options.state_path, clock=self.clock.now,
                offender_decay=self.options.offender_decay,
            )
        except StateError as error:
            raise EngineError(str(error)) from error
        if context.store.recovered_from is not None:
            context.notice(
                "error",
                f"state file was corrupt: moved to {context.store.recovered_from} and "
                "recreated; blocks recorded there are no longer tracked",
            )
        for notice in context.store.notices:  # world-writable directory, snapshot restore...
            context.notice(notice.level, notice.message)
        context.health.set_resync(self._resync_store)
        context.executor_or_none = Executor(
            self.options.home,
            time_limit=self.options.time_limit,
            max_concurrency=self.options.max_concurrency,
        )
        context.notice("info", f"scripts are contained by {context.executor.decide_containment()}; "
                       "what a script leaves running is killed when it exits")
        if self.inventory.note is not None:
            context.notice("info", self.inventory.note)
        if self.options.agent_queue is not None:
            double = double_delivery_warning(config, self.options.config_path,
                                             self.options.home)
            if double is not None:
                context.notice("warning", double)
        if not self.options.read_only:
            fleet_store = self._fleet_store = FleetStore(context.store)
            self.fleet.attach(fleet_store)
            if self.agent_delivery is not None:
                self.agent_delivery.attach(fleet_store)
                self._run_in_background(self.agent_delivery.run(), "agent-delivery")
                self._run_in_background(self.agent_delivery.blocks.timer_loop(),
                                        "agent-blocks")
        await restore_blocks(context, self.book)
        self.intake.prepare()
        self._run_in_background(self.book.timer_loop(), "timers")
        self._run_in_background(self._snapshot_loop(), "snapshot")
        if self.options.verify_interval and not context.dry_run:
            self._run_in_background(self.drift.loop(self.options.verify_interval), "drift")
        if follow:
            self._run_in_background(self.intake.follow_loop(), "follow")
            self._run_in_background(self.intake.commit_loop(), "commit")
        if self.options.watch_config:
            self._run_in_background(self._config_loop(), "config")
            if self.options.agents_file is not None:
                self._run_in_background(
                    self.inventory.watch(self.options.agents_file, self._agents_changed), "agents")

    async def _snapshot_loop(self) -> None:
        """Keep the blocks snapshot beside the state file current (at most once a second)."""
        store = self.context.store
        while True:
            await asyncio.sleep(SNAPSHOT_CHECK_S)
            if not self.context.health.ok:
                continue  # recovery writes one
            try:
                store.maybe_snapshot()
            except StoreWriteError as error:
                self.context.health.failed(error)

    def _resync_store(self) -> None:
        """After a store fault: put the whole block book back, then the read position."""
        self.book.rewrite_store()
        self.context.store.write_snapshot()
        self.intake.commit_position(force=True)

    def _run_in_background(self, loop: Coroutine[Any, Any, None], name: str) -> None:
        self._background.append(asyncio.create_task(loop, name=name))

    async def stop(self, *, reverse: bool | None = None) -> None:
        """Stop cleanly: finish running scripts, save the read position, keep or lift blocks."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        context = self.context
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._background.clear()
        await context.health.aclose()
        await context.drain()
        if reverse if reverse is not None else self.options.reverse_on_exit:
            # Wazuh's shutdown: every pending delete runs now (spec 7.1, scenario T4).
            context.notice("info", "Shutdown received. Deleting responses.")
            keys = [b.key for b in self.blocks.values() if b.state is BlockState.ACTIVE]
            await asyncio.gather(*(self.book.reverse(k, "shutdown") for k in keys))
        if self.stats.too_old:
            too_old = self.stats.too_old
            context.notice("info", f"{counted(too_old, 'alert')} older than "
                           f"{self.options.skip_backlog_older_than:g}s "
                           f"{'was' if too_old == 1 else 'were'} not acted on")
        if context.store_or_none is not None:
            self.intake.commit_position(force=True)
            context.writes.flush()
        if self.agent_delivery is not None:
            self.agent_delivery.close()
        self.fleet.flush()
        if self._fleet_store is not None:
            self._fleet_store.close()
        self.intake.commit_position(force=True)
        context.writes.flush()
        if context.executor_or_none is not None:
            await context.executor.aclose()
        if context.store_or_none is not None:
            context.store.close()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    def request_stop(self) -> None:
        """Ask `run_until_stopped` to return (signal handlers call this)."""
        self._stop_requested.set()

    async def run_until_stopped(self) -> None:
        await self._stop_requested.wait()

    async def drain(self) -> None:
        """Wait until every dispatched response has finished (tests, benchmarks)."""
        await self.context.drain()

    # ------------------------------------------------------------------ config

    def _load_config(self) -> Config:
        """The config file as it is now (ConfigReadError when it cannot be read)."""
        from arconsole.config.loader import load_config

        options = self.options
        return load_config(options.config_path, flavour=options.flavour, role=options.role)

    def _decider_for(self, config: Config) -> Decider:
        """Everything a config needs before it can be swapped in (AgentsFileError if the
        agents file went bad)."""
        return Decider(config, self.inventory.load(), crafted_srcip=self.crafted_srcip,
                       crafted_dstuser=self.crafted_dstuser)

    @property
    def agents_watch_ready(self) -> asyncio.Event:
        return self.inventory.watch_ready

    def reload_agents(self) -> bool:
        """Read the agents file again and decide with it from now on (False: kept the old)."""
        agents = self.inventory.reread()
        if agents is None:
            return False
        self._agents_changed(agents)
        return True

    def _agents_changed(self, agents: AgentDirectory) -> None:
        config = self.config
        if config is not None:  # no await: an alert sees the old inventory or the new whole
            self.intake.decider = Decider(config, agents, crafted_srcip=self.crafted_srcip,
                                          crafted_dstuser=self.crafted_dstuser)

    def _install_config(self, config: Config, decider: Decider, *, summary: str) -> None:
        # No await from here to the publish: alerts see the old config or the new one whole.
        self.intake.decider = decider
        self.context.config = config
        self.generation += 1
        warnings = sum(1 for d in config.diagnostics if d.severity == "warning")
        self.bus.publish(
            ConfigLoaded(
                at=self.clock.now(), generation=self.generation, path=config.path,
                summary=summary, warnings=warnings,
            )
        )

    def _reject(self, first_error: str, errors: int, path: str | None = None) -> bool:
        self.bus.publish(ConfigRejected(
            at=self.clock.now(), path=path or str(self.options.config_path),
            first_error=first_error, errors=errors,
        ))
        return False

    async def reload(self) -> bool:
        """Load the config again; swap it in only when it has no error (spec issue 5)."""
        from arconsole.config.diff import diff_configs
        from arconsole.config.loader import ConfigReadError, read_config_bytes
        from arconsole.config.watch import content_digest
        from arconsole.engine.agents import AgentsFileError

        try:
            digest = content_digest(read_config_bytes(self.options.config_path))
            if digest == self._rejected_digest:
                return False  # the same broken content again (watcher, then SIGHUP): said once
            config = self._load_config()
        except ConfigReadError as error:
            return self._reject(f"{self.options.config_path}: cannot read: {error}", 1)
        if not config.ok:
            self._rejected_digest = digest
            first = config.errors[0]
            return self._reject(
                f"{config.path}:{first.line}:{first.column}: error: {first.message} "
                f"[{first.code}]", len(config.errors), config.path,
            )
        old = self.config
        if old is None:
            return False  # not started yet: start() loads the config itself
        try:
            decider = self._decider_for(config)
        except AgentsFileError as error:  # an agents file gone bad: keep the old config
            return self._reject(f"--agents: {error}", 1, config.path)
        except Exception as error:  # a bug: keep the old config
            return self._reject(f"{type(error).__name__}: {error}", 1, config.path)
        self._rejected_digest = None
        self._install_config(config, decider, summary=diff_configs(old, config).summary())
        self.context.spawn(
            lift_white_listed(self.context, self.book, "white-listed by the reloaded config")
        )
        return True

    async def _config_loop(self) -> None:
        from arconsole.config.watch import watch_config

        changes = watch_config(self.options.config_path, since=self._config_digest)
        async with contextlib.aclosing(changes):
            async for _ in changes:
                await self.reload()

    # ------------------------------------------------------------------ the stages' doors

    async def handle_line(self, data: bytes, position: ReadPosition | None = None) -> None:
        """Decide one alerts.json line and dispatch what fires. Never raises on bad input."""
        await self.intake.handle_line(data, position)

    async def handle_record(self, data: bytes, position: ReadPosition | None = None) -> None:
        """Decide one alerts.log record, as `handle_line`."""
        await self.intake.handle_record(data, position)

    async def reverse_blocks(self, keys: Iterable[str], operator: str) -> list[ActionResult]:
        return await self.operations.reverse_blocks(keys, operator)

    async def reverse_all(self, operator: str) -> list[ActionResult]:
        return await self.operations.reverse_all(operator)

    async def forget_blocks(self, keys: Iterable[str], operator: str) -> list[ActionResult]:
        return await self.operations.forget_blocks(keys, operator)

    async def extend_block(self, key: str, seconds: int, operator: str) -> ActionResult:
        return await self.operations.extend_block(key, seconds, operator)

    async def add_block(
        self, command: str, srcip: str, operator: str, *, timeout: int | None = None,
        force: bool = False, requester_address: str | None = None,
    ) -> ActionResult:
        return await self.operations.add_block(
            command, srcip, operator, timeout=timeout, force=force,
            requester_address=requester_address,
        )

    def list_blocks(self) -> list[Block]:
        return self.operations.list_blocks()
