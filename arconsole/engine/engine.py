"""The engine façade: follow alerts, decide, run responses, keep and reverse blocks.

This is Wazuh's analysisd active-response half plus execd in one asyncio process, with the
deliberate differences of spec 1.4: blocks persist (SQLite), scripts have a time limit and
run concurrently per key, operators can reverse, extend and add blocks.

Everything that changes state goes through this class; read-only mode is enforced here and
nowhere else. Callers (CLI, control socket, console) learn outcomes from events on `bus`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from arconsole.addresses import strip_mapped
from arconsole.alerts.detect import AlertFormat, detect_format
from arconsole.alerts.follower import AlertFollower, Line, Skipped
from arconsole.alerts.model import Alert, AlertError
from arconsole.alerts.position import ReadPosition
from arconsole.alerts.record_follower import AlertsLogFollower, Record
from arconsole.alerts.rotation import first_line_hash
from arconsole.config.executables import PROGRAM_DIR
from arconsole.config.model import ActiveResponse, Config, Flavour
from arconsole.engine.bus import EventBus
from arconsole.engine.clock import Clock, SystemClock
from arconsole.engine.decide import Decider
from arconsole.engine.events import (
    AlertHandled,
    BacklogProgress,
    BlockChanged,
    ConfigLoaded,
    ConfigRejected,
    InputError,
    Notice,
    OperatorAction,
    ScriptRan,
    Undelivered,
)
from arconsole.engine.executor import ExecutableError, Executor, ScriptResult
from arconsole.engine.handshake import block_key, parse_check_keys
from arconsole.engine.messages import ExecdMessage, argv_words
from arconsole.engine.model import AuditEntry, Block, BlockState, Protocol
from arconsole.engine.offenders import escalate
from arconsole.engine.options import EngineOptions, Mode
from arconsole.engine.store import StateError, StateStore
from arconsole.engine.timers import TimerTable, expiry_instant
from arconsole.engine.whitelist import WhiteList
from arconsole.safetext import literal

if TYPE_CHECKING:
    from arconsole.engine.control import ControlServer


class EngineError(Exception):
    """The engine cannot start (bad config, state file owned by another engine...)."""


class ReadOnlyError(EngineError):
    """A change was asked of an engine started read-only."""


@dataclass(frozen=True, slots=True)
class ActionResult:
    """The outcome of an operator action, exactly as it is printed and audited."""

    ok: bool
    action: str
    target: str
    detail: str
    block: Block | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "action": self.action,
            "target": self.target,
            "detail": self.detail,
            "block": self.block.to_json() if self.block else None,
        }


@dataclass(slots=True)
class EngineStats:
    alerts: int = 0
    input_errors: int = 0
    too_old: int = 0  # alerts not acted on: older than --skip-backlog-older-than
    fired: int = 0
    scripts_ok: int = 0
    scripts_failed: int = 0
    undelivered: int = 0
    started_at: float = field(default_factory=time.time)


@dataclass(slots=True)
class _PendingLine:
    position: ReadPosition | None
    remaining: int


class Engine:
    def __init__(
        self,
        options: EngineOptions,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.options = options
        self.clock: Clock = clock or SystemClock()
        self.bus = EventBus()
        self.stats = EngineStats(started_at=self.clock.now())
        self.blocks: dict[str, Block] = {}
        self.timers = TimerTable()
        self.config: Config | None = None
        self.generation = 0
        self._decider: Decider | None = None
        self._store: StateStore | None = None
        self._executor: Executor | None = None
        self._offences: dict[str, int] = {}
        # (executable, alert id) of restored blocks: an alert re-read after a crash whose
        # block was already recorded is not run again.
        self._restored_triggers: set[tuple[str, str]] = set()
        self._key_busy: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[object]] = set()
        self._background: list[asyncio.Task[None]] = []
        self._timers_changed = asyncio.Event()
        self._stopped = asyncio.Event()
        self._line_number = 0
        self._pending: dict[int, _PendingLine] = {}
        self._next_seq = 0
        self._committed_seq = -1
        self._last_position: ReadPosition | None = None
        self._position_dirty = False
        self._control: ControlServer | None = None
        self._start_position: ReadPosition | None = None
        self._config_digest: bytes | None = None
        self._dispatch_slots = asyncio.Semaphore(max(1, options.max_concurrency * 64))
        self.alerts_format = AlertFormat.JSON  # decided by start()
        self._handled_position: ReadPosition | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def mode(self) -> Mode:
        return self.options.mode

    @property
    def read_only(self) -> bool:
        return self.options.read_only

    @property
    def store(self) -> StateStore:
        assert self._store is not None, "engine not started"
        return self._store

    @property
    def executor(self) -> Executor:
        assert self._executor is not None, "engine not started"
        return self._executor

    async def start(self, *, follow: bool = True) -> None:
        """Load the config, take the state file, restore blocks, start following alerts."""

        from arconsole.config.watch import content_digest

        with contextlib.suppress(OSError):
            # What was loaded, so an edit made before the watcher starts still reloads.
            self._config_digest = content_digest(self.options.config_path.read_bytes())
        config = self._load_config()
        if not config.ok:
            first = config.errors[0]
            raise EngineError(
                f"{config.path}:{first.line}:{first.column}: error: {first.message} "
                f"[{first.code}] ({len(config.errors)} error(s); run 'arconsole check')"
            )
        from arconsole.engine.agents import AgentsFileError

        try:
            decider = self._decider_for(config)
        except AgentsFileError as error:
            raise EngineError(str(error)) from error
        self._install_config(config, decider, summary="initial load")
        try:
            self._store = StateStore.open(
                self.options.state_path, clock=self.clock.now,
                offender_decay=self.options.offender_decay,
            )
        except StateError as error:
            raise EngineError(str(error)) from error
        store = self.store
        if store.recovered_from is not None:
            self._notice(
                "error",
                f"state file was corrupt: moved to {store.recovered_from} and recreated; "
                "blocks recorded there are no longer tracked",
            )
        self._executor = Executor(
            self.options.home,
            time_limit=self.options.time_limit,
            max_concurrency=self.options.max_concurrency,
        )
        await self._restore_blocks()
        self.alerts_format = self._detect_alerts_format()
        if self.alerts_format is AlertFormat.LOG:
            self._notice("info", f"{self.options.alerts_path} is an OSSEC alerts.log: "
                         "following its multi-line records")
        self._start_position = self._initial_position()
        self._background.append(asyncio.create_task(self._timer_loop(), name="timers"))
        if follow:
            self._background.append(asyncio.create_task(self._follow_loop(), name="follow"))
            self._background.append(asyncio.create_task(self._commit_loop(), name="commit"))
        if self.options.watch_config:
            self._background.append(asyncio.create_task(self._config_loop(), name="config"))
        if self.options.control_socket:
            from arconsole.engine.control import ControlServer

            self._control = ControlServer(self, self.options.socket_path)
            await self._control.start()

    async def stop(self, *, reverse: bool | None = None) -> None:
        """Stop cleanly: finish running scripts, save the read position, keep or lift blocks."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._background.clear()
        if self._control is not None:
            await self._control.stop()
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if reverse if reverse is not None else self.options.reverse_on_exit:
            # Wazuh's shutdown: every pending delete runs now (spec 7.1, scenario T4).
            self._notice("info", "Shutdown received. Deleting responses.")
            keys = [b.key for b in self.blocks.values() if b.state is BlockState.ACTIVE]
            await asyncio.gather(*(self._reverse(k, "shutdown") for k in keys))
        if self.stats.too_old:
            self._notice("info", f"{self.stats.too_old} alert(s) older than "
                         f"{self.options.skip_backlog_older_than:g}s were not acted on")
        self._commit_position(force=True)
        if self._executor is not None:
            await self.executor.aclose()
        if self._store is not None:
            self.store.close()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    def request_stop(self) -> None:
        """Ask `run_until_stopped` to return (signal handlers call this)."""
        self._stop_requested.set()

    async def run_until_stopped(self) -> None:
        await self._stop_requested.wait()

    @property
    def _stop_requested(self) -> asyncio.Event:
        event: asyncio.Event | None = getattr(self, "_stop_event", None)
        if event is None:
            event = asyncio.Event()
            self._stop_event = event
        return event

    # ------------------------------------------------------------------ config

    def _load_config(self) -> Config:
        from arconsole.config.loader import ConfigReadError, load_config

        try:
            return load_config(
                self.options.config_path, flavour=self.options.flavour, role=self.options.role
            )
        except ConfigReadError as error:
            raise EngineError(f"cannot read {self.options.config_path}: {error}") from error

    def _decider_for(self, config: Config) -> Decider:
        """Everything a config needs before it can be swapped in (AgentsFileError if the
        agents file went bad)."""
        agents = None
        if self.options.agents_file is not None:
            from arconsole.engine.agents import load_agents

            agents = load_agents(self.options.agents_file)
        return Decider(config, agents)

    def _install_config(self, config: Config, decider: Decider, *, summary: str) -> None:
        # No await from here to the publish: alerts see the old config or the new one whole.
        self._decider = decider
        self.config = config
        self.generation += 1
        warnings = sum(1 for d in config.diagnostics if d.severity == "warning")
        self.bus.publish(
            ConfigLoaded(
                at=self.clock.now(), generation=self.generation, path=config.path,
                summary=summary, warnings=warnings,
            )
        )

    async def reload(self) -> bool:
        """Load the config again; swap it in only when it has no error (spec issue 5)."""
        from arconsole.config.diff import diff_configs
        from arconsole.config.loader import ConfigReadError, load_config

        try:
            config = load_config(
                self.options.config_path, flavour=self.options.flavour, role=self.options.role
            )
        except ConfigReadError as error:
            self.bus.publish(
                ConfigRejected(
                    at=self.clock.now(), path=str(self.options.config_path),
                    first_error=f"{self.options.config_path}: cannot read: {error}", errors=1,
                )
            )
            return False
        if not config.ok:
            first = config.errors[0]
            self.bus.publish(
                ConfigRejected(
                    at=self.clock.now(), path=config.path,
                    first_error=f"{config.path}:{first.line}:{first.column}: error: "
                    f"{first.message} [{first.code}]",
                    errors=len(config.errors),
                )
            )
            return False
        old = self.config
        if old is None:
            return False  # not started yet: start() loads the config itself
        try:
            decider = self._decider_for(config)
        except Exception as error:  # an agents file gone bad, or a bug: keep the old config
            self.bus.publish(
                ConfigRejected(
                    at=self.clock.now(), path=config.path,
                    first_error=f"{type(error).__name__}: {error}", errors=1,
                )
            )
            return False
        self._install_config(config, decider, summary=diff_configs(old, config).summary())
        self._spawn(self._lift_white_listed("white-listed by the reloaded config"))
        return True

    async def _config_loop(self) -> None:
        from arconsole.config.watch import watch_config

        changes = watch_config(self.options.config_path, since=self._config_digest)
        async with contextlib.aclosing(changes):
            async for _ in changes:
                await self.reload()

    # ------------------------------------------------------------------ alerts

    def _detect_alerts_format(self) -> AlertFormat:
        """OSSEC's `alerts.log` by its name or its first record; `alerts.json` otherwise."""
        path = self.options.alerts_path
        if path.name == "alerts.log":
            return AlertFormat.LOG
        head = _read_head(path, 4096)
        return detect_format(head) if head else AlertFormat.JSON

    async def _follow_loop(self) -> None:
        """Follow the alerts file for the engine's life; a crashed follower is started again
        after the last item handled, so a bug costs a pause and a log line, not the stream."""
        position = self._start_position
        # No position: --from-start, or no file at start, whose content is all new when it
        # appears (even if it appears before the follower first looks).
        from_start = position is None
        while True:
            follower: AlertFollower | AlertsLogFollower
            if self.alerts_format is AlertFormat.LOG:
                follower = AlertsLogFollower(
                    self.options.alerts_path, position=position, from_start=from_start
                )
                batches: AsyncGenerator[Sequence[Line | Record | Skipped], None] = _one_by_one(
                    follower.records()
                )
            else:
                follower = AlertFollower(
                    self.options.alerts_path, position=position, from_start=from_start
                )
                batches = follower.batches()
            try:
                async with contextlib.aclosing(batches):
                    await self._consume(follower, batches)
                return
            except Exception as error:  # a bug: reported, then following goes on
                self._notice("error", f"following {self.options.alerts_path} failed: "
                             f"{type(error).__name__}: {error}; starting again in 1s")
                position = self._handled_position or position
                from_start = position is None
                await asyncio.sleep(1.0)

    async def _consume(
        self,
        follower: AlertFollower | AlertsLogFollower,
        batches: AsyncIterator[Sequence[Line | Record | Skipped]],
    ) -> None:
        """Handle each item in order; publish backlog progress at most twice a second."""
        last_progress = 0.0
        catching_up = True
        async for batch in batches:
            for item in batch:
                if isinstance(item, Skipped):
                    self._line_number += 1
                    self.stats.input_errors += 1
                    self.bus.publish(InputError(at=self.clock.now(), line=self._line_number,
                                                error=f"{item.reason}: {item.detail}"))
                    self._mark_line(item.position, [])
                elif isinstance(item, Record):
                    await self.handle_record(item.data, item.position)
                else:
                    await self.handle_line(item.data, item.position)
                self._handled_position = item.position
            if not catching_up:
                continue
            progress = follower.progress
            now = time.monotonic()
            if progress.caught_up:
                catching_up = False
                if last_progress:  # the console's bar and the log end at 100%
                    total = progress.total
                    self.bus.publish(BacklogProgress(at=self.clock.now(), done=total, total=total))
            elif now - last_progress > 0.5:
                last_progress = now
                self.bus.publish(
                    BacklogProgress(at=self.clock.now(), done=progress.done, total=progress.total)
                )

    def _initial_position(self) -> ReadPosition | None:
        """Where following starts, fixed before start() returns so no line falls in between.

        The stored position when there is one; on the very first start, the end of the last
        complete line in the file (unless --from-start), recorded at once. A line being
        written at that moment is read whole, as the follower itself would.
        """
        path = self.options.alerts_path
        stored = self.store.load_position(str(path))
        if stored is not None or self.options.from_start:
            return stored
        try:
            status = path.stat()
        except OSError:
            return None
        if not stat.S_ISREG(status.st_mode):
            return None
        offset = _end_of_last_line(path, status.st_size)
        position = ReadPosition(str(path), status.st_ino, offset, first_line_hash(path))
        self.store.save_position(position)
        return position

    async def handle_record(self, data: bytes, position: ReadPosition | None = None) -> None:
        """Decide one alerts.log record (its lines joined by newlines), as `handle_line`."""
        from arconsole.alerts.logreader import decode_alert_record

        self._line_number += 1
        line_number = self._line_number
        try:
            alert = decode_alert_record(data)
        except AlertError as error:
            self.stats.input_errors += 1
            self.bus.publish(InputError(at=self.clock.now(), line=line_number,
                                        error=f"record skipped: {error}"))
            self._mark_line(position, [])
            return
        await self.handle_alert(alert, position, line_number)

    async def handle_line(self, data: bytes, position: ReadPosition | None = None) -> None:
        """Decide one alerts.json line and dispatch what fires. Never raises on bad input."""
        from arconsole.alerts.jsonreader import decode_alert_line

        self._line_number += 1
        line_number = self._line_number
        try:
            alert = decode_alert_line(data)
        except AlertError as error:
            self.stats.input_errors += 1
            self.bus.publish(InputError(at=self.clock.now(), line=line_number, error=str(error)))
            self._mark_line(position, [])
            return
        await self.handle_alert(alert, position, line_number)

    async def handle_alert(
        self, alert: Alert, position: ReadPosition | None = None, line_number: int = 0
    ) -> None:
        assert self._decider is not None
        self.stats.alerts += 1
        received_at = self.clock.now()
        if self._too_old(alert, received_at):
            self._mark_line(position, [])
            return
        config = self.config
        assert config is not None
        dispatches: list[Awaitable[None]] = []
        fired: list[str] = []
        for decision in self._decider.fired(alert):
            response = decision.response
            fired.append(response.name)
            for target in decision.targets:
                if target == "server":
                    dispatches.append(self._dispatch(config, response, alert, received_at))
                else:
                    self.stats.undelivered += 1
                    self.bus.publish(
                        Undelivered(
                            at=received_at, response=response.name, target=target,
                            alert_id=alert.alert_id,
                        )
                    )
        self.stats.fired += len(dispatches)
        if self.bus.has_subscribers:
            self.bus.publish(
                AlertHandled(
                    at=received_at, line=line_number, alert_id=alert.alert_id,
                    rule_id=alert.rule_id, level=alert.level, description=alert.description,
                    agent_id=alert.agent_id, agent_name=alert.agent_name, srcip=alert.srcip,
                    dstuser=alert.dstuser, fired=tuple(fired),
                    raw=alert.raw.decode("utf-8", "replace"),
                )
            )
        await self._mark_line_async(position, dispatches)

    def _too_old(self, alert: Alert, now: float) -> bool:
        limit = self.options.skip_backlog_older_than
        if limit is None:
            return False
        stamp = _alert_time(alert)
        if stamp is None or now - stamp <= limit:
            return False
        self.stats.too_old += 1
        if self.stats.too_old == 1:
            self._notice(
                "warning",
                f"alert {alert.alert_id!r} from {alert.timestamp or 'an unknown time'} is older "
                f"than {limit:g}s: not acted on (--skip-backlog-older-than); further alerts "
                "that old are counted, not logged",
            )
        return True

    # ------------------------------------------------------------------ read position

    def _mark_line(self, position: ReadPosition | None, dispatches: list[Awaitable[None]]) -> None:
        seq = self._next_seq
        self._next_seq += 1
        self._pending[seq] = _PendingLine(position, len(dispatches))
        if not dispatches:
            self._advance_watermark()
            return
        for dispatch in dispatches:
            self._spawn(self._run_dispatch(seq, dispatch))

    async def _mark_line_async(
        self, position: ReadPosition | None, dispatches: list[Awaitable[None]]
    ) -> None:
        # Bound the work in flight so a flood cannot grow memory without limit.
        for _ in dispatches:
            await self._dispatch_slots.acquire()
        self._mark_line(position, dispatches)

    async def _run_dispatch(self, seq: int, dispatch: Awaitable[None]) -> None:
        try:
            await dispatch
        finally:
            self._dispatch_slots.release()
            pending = self._pending[seq]
            pending.remaining -= 1
            if pending.remaining == 0:
                self._advance_watermark(commit=True)

    def _advance_watermark(self, *, commit: bool = False) -> None:
        """Move the stored read position past every line whose responses are all done.

        Lines complete out of order (scripts run concurrently); the position only moves over
        a contiguous run of finished lines, so a crash re-reads what was not finished and
        skips nothing. Lines that fired something are committed at once; quiet lines in
        batches by the commit loop.
        """
        seq = self._committed_seq + 1
        moved = False
        while seq in self._pending and self._pending[seq].remaining == 0:
            position = self._pending.pop(seq).position
            if position is not None:
                self._last_position = position
                moved = True
            self._committed_seq = seq
            seq += 1
        if moved:
            self._position_dirty = True
            if commit:
                self._commit_position()

    def _commit_position(self, *, force: bool = False) -> None:
        if self._store is None or self._last_position is None:
            return
        if self._position_dirty or force:
            self.store.save_position(self._last_position)
            self._position_dirty = False

    async def _commit_loop(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            self._commit_position()

    async def drain(self) -> None:
        """Wait until every dispatched response has finished (tests, benchmarks)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ------------------------------------------------------------------ dispatch

    def _spawn(self, coroutine: Awaitable[object]) -> None:
        task: asyncio.Task[object] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _dispatch(
        self, config: Config, response: ActiveResponse, alert: Alert, received_at: float
    ) -> None:
        if response.executable is None:
            return
        if (response.executable, alert.alert_id) in self._restored_triggers:
            # Re-read after a crash, and its block was already recorded: applied once only.
            return
        if config.flavour is Flavour.OSSEC:
            await self._dispatch_argv(response, alert, received_at)
        else:
            await self._dispatch_json(config, response, alert, received_at)

    async def _dispatch_json(
        self, config: Config, response: ActiveResponse, alert: Alert, received_at: float,
        *, manual: bool = False,
    ) -> tuple[Block | None, str]:
        """Run one response the way execd does (spec 7.3), returning the block and an outcome."""
        executable = response.executable
        assert executable is not None
        message = ExecdMessage.build(
            node_name=config.node_name, extra_args=response.extra_args,
            alert_raw=alert.raw, executable=executable,
        )
        srcip = (strip_mapped(alert.srcip) if alert.srcip else alert.srcip)
        outcome: dict[str, object] = {"block": None, "reply": None, "key": None}

        async def on_keys(keys: list[str] | None) -> str:
            key = block_key(executable, keys)
            outcome["key"] = key
            if response.timeout == 0:
                return "continue"  # stateless: no list, no dedupe (7.3 step 11)
            block, reply = await self._record_trigger(
                key, response, alert, srcip, received_at, message, Protocol.JSON, manual=manual
            )
            outcome["block"] = block
            return reply

        if self.mode == Mode.DRY_RUN:
            keys = [srcip] if srcip else ([alert.dstuser] if alert.dstuser else [])
            reply = await on_keys(keys)
            self._publish_script("add", executable, outcome.get("key"), reply, None, dry=True)
            return outcome["block"], reply  # type: ignore[return-value]

        async def on_first_line(line: bytes | None) -> bytes | None:
            if line is None:
                return None
            reply = await on_keys(parse_check_keys(line))
            outcome["reply"] = reply
            return message.with_command(reply)

        try:
            result = await self.executor.run_json(
                executable, message.with_command("add"), on_first_line
            )
        except ExecutableError as error:
            self._notice("error", f"{response.name}: {error}")
            self._publish_script("add", executable, None, None, None, error=str(error))
            return None, f"not run: {error}"
        self._record_result("add", result, outcome.get("key"), outcome.get("reply"))
        block = outcome["block"]
        if (
            result.first_line is None and response.timeout != 0 and result.error is None
            and not result.timed_out
        ):
            # Wazuh never reverses such a run (7.3 step 8); we keep it visible (1.4 item 5).
            block = self._record_untracked(response, alert, srcip, received_at, message)
            self._notice(
                "warning",
                f"{response.name}: stateful script {PROGRAM_DIR}/{executable} printed no "
                "check_keys line; the block is untracked and will not be reversed",
            )
        elif isinstance(block, Block) and outcome.get("reply") == "continue" and not result.ok:
            block = self._mark_failed(block.key, _describe_failure(result))
        reply_text = str(outcome.get("reply") or "no reply")
        return (block if isinstance(block, Block) else None), (
            f"{reply_text}; exit {result.returncode}"
            + (" (timed out)" if result.timed_out else "")
        )

    async def _dispatch_argv(
        self, response: ActiveResponse, alert: Alert, received_at: float,
        *, manual: bool = False,
    ) -> tuple[Block | None, str]:
        """OSSEC's argv protocol (spec 9): dedupe on path + srcip, no handshake.

        As OSSEC's OS_Exec, the user and the address are passed only when the command
        expects them (`-` otherwise), so nothing unchecked reaches argv.
        """
        executable = response.executable
        assert executable is not None
        config = self.config
        definition = config.command(response.command or "") if config else None
        expect = definition.expect if definition else ("srcip",)
        wanted = "srcip" in expect or manual
        srcip = strip_mapped(alert.srcip) if wanted and alert.srcip else None
        user = alert.dstuser if {"user", "username"} & set(expect) else None
        words = argv_words("add", alert, srcip, user)
        key = f"{self.options.home / PROGRAM_DIR / executable}{srcip or '-'}"
        block: Block | None = None
        if response.timeout != 0:
            delete_words = ["delete", *words[1:]]
            block, reply = await self._record_trigger(
                key, response, alert, srcip, received_at,
                json.dumps(delete_words).encode(), Protocol.ARGV, manual=manual,
            )
            if reply == "abort":
                self._publish_script("argv-add", executable, key, "abort", None)
                return block, "already blocked: start time reset"
        if self.mode == Mode.DRY_RUN:
            self._publish_script("argv-add", executable, key, None, None, dry=True)
            return block, "dry-run: not run"
        try:
            result = await self.executor.run_argv(executable, words)
        except ExecutableError as error:
            self._notice("error", f"{response.name}: {error}")
            return block, f"not run: {error}"
        self._record_result("argv-add", result, key, None)
        if response.timeout != 0 and not result.ok and key in self.blocks:
            block = self._mark_failed(key, _describe_failure(result))
        return block, f"exit {result.returncode}" + (" (timed out)" if result.timed_out else "")

    async def _record_trigger(
        self, key: str, response: ActiveResponse, alert: Alert, srcip: str | None,
        received_at: float, message: ExecdMessage | bytes, protocol: Protocol,
        *, manual: bool = False,
    ) -> tuple[Block | None, str]:
        """execd's step 10: escalate, then refresh an active block (abort) or add one."""
        try:
            # A script waits on our answer while its key is being reversed; never forever.
            await asyncio.wait_for(self._wait_key_idle(key), self.options.time_limit)
        except TimeoutError:
            self._notice("warning", f"{literal(key)}: still being reversed after "
                         f"{self.options.time_limit:.0f}s; this trigger was aborted")
            return self.blocks.get(key), "abort"
        config = self.config
        assert config is not None
        timeout = response.timeout
        existing = self.blocks.get(key)
        if existing is not None and existing.alert_id == alert.alert_id and not manual:
            # The same alert again (re-read after a crash): already applied, change nothing.
            return existing, "abort"
        if existing is not None and self.mode == Mode.DRY_RUN and not existing.dry_run:
            # A dry run never touches a block that was enforced for real.
            return existing, "abort"
        count = self._offences[key] if key in self._offences else self.store.get_offences(key)
        # Legacy execd skips escalation for an absent srcip (spec 7.5, "Legacy").
        escalates = bool(config.repeated_offenders) and not (
            protocol is Protocol.ARGV and not srcip
        )
        new_count = count
        if escalates:
            timeout, new_count = escalate(timeout, config.repeated_offenders, count)
        live = existing is not None and existing.state is BlockState.ACTIVE
        with self.store.transaction():
            if new_count is not None and new_count != count:
                self.store.set_offences(key, new_count)
            if live and existing is not None:
                block = existing.with_(
                    started_at=received_at, timeout=timeout,
                    offences=new_count or 0, restored=False,
                )
                change, reply = "refreshed", "abort"
            else:
                delete_message = (
                    message.with_command("delete") if isinstance(message, ExecdMessage)
                    else message
                )
                block = Block(
                    key=key, command=response.command or "", name=response.name,
                    executable=response.executable or "", protocol=protocol, target="server",
                    srcip=srcip, user=alert.dstuser, started_at=received_at, timeout=timeout,
                    offences=new_count or 0, delete_message=delete_message,
                    alert_id=alert.alert_id, rule_id=alert.rule_id, manual=manual,
                    dry_run=self.mode == Mode.DRY_RUN,
                )
                change, reply = "added", "continue"
            self.store.save_block(block)
        if new_count is not None:
            self._offences[key] = new_count
        self.blocks[key] = block
        self._schedule(block)
        self._publish_block(change, block)
        return block, reply

    def _record_untracked(
        self, response: ActiveResponse, alert: Alert, srcip: str | None, received_at: float,
        message: ExecdMessage,
    ) -> Block:
        key = f"{response.executable}-untracked-{alert.alert_id}"
        block = Block(
            key=key, command=response.command or "", name=response.name,
            executable=response.executable or "", protocol=Protocol.JSON, target="server",
            srcip=srcip, user=alert.dstuser, started_at=received_at, timeout=response.timeout,
            offences=0, delete_message=message.with_command("delete"),
            state=BlockState.UNTRACKED, alert_id=alert.alert_id, rule_id=alert.rule_id,
        )
        self.store.save_block(block)
        self.blocks[key] = block
        self._publish_block("untracked", block)
        return block

    def _publish_block(self, change: str, block: Block) -> None:
        self.bus.publish(BlockChanged(at=self.clock.now(), change=change, block=block.to_json()))

    def _mark_failed(self, key: str, error: str) -> Block:
        block = self.blocks[key].with_(state=BlockState.FAILED, last_error=error)
        self.store.save_block(block)
        self.blocks[key] = block
        self._publish_block("failed", block)
        return block

    def _record_result(
        self, action: str, result: ScriptResult, key: object, reply: object
    ) -> None:
        if result.ok:
            self.stats.scripts_ok += 1
        else:
            self.stats.scripts_failed += 1
        self.bus.publish(
            ScriptRan(
                at=self.clock.now(), action=action, program=result.program,
                key=key if isinstance(key, str) else None,
                reply=reply if isinstance(reply, str) else None,
                returncode=result.returncode, timed_out=result.timed_out, ok=result.ok,
                error=result.error, stderr=result.stderr.decode("utf-8", "replace"),
                duration=result.ended_at - result.started_at,
            )
        )
        if result.stderr or not result.ok:
            self._log_script(action, result)

    def _log_script(self, action: str, result: ScriptResult) -> None:
        if self._store is None:
            return
        detail = _describe_failure(result) if not result.ok else "ok"
        stderr = result.stderr.decode("utf-8", "replace").strip()
        self.store.add_event(
            self.clock.now(), f"script-{action}",
            f"{result.program}: {detail}" + (f"; stderr: {stderr}" if stderr else ""),
        )

    def _publish_script(
        self, action: str, executable: str, key: object, reply: str | None,
        returncode: int | None, *, dry: bool = False, error: str | None = None,
    ) -> None:
        self.bus.publish(
            ScriptRan(
                at=self.clock.now(), action=action + (" (dry-run)" if dry else ""),
                program=f"{PROGRAM_DIR}/{executable}",
                key=key if isinstance(key, str) else None, reply=reply,
                returncode=returncode, timed_out=False, ok=error is None, error=error,
                stderr="", duration=0.0,
            )
        )

    # ------------------------------------------------------------------ timers

    def _schedule(self, block: Block) -> None:
        if block.state in (BlockState.ACTIVE, BlockState.FAILED) and block.timeout > 0:
            self.timers.schedule(block.key, expiry_instant(block.started_at, block.timeout))
            self._timers_changed.set()

    async def _timer_loop(self) -> None:
        while True:
            self._timers_changed.clear()
            due = self.timers.next_due()
            now = self.clock.now()
            if due is None or due > now:
                wait = 3600.0 if due is None else due - now
                sleeper = asyncio.ensure_future(self.clock.sleep(wait))
                changed = asyncio.ensure_future(self._timers_changed.wait())
                try:
                    await asyncio.wait({sleeper, changed}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    sleeper.cancel()
                    changed.cancel()
                continue
            for key in self.timers.pop_due(now):
                self._spawn(self._reverse(key, "expired"))

    async def _wait_key_idle(self, key: str) -> None:
        """One key runs in order: a trigger waits for that key's delete to finish."""
        busy = self._key_busy.get(key)
        while busy is not None:
            await busy.wait()
            busy = self._key_busy.get(key)

    async def _reverse(self, key: str, reason: str) -> ActionResult:
        """Run the stored delete for a block; a failure leaves it visible as failed."""
        await self._wait_key_idle(key)
        block = self.blocks.get(key)
        if block is None:
            return ActionResult(False, "reverse", key, "no such block")
        busy = asyncio.Event()
        self._key_busy[key] = busy
        try:
            self.timers.cancel(key)
            block = block.with_(state=BlockState.REVERSING)
            self.blocks[key] = block
            self.store.save_block(block)
            self._publish_block("reversing", block)
            ok, detail = await self._run_delete(block)
            if ok:
                self.store.delete_block(key)
                del self.blocks[key]
                done = block.with_(state=BlockState.REVERSED)
                self._publish_block("reversed", done)
                return ActionResult(True, "reverse", key, f"{detail} ({reason})", done)
            failed = self._mark_failed(key, detail)
            return ActionResult(False, "reverse", key, detail, failed)
        finally:
            del self._key_busy[key]
            busy.set()

    async def _run_delete(self, block: Block) -> tuple[bool, str]:
        program = f"{PROGRAM_DIR}/{block.executable}"
        if block.dry_run:
            return True, f"dry-run: would run {program} delete"
        if self.mode == Mode.DRY_RUN:
            return False, f"dry-run: {program} delete not run; the real block is left in place"
        try:
            if block.protocol is Protocol.ARGV:
                words = json.loads(block.delete_message)
                result = await self.executor.run_argv(block.executable, words, delete=True)
                action = "argv-delete"
                shown = f"{program} {' '.join(words)}"
            else:
                result = await self.executor.run_json_delete(
                    block.executable, block.delete_message
                )
                action = "delete"
                shown = f"{program} with the stored delete message on stdin"
        except ExecutableError as error:
            return False, f"{program}: {error}"
        self._record_result(action, result, block.key, None)
        if result.ok:
            return True, f"ran {shown}: exit 0"
        return False, f"ran {shown}: {_describe_failure(result)}"

    async def _restore_blocks(self) -> None:
        """Bring back every stored block; reverse once those whose time passed (A7, B1)."""
        now = self.clock.now()
        overdue: list[str] = []
        for block in self.store.load_blocks():
            if block.dry_run and self.mode != Mode.DRY_RUN:
                # Blocks imagined by a dry run are never enforced for real.
                self.store.delete_block(block.key)
                continue
            restored = block.with_(restored=True)
            if block.alert_id:
                self._restored_triggers.add((block.executable, block.alert_id))
            if block.state is BlockState.REVERSING:
                restored = restored.with_(state=BlockState.ACTIVE)  # the delete never finished
            self.blocks[block.key] = restored
            if self.mode == Mode.DRY_RUN and not block.dry_run:
                pass  # shown, never reversed by a dry run
            elif restored.state is BlockState.ACTIVE and restored.expired(now):
                overdue.append(block.key)
            else:
                self._schedule(restored)
            self._publish_block("restored", restored)
        # Concurrently: one hanging delete must not hold up the others or the start.
        await asyncio.gather(
            *(self._reverse(key, "expired while arconsole was down") for key in overdue)
        )
        await self._lift_white_listed("white-listed while arconsole was down")

    async def _lift_white_listed(self, reason: str) -> None:
        """Lift blocks on addresses the white list now covers (Part E B4, E3).

        An operator's forced block of a white-listed address stays: it was meant.
        """
        config = self.config
        if config is None or not config.white_list:
            return
        white_list = WhiteList(config.white_list, config.flavour)
        keys = [
            b.key for b in self.blocks.values()
            if b.state is BlockState.ACTIVE and b.srcip and not b.manual
            and (b.dry_run or self.mode != Mode.DRY_RUN)
            and white_list.match(b.srcip) is not None
        ]
        await asyncio.gather(*(self._reverse(key, reason) for key in keys))

    # ------------------------------------------------------------------ operator actions

    def _check_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyError("arconsole is read-only: nothing can be changed")

    def _audit(self, operator: str, result: ActionResult) -> ActionResult:
        entry = AuditEntry(
            at=self.clock.now(), operator=operator, action=result.action,
            target=result.target, detail=result.detail,
        )
        self.store.add_audit(entry)
        self.bus.publish(
            OperatorAction(
                at=entry.at, operator=operator, action=result.action, target=result.target,
                detail=result.detail, ok=result.ok,
            )
        )
        return result

    async def reverse_blocks(self, keys: Iterable[str], operator: str) -> list[ActionResult]:
        self._check_writable()
        results = []
        for key in keys:
            if key not in self.blocks:
                results.append(self._audit(operator, ActionResult(False, "reverse", key,
                                                                  "no such block")))
                continue
            results.append(self._audit(operator, await self._reverse(key, f"by {operator}")))
        return results

    async def reverse_all(self, operator: str) -> list[ActionResult]:
        self._check_writable()
        return await self.reverse_blocks(list(self.blocks), operator)

    async def extend_block(self, key: str, seconds: int, operator: str) -> ActionResult:
        self._check_writable()
        block = self.blocks.get(key)
        if block is None or block.state is not BlockState.ACTIVE:
            state = "no such block" if block is None else f"block is {block.state}"
            return self._audit(operator, ActionResult(False, "extend", key, state))
        if block.timeout + seconds <= 0:
            return self._audit(
                operator, ActionResult(False, "extend", key, "would end the block in the past")
            )
        extended = block.with_(timeout=block.timeout + seconds)
        self.store.save_block(extended)
        self.blocks[key] = extended
        self._schedule(extended)
        self._publish_block("extended", extended)
        detail = (
            f"extended by {seconds}s: now expires at "
            f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(extended.expires_at))}"
        )
        return self._audit(operator, ActionResult(True, "extend", key, detail, extended))

    async def add_block(
        self, command: str, srcip: str, operator: str, *, timeout: int | None = None,
        force: bool = False, requester_address: str | None = None,
    ) -> ActionResult:
        """Block an address by hand, through the same handshake as an alert (spec 1.4 item 3).

        `requester_address` is where the operator's own session comes from (SSH_CLIENT); it is
        never blocked without `force`.
        """
        import ipaddress

        self._check_writable()
        target = f"{command} {srcip}"
        try:
            address = ipaddress.ip_address(srcip)
        except ValueError:
            return self._audit(operator, ActionResult(False, "add", target,
                                                      f"not an IP address: {srcip!r}"))
        config = self.config
        assert config is not None
        definition = config.command(command)
        if definition is None:
            return self._audit(operator, ActionResult(False, "add", target,
                                                      f"no <command> named {command!r}"))
        if timeout is not None and timeout <= 0:
            return self._audit(operator, ActionResult(False, "add", target,
                                                      f"timeout must be positive, not {timeout}"))
        if not force:
            from arconsole.engine.whitelist import WhiteList

            entry = WhiteList(config.white_list, config.flavour).match(str(address))
            if entry is not None:
                return self._audit(operator, ActionResult(
                    False, "add", target,
                    f"refused: {address} is white-listed by <white_list>{entry.text}"
                    f"</white_list> (line {entry.line}); use --force to block anyway"))
            if requester_address and str(address) == strip_mapped(requester_address):
                return self._audit(operator, ActionResult(
                    False, "add", target,
                    f"refused: {address} is your own SSH client; use --force to block anyway"))
        seconds = timeout if timeout is not None else 600
        if not definition.timeout_allowed:
            seconds = 0
        response = ActiveResponse(
            index=0, line=definition.line, column=definition.column, command=command,
            location="server", timeout=seconds, executable=definition.executable,
            extra_args=tuple(definition.extra_args_list),
        )
        now = self.clock.now()
        alert = _manual_alert(str(address), now)
        if config.flavour is Flavour.OSSEC:
            block, outcome = await self._dispatch_argv(response, alert, now, manual=True)
        else:
            block, outcome = await self._dispatch_json(config, response, alert, now, manual=True)
        ok = (block is not None and block.state is BlockState.ACTIVE) or (
            block is None and seconds == 0 and "exit 0" in outcome
        )
        detail = f"ran {PROGRAM_DIR}/{definition.executable} add for {address}: {outcome}"
        return self._audit(operator, ActionResult(ok, "add", target, detail, block))

    def list_blocks(self) -> list[Block]:
        return sorted(self.blocks.values(), key=lambda b: b.expires_at)

    def _notice(self, level: str, message: str) -> None:
        self.bus.publish(Notice(at=self.clock.now(), level=level, message=message))
        if self._store is not None:
            self.store.add_event(self.clock.now(), level, message)


