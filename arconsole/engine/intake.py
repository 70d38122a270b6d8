"""Intake: follow the alerts file, decode each line or record, decide what fires, hand it on
(server responses to dispatch, agent ones to delivery), and keep the read watermark.

The stored read position only moves over a contiguous run of lines whose responses have all
finished, so a crash re-reads what was not finished and skips nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from arconsole.alerts.detect import AlertFormat, detect_format
from arconsole.alerts.follower import AlertFollower, Line, Skipped
from arconsole.alerts.model import TOO_DEEP, Alert, AlertError
from arconsole.alerts.position import ReadPosition
from arconsole.alerts.record_follower import AlertsLogFollower, Record
from arconsole.alerts.rotation import first_line_hash
from arconsole.config.model import ActiveResponse
from arconsole.engine.context import EngineContext
from arconsole.engine.decide import Decider
from arconsole.engine.delivery import AgentDelivery
from arconsole.engine.dispatch import Dispatcher
from arconsole.engine.events import AlertHandled, BacklogProgress, InputError
from arconsole.engine.options import Mode
from arconsole.engine.store import StoreWriteError
from arconsole.safetext import literal


@dataclass(slots=True)
class _PendingLine:
    position: ReadPosition | None
    remaining: int


class Intake:
    def __init__(
        self, context: EngineContext, dispatcher: Dispatcher, delivery: AgentDelivery
    ) -> None:
        self._context = context
        self._dispatcher = dispatcher
        self.delivery = delivery
        self.decider: Decider | None = None  # swapped whole by the façade on reload
        # The fleet stage sees every alert first (agents' AR log lines); None when unused.
        self.observe: Callable[[Alert, float], None] | None = None
        self.alerts_format = AlertFormat.JSON
        self._line_number = 0
        self._pending: dict[int, _PendingLine] = {}
        self._next_seq = 0
        self._committed_seq = -1
        self._last_position: ReadPosition | None = None
        self._position_dirty = False
        self._start_position: ReadPosition | None = None
        self._handled_position: ReadPosition | None = None
        self._slots = asyncio.Semaphore(max(1, context.options.max_concurrency * 64))

    # ------------------------------------------------------------------ start

    def prepare(self) -> None:
        """Detect the file's format and fix where following starts, before start() returns."""
        options = self._context.options
        self.alerts_format = self._detect_format()
        if self.alerts_format is AlertFormat.LOG:
            self._context.notice("info", f"{options.alerts_path} is an OSSEC alerts.log: "
                                 "following its multi-line records")
        self._start_position = self._initial_position()

    def _detect_format(self) -> AlertFormat:
        """OSSEC's `alerts.log` by its name or its first record; `alerts.json` otherwise."""
        path = self._context.options.alerts_path
        if path.name == "alerts.log":
            return AlertFormat.LOG
        head = _read_head(path, 4096)
        return detect_format(head) if head else AlertFormat.JSON

    def _initial_position(self) -> ReadPosition | None:
        """The stored position when there is one; on the very first start, the end of the last
        complete line in the file (unless --from-start), recorded at once. A line being
        written at that moment is read whole, as the follower itself would.
        """
        context = self._context
        path = context.options.alerts_path
        stored = context.store.load_position(str(path))
        if stored is not None or context.options.from_start:
            return stored
        try:
            status = path.stat()
        except OSError:
            return None
        if not stat.S_ISREG(status.st_mode):
            return None
        offset = _end_of_last_line(path, status.st_size)
        position = ReadPosition(str(path), status.st_ino, offset, first_line_hash(path))
        try:
            context.store.save_position(position)
        except StoreWriteError as error:  # kept in memory; written when the store recovers
            context.health.failed(error)
        return position

    # ------------------------------------------------------------------ following

    async def follow_loop(self) -> None:
        """Follow the alerts file for the engine's life; a crashed follower is started again
        after the last item handled, so a bug costs a pause and a log line, not the stream."""
        path = self._context.options.alerts_path
        position = self._start_position
        # No position: --from-start, or no file at start, whose content is all new when it
        # appears (even if it appears before the follower first looks).
        from_start = position is None
        while True:
            follower: AlertFollower | AlertsLogFollower
            batches: AsyncGenerator[Sequence[Line | Record | Skipped], None]
            if self.alerts_format is AlertFormat.LOG:
                follower = AlertsLogFollower(path, position=position, from_start=from_start)
                batches = _one_by_one(follower.records())
            else:
                follower = AlertFollower(path, position=position, from_start=from_start)
                batches = follower.batches()
            try:
                async with contextlib.aclosing(batches):
                    await self._consume(follower, batches)
                return
            except Exception as error:  # a bug: reported, then following goes on
                self._context.notice("error", f"following {path} failed: "
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
        from arconsole.alerts.ar_lines import decode_json_line

        context = self._context
        last_progress = 0.0
        catching_up = True
        async for batch in batches:
            for item in batch:
                if type(item) is Line:
                    # The bulk of a backlog, without a coroutine per line: most fire nothing.
                    work = self._take(item.data, item.position, decode_json_line, "")
                    if work is not None:
                        await self._settle(work, item.position)
                elif isinstance(item, Skipped):
                    self._line_number += 1
                    context.stats.input_errors += 1
                    context.bus.publish(InputError(at=context.clock.now(), line=self._line_number,
                                                   error=f"{item.reason}: {item.detail}"))
                    self._mark_line(item.position, [])
                elif isinstance(item, Record):
                    await self.handle_record(item.data, item.position, item.start.offset)
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
                    context.bus.publish(
                        BacklogProgress(at=context.clock.now(), done=total, total=total)
                    )
            elif now - last_progress > 0.5:
                last_progress = now
                context.bus.publish(BacklogProgress(at=context.clock.now(), done=progress.done,
                                                    total=progress.total))

    # ------------------------------------------------------------------ one alert

    async def handle_record(
        self, data: bytes, position: ReadPosition | None = None, start: int | None = None
    ) -> None:
        """Decide one alerts.log record (its lines joined by newlines), as `handle_line`;
        `start`, the byte of the file it starts at, is checked against its id."""
        from arconsole.alerts.logreader import decode_alert_record

        def decode(record: bytes) -> Alert:
            return decode_alert_record(record, start)

        await self._handle(data, position, decode, "record skipped: ")

    async def handle_line(self, data: bytes, position: ReadPosition | None = None) -> None:
        """Decide one alerts.json line and dispatch what fires. Never raises on bad input."""
        from arconsole.alerts.ar_lines import decode_json_line

        await self._handle(data, position, decode_json_line, "")

    async def _handle(
        self, data: bytes, position: ReadPosition | None,
        decode: Callable[[bytes], Alert], error_prefix: str,
    ) -> None:
        work = self._take(data, position, decode, error_prefix)
        if work is not None:
            await self._settle(work, position)

    def _take(
        self, data: bytes, position: ReadPosition | None,
        decode: Callable[[bytes], Alert], error_prefix: str,
    ) -> list[Awaitable[None]] | None:
        """Decode and decide one item; None when it is done with (its line is marked)."""
        self._line_number += 1
        line_number = self._line_number
        try:
            alert = decode(data)
        except Exception as error:  # a line that breaks a reader is a bad line, too
            self._refuse(position, line_number, f"{error_prefix}{_unreadable(error)}")
            return None
        return self._decide(alert, position, line_number)

    def _refuse(self, position: ReadPosition | None, line_number: int, reason: str) -> None:
        """A bad line: counted, told, and marked handled."""
        context = self._context
        context.stats.input_errors += 1
        context.bus.publish(InputError(at=context.clock.now(), line=line_number, error=reason))
        self._mark_line(position, [])

    async def handle_alert(
        self, alert: Alert, position: ReadPosition | None = None, line_number: int = 0
    ) -> None:
        work = self._decide(alert, position, line_number)
        if work is not None:
            await self._settle(work, position)

    def _decide(
        self, alert: Alert, position: ReadPosition | None, line_number: int
    ) -> list[Awaitable[None]] | None:
        """Decide what fires and tell the console; the responses' work is returned, not
        started (None, with the line marked, when there is none)."""
        context = self._context
        decider = self.decider
        assert decider is not None
        received_at = context.clock.now()
        if self.observe is not None:
            try:
                self.observe(alert, received_at)
            except StoreWriteError as error:  # the store fault, not the line's: still decided
                context.health.failed(error)
            except Exception as error:  # a fleet key is ambiguous (AlertError): a bad line
                self._refuse(position, line_number, _unreadable(error))
                return None
        context.stats.alerts += 1
        if context.options.skip_backlog_older_than is not None and self._too_old(
                alert, received_at):
            self._mark_line(position, [])
            return None
        try:
            decisions = decider.fired(alert)
        except Exception as error:  # nothing started yet: the alert is a bad line
            self._refuse(position, line_number, _unreadable(error))
            return None
        if not decisions:
            if context.bus.wants_idle_alerts:
                self._publish_handled(alert, line_number, received_at, ())
            self._mark_line(position, [])
            return None
        # In order: a server response (dispatched once the alert is told), or an agent
        # delivery's work still to do.
        steps: list[ActiveResponse | Awaitable[None]] = []
        fired: list[str] = []
        dispatched = 0
        observing = context.mode == Mode.OBSERVE
        for decision in decisions:
            response = decision.response
            fired.append(response.name)
            if observing:
                continue  # Wazuh will run it: arconsole runs nothing by itself
            for target in decision.targets:
                if target == "server":
                    dispatched += 1
                    steps.append(response)
                else:
                    delivering = self._deliver(response, target, alert, received_at)
                    if delivering is not None:
                        steps.append(delivering)
        context.stats.fired += dispatched
        if context.bus.has_subscribers:
            self._publish_handled(alert, line_number, received_at, tuple(fired))
        work = self._dispatch(steps, alert) if steps else []
        if not work:
            self._mark_line(position, work)
            return None
        return work

    def _deliver(
        self, response: ActiveResponse, target: str, alert: Alert, received_at: float
    ) -> Awaitable[None] | None:
        """The delivery to `target` (an agent, or every agent for `all`). What breaks one
        agent's delivery is recorded failed by the delivery stage, per agent (the others go
        on); what breaks the whole of it (a bug) costs this delivery, never the other
        targets or the follower."""
        try:
            return self.delivery.deliver(response, target, alert, received_at)
        except Exception as error:
            context = self._context
            context.stats.undelivered += 1
            context.notice("error", f"{response.name} for agent {literal(target[:64])} (alert "
                           f"{literal(alert.alert_id[:64])}) not delivered: "
                           f"{type(error).__name__}: {literal(str(error)[:200])}")
            return None

    def _dispatch(
        self, steps: list[ActiveResponse | Awaitable[None]], alert: Alert
    ) -> list[Awaitable[None]]:
        """The alert's work, in order. A dry run imagines its leading server responses at
        once (no coroutine each: most of a backlog's); from the first step that must be
        awaited on, every later one waits its turn as well."""
        dispatcher = self._dispatcher
        start = 0
        if self._context.dry_run:
            for step in steps:
                if not isinstance(step, ActiveResponse) or not dispatcher.imagine_now(step, alert):
                    break
                start += 1
        return [dispatcher.dispatch(step, alert) if isinstance(step, ActiveResponse) else step
                for step in steps[start:]]

    def _publish_handled(
        self, alert: Alert, line_number: int, received_at: float, fired: tuple[str, ...]
    ) -> None:
        self._context.bus.publish(
            AlertHandled(  # by position (at, line, alert_id, ... raw): once per alert
                received_at, line_number, alert.alert_id, alert.rule_id, alert.level,
                alert.description, alert.agent_id, alert.agent_name, alert.srcip,
                alert.dstuser, fired, alert.raw.decode("utf-8", "replace"),
            )
        )

    async def _settle(self, work: list[Awaitable[None]], position: ReadPosition | None) -> None:
        """Run a dry run's work in place, or start the rest within the bound on work in flight;
        the line's position waits for all of it."""
        if self._context.dry_run:  # nothing runs: no need for a task and a slot each
            for index, one in enumerate(work):
                try:
                    await one
                except BaseException:
                    for rest in work[index + 1:]:
                        if asyncio.iscoroutine(rest):
                            rest.close()
                    raise
            work = []
        # Bound the work in flight so a flood cannot grow memory without limit.
        try:
            for _ in work:
                await self._slots.acquire()
        except BaseException:  # stopped while waiting: the work never starts, say nothing
            for one in work:
                if asyncio.iscoroutine(one):
                    one.close()
            raise
        self._mark_line(position, work)

    def _too_old(self, alert: Alert, now: float) -> bool:
        context = self._context
        limit = context.options.skip_backlog_older_than
        if limit is None:
            return False
        stamp = _alert_time(alert)
        if stamp is None or now - stamp <= limit:
            return False
        context.stats.too_old += 1
        if context.stats.too_old == 1:
            context.notice(
                "warning",
                f"alert {alert.alert_id!r} from {alert.timestamp or 'an unknown time'} is older "
                f"than {limit:g}s: not acted on (--skip-backlog-older-than); further alerts "
                "that old are counted, not logged",
            )
        return True

    # ------------------------------------------------------------------ read watermark

    def _mark_line(self, position: ReadPosition | None, work: list[Awaitable[None]]) -> None:
        seq = self._next_seq
        self._next_seq += 1
        if not work and not self._pending:
            # Nothing before it is unfinished (every seq up to this one is committed): the
            # watermark moves over it at once, as _advance_watermark would, with no record.
            self._committed_seq = seq
            if position is not None:
                self._last_position = position
                self._position_dirty = True
            return
        self._pending[seq] = _PendingLine(position, len(work))
        if not work:
            self._advance_watermark()
            return
        for one in work:
            self._context.spawn(self._finish(seq, one))

    async def _finish(self, seq: int, work: Awaitable[None]) -> None:
        try:
            await work
        finally:
            self._slots.release()
            pending = self._pending[seq]
            pending.remaining -= 1
            if pending.remaining == 0:
                self._advance_watermark(commit=True)

    def _advance_watermark(self, *, commit: bool = False) -> None:
        """Move the stored read position past every line whose responses are all done.

        Lines complete out of order (scripts run concurrently); the position only moves over
        a contiguous run of finished lines. Lines that fired something are committed at once;
        quiet lines in batches by the commit loop.
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
                self.commit_position()

    def commit_position(self, *, force: bool = False) -> None:
        if self._context.store_or_none is None or self._last_position is None:
            return
        if self._position_dirty or force:
            try:
                with self._context.writes.writing() as store:
                    store.save_position(self._last_position)
            except StoreWriteError as error:  # the store fault: kept dirty, tried again later
                self._context.health.failed(error)
                return
            self._position_dirty = False

    async def commit_loop(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            self.commit_position()


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


def _unreadable(error: Exception) -> str:
    """Why a line was refused. Anything but AlertError is a stage's bug or a limit it did not
    expect (int() refuses 4300 digits, the decoders stop at ~1000 levels): let through, it
    would take the follower down and, started again at this very line, down again for good."""
    if isinstance(error, AlertError):
        return str(error)
    if isinstance(error, RecursionError):
        return TOO_DEEP
    return f"the engine could not handle it ({type(error).__name__}: {error})"


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