async def _one_by_one(
    items: AsyncGenerator[Record | Skipped, None],
) -> AsyncGenerator[Sequence[Line | Record | Skipped], None]:
    async with contextlib.aclosing(items):
        async for item in items:
            yield [item]


def _alert_time(alert: Alert) -> float | None:
    """When the alert was raised: its timestamp, else the epoch that starts its id."""
    if alert.timestamp:
        try:
            return datetime.strptime(alert.timestamp, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
        except ValueError:
            with contextlib.suppress(ValueError):
                return datetime.fromisoformat(alert.timestamp).timestamp()
    epoch, dot, _ = alert.alert_id.partition(".")
    if dot and epoch.isdigit() and len(epoch) <= 12:
        return float(epoch)
    return None


def _read_head(path: Path, size: int) -> bytes:
    """The first bytes of a regular file; b"" when missing or not one (a FIFO must not hang)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return b""
    try:
        return os.pread(fd, size, 0) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
    except OSError:
        return b""
    finally:
        os.close(fd)


def _end_of_last_line(path: Path, size: int, max_line: int = 65536) -> int:
    """The offset just after the file's last newline (0 when a short file has none)."""
    window = min(size, max_line + 1)
    try:
        with path.open("rb") as handle:
            handle.seek(size - window)
            tail = handle.read(window)
    except OSError:
        return size
    end = tail.rfind(b"\n")
    if end >= 0:
        return size - window + end + 1
    return 0 if size <= max_line else size


def _describe_failure(result: ScriptResult) -> str:
    if result.error:
        return result.error
    lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
    said = f" ({lines[-1].encode('unicode_escape').decode('ascii')[:200]})" if lines else ""
    if result.timed_out:
        return "timed out and was killed" + said
    return f"exit {result.returncode}{said}"


def _manual_alert(srcip: str, now: float) -> Alert:
    """The alert an operator's block carries, shaped like agent_control's (spec 6.3 C)."""
    alert_id = f"{int(now)}.manual"
    raw = json.dumps(
        {"id": alert_id, "rule": {"id": "manual", "level": 0, "description": "manual block"},
         "data": {"srcip": srcip}},
        separators=(",", ":"),
    ).encode()
    return Alert(
        alert_id=alert_id, timestamp="", rule_id="manual", level=0,
        description="manual block", groups=(), group_string="", agent_id=None,
        agent_name=None, srcip=srcip, dstuser=None, location=None, raw=raw,
    )

