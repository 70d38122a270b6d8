"""Delivery through the `wazuh-queue` transport: agent responses as records, sent in order.

For each (response, agent) the stage records a delivery (`queued`), persisted before the read
position may pass the alert; a sender task sends them in batches and, per batch, moves the
state file's watermark (one row: every queued record up to that id has left) instead of
rewriting each record; the agent's own AR log line (fleet table) makes it `confirmed`; no line
within `confirm_wait` makes it `unconfirmed`; an agent older than 4.2, a message remoted cannot
take, or a send that kept failing until the response no longer made sense (its timeout; 10
minutes for stateless ones) makes it `failed`, with the reason. Nothing is dropped silently.

Exactly once across a crash: around every datagram the sender notes its id in a mapped mark
file (`agent_sendmark`), which a kill -9 does not lose, so a restart sends what had not left
and nothing that had. The one datagram a kill can catch between the `intent` note and the
`sent` note is not sent again (it may have left): it counts as sent, in doubt, until its
agent's log line confirms it; with no line within `confirm_wait` it is reported
`unconfirmed`, its reason saying it may never have left.

Its own bounded queue: records wait in the spool file (`fleet_store`: its entries are the
durable records, indexed into the state file in batches when something reads them), at most
`memory_limit` of them in memory, so 10,000 agent responses at once cost the intake one
`write` and never a wait on the socket. Sending is one task, oldest first, so responses reach
each agent in order.
"""

from __future__ import annotations

import asyncio
import collections
import errno
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from arconsole.addresses import strip_mapped
from arconsole.alerts.model import Alert
from arconsole.config.model import ActiveResponse, Config
from arconsole.engine.agent_blocks import AgentBlocks
from arconsole.engine.agent_messages import (
    ADHOC_TAIL,
    MAX_DATAGRAM,
    MIN_HEADER,
    AgentMessageError,
    adhoc_head,
    agent_datagram,
    agent_header,
    header_flags,
)
from arconsole.engine.agent_queue import QueueSender, is_retryable, short_send
from arconsole.engine.agent_sendmark import SendMark, mark_path, read_mark
from arconsole.engine.agent_spool import spool_path
from arconsole.engine.agents import AgentDirectory
from arconsole.engine.context import EngineContext
from arconsole.engine.events import DeliveryChanged
from arconsole.engine.fleet_store import AgentBlock, FleetStore, NewRecord
from arconsole.safetext import literal
from arconsole.wording import counted

STATELESS_DEADLINE = 600.0  # seconds a stateless response keeps being worth sending
CONFIRM_WAIT = 120.0  # no AR log line from the agent by then: unconfirmed


@dataclass(frozen=True, slots=True)
class _Plan:
    """What one response's deliveries share under one config and one inventory."""

    response: ActiveResponse  # the plans are keyed by its id(): kept alive with them
    config: Config
    inventory: AgentDirectory | None
    name: str
    executable: str
    timeout: int
    lasts: float  # seconds the response keeps being worth sending
    prefix: bytes  # format A up to the alert
    flags: str  # format C's flags
    fates: dict[str, bytes | str]  # agent id -> its header, or why it cannot be delivered


_AGENTS_REMEMBERED = 65536  # per-agent memos (agent ids come from alerts: bounded)


def _why_not(fate: bytes | str, raw: bytes, message_length: int) -> str:
    """Why a record is `failed` rather than sent: the agent's reason, or the alert's."""
    if isinstance(fate, str):
        return fate
    if b"\0" in raw:
        return "the message holds a NUL byte"
    return (f"message of {message_length + len(fate) + 1} bytes is longer than remoted "
            f"reads ({MAX_DATAGRAM})")


# A record waiting in memory to be sent: (id, datagram, deadline).
_Ready = tuple[int, bytes, float]


def _unmarked(record_id: int) -> None:
    """The sender's mark when the mark file could not be opened: nothing to note."""


class WazuhQueueDelivery:
    """The delivery stage for `--agent-transport wazuh-queue[=PATH]`."""

    def __init__(
        self, context: EngineContext, path: Path,
        inventory: Callable[[], AgentDirectory | None], *,
        batch: int = 256, memory_limit: int = 16384, retry_initial: float = 0.02,
        retry_max: float = 2.0, confirm_wait: float = CONFIRM_WAIT,
    ) -> None:
        self._context = context
        self.path = path
        self._inventory = inventory
        self._sender = QueueSender(path)
        self._batch = batch
        self._memory_limit = memory_limit
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._confirm_wait = confirm_wait
        self._store: FleetStore | None = None
        self._pending: list[NewRecord] = []
        self._persisted: asyncio.Future[None] | None = None
        self._ready: collections.deque[_Ready] = collections.deque()
        self._spilled_from: int | None = None  # first queued id not in memory (restart)
        self._spilled_at: int | None = None  # spool offset of the first entry not in memory
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.sent = 0
        self.failed = 0
        self.last_error = ""
        self._busy = False  # the last retry was for a full queue, not a missing receiver
        self.blocks = AgentBlocks(context, self.send_message)
        self._mark: SendMark | None = None
        self._expired_upto = 0  # records up to this id were looked at by the unconfirmed sweep
        self._plans: dict[int, _Plan] = {}

    # ------------------------------------------------------------------ start

    def attach(self, store: FleetStore) -> None:
        """At engine start, once the state file is open: settle what a crash interrupted and
        pick up what is still queued."""
        self._store = store
        self.blocks.attach(store)
        if store.spool_problem:
            self._context.notice("warning", store.spool_problem)
        now = self._context.clock.now()
        db_id = store.db_id()
        path = mark_path(store.state_path)
        stored = store.watermark()
        left = read_mark(path, db_id)
        uncertain: int | None = None
        if left is not None and left.sent >= stored:
            # The mark file knows, to the datagram, what left after the last batch's row.
            if left.sent > stored:
                store.mark_sent(left.sent, now)
            uncertain = left.uncertain
        interrupted = store.settle_interrupted(now, uncertain)
        if interrupted:
            self._context.notice(
                "warning", f"{counted(len(interrupted), 'agent response')} "
                f"{'was' if len(interrupted) == 1 else 'were'} being sent when the "
                "engine stopped: not sent again (never twice); the agents' log lines will "
                "confirm them, or they are reported unconfirmed")
        try:
            self._mark = SendMark(path, db_id, store.watermark())
        except OSError as error:
            self._context.notice(
                "warning", f"{path}: {error}: without the sender's mark file a crash can leave "
                "a whole batch of agent responses unconfirmed")
        queued = store.queued_after(0, 1)
        if queued:
            self._spilled_from = queued[0][0]
            self._wake.set()
            self._idle.clear()

    @property
    def store(self) -> FleetStore | None:
        """The fleet tables it records into (None before `attach`)."""
        return self._store

    # ------------------------------------------------------------------ the intake's door

    def deliver(
        self, response: ActiveResponse, target: str, alert: Alert, received_at: float
    ) -> Awaitable[None] | None:
        """Record the response for `target` (an agent id, or `all`); the returned future is
        done once the record is in the state file."""
        inventory = self._inventory()
        if target == "all":
            agents = inventory.active_ids if inventory is not None else ()
        else:
            agents = (target,)
        plan = self._plans.get(id(response))
        if (plan is None or plan.response is not response
                or plan.config is not self._context.config or plan.inventory is not inventory):
            plan = self._plan(response, inventory)
        key = strip_mapped(alert.srcip) if alert.srcip else alert.dstuser
        deadline = received_at + plan.lasts
        # The message is built once per alert; the datagram once per agent, and that very
        # object is what the spool records and the socket sends.
        raw = alert.raw
        message = b"".join((plan.prefix, raw, ADHOC_TAIL))
        unfit = b"\0" in raw or len(message) + MIN_HEADER + 1 > MAX_DATAGRAM
        pending = self._pending
        admit = self.blocks.admit
        fates = plan.fates
        for agent_id in agents:
            # What breaks one agent (its inventory entry, which the agent partly writes)
            # costs that agent's delivery only: recorded failed with the reason, and the
            # agents after it, and those before (persisted below), go on.
            try:
                block: AgentBlock | None = None
                agent_deadline = deadline
                fate = fates.get(agent_id)
                if fate is None:
                    fate = self._fate(plan, agent_id, inventory)
                if type(fate) is bytes and not unfit:
                    datagram = b"".join((fate, message, b"\0"))
                    if len(datagram) <= MAX_DATAGRAM:
                        admitted = admit(agent_id, plan.executable, key, plan.name, plan.timeout,
                                         message, plan.flags)
                        if admitted is None:
                            continue  # a repeat: arconsole's timer was refreshed, no send
                        if type(admitted) is AgentBlock:
                            block = admitted
                            if block.timeout > 0:  # a repeated offender's block lasts longer
                                agent_deadline = received_at + block.timeout
                        pending.append((plan.name, plan.executable, agent_id, key, datagram,
                                        "queued", "", received_at, agent_deadline, block))
                        continue
                pending.append((plan.name, plan.executable, agent_id, key, None, "failed",
                                _why_not(fate, raw, len(message)), received_at, agent_deadline,
                                None))
            except Exception as error:
                self._unexpected(plan, agent_id, key, error, alert, received_at, deadline)
        if self._persisted is not None:  # this turn's write is already due
            return self._persisted
        return self._persist_soon() if pending or self.blocks.dirty else None

    def _unexpected(self, plan: _Plan, agent_id: str, key: str | None, error: Exception,
                    alert: Alert, received_at: float, deadline: float) -> None:
        """One agent's delivery broke: a failed record saying why, counted and told."""
        reason = f"not delivered: {type(error).__name__}: {str(error)[:200]}"
        self._pending.append((plan.name, plan.executable, agent_id, key, None, "failed",
                              reason, received_at, deadline, None))
        # Counted as failed (and its DeliveryChanged told) when the record is persisted, as
        # every failed record; the notice says why this one broke.
        self._context.notice("error", f"{plan.name} for agent {literal(agent_id)} (alert "
                             f"{literal(alert.alert_id[:64])}) {literal(reason)}")

    def _plan(self, response: ActiveResponse, inventory: AgentDirectory | None) -> _Plan:
        """What does not change between alerts of `response` under the current config and
        inventory, worked out once (a new config or inventory object makes new plans)."""
        config = self._context.current_config
        if self._plans:
            some = next(iter(self._plans.values()))
            if some.config is not config or some.inventory is not inventory:
                self._plans.clear()
        executable = response.executable or ""
        timeout = response.timeout or 0
        plan = _Plan(
            response, config, inventory, response.name, executable, timeout,
            float(timeout) if timeout > 0 else STATELESS_DEADLINE,
            adhoc_head(node_name=config.node_name, executable=executable,
                       extra_args=response.extra_args),
            header_flags(response.location_flags), {})
        self._plans[id(response)] = plan
        return plan

    @staticmethod
    def _fate(plan: _Plan, agent_id: str, inventory: AgentDirectory | None) -> bytes | str:
        """Format C's header for `agent_id` under `plan`, or why it cannot be delivered to
        (older than 4.2; an id remoted could not take: agent ids are alert text).
        Remembered in the plan, boundedly."""
        known = inventory.get(agent_id) if inventory is not None else None
        fate: bytes | str
        if known is not None and not known.speaks_json:
            fate = (f"agent {agent_id} runs {known.version}, older than 4.2: it does not "
                    "read the JSON message, so it cannot be delivered")
        else:
            try:
                fate = agent_header(plan.flags, agent_id)
            except AgentMessageError as error:
                fate = str(error)
        if len(plan.fates) >= _AGENTS_REMEMBERED:
            plan.fates.clear()
        plan.fates[agent_id] = fate
        return fate

    def send_message(
        self, response: str, program: str, agent: str, key: str | None, message: bytes,
        flags: str = "NNS", deadline: float | None = None,
    ) -> Awaitable[None]:
        """Queue an ad-hoc message of the engine's own (a reversal) for one agent."""
        now = self._context.clock.now()
        try:
            datagram: bytes | None = agent_datagram(flags, agent, message)
            state, reason = "queued", ""
        except AgentMessageError as error:
            datagram, state, reason = None, "failed", str(error)
        self._pending.append((response, program, agent, key, datagram, state, reason, now,
                              deadline or now + STATELESS_DEADLINE, None))
        return self._persist_soon()

    def _persist_soon(self) -> asyncio.Future[None]:
        if self._persisted is None:
            self._persisted = asyncio.get_running_loop().create_future()
            # Every delivery of this event-loop turn goes in one transaction.
            asyncio.get_running_loop().call_soon(self._persist)
        return self._persisted

    def _persist(self) -> None:
        future, self._persisted = self._persisted, None
        pending, self._pending = self._pending, []
        blocks = self.blocks
        try:
            store = self._store
            assert store is not None, "delivery stage not attached"
            reversed_now = None in blocks.dirty.values()
            if blocks.dirty_offences or not blocks.fresh.issuperset(blocks.dirty):
                with store.transaction():
                    blocks.flush()  # refreshes and reversals; new blocks ride in the entries
            elif blocks.dirty:
                blocks.flush()  # only blocks opened this turn: no row to write, no transaction
            if reversed_now:  # a block opened and reversed in this very turn: not opened
                for index, record in enumerate(pending):
                    block = record[9]
                    if block is not None and not blocks.in_force(block):
                        pending[index] = (*record[:9], None)
            first = store.append(pending)
            offsets = store.last_offsets
        except Exception as error:  # the state file failed: say so, never lose silently
            self._context.notice("error", f"agent responses not recorded: {error}")
            if future is not None and not future.done():
                future.set_exception(error)
            return
        told = self._context.bus.has_subscribers
        ready = self._ready
        spilled = self._spilled_from is not None or self._spilled_at is not None
        room = 0 if spilled else self._memory_limit - len(ready)
        if not told and len(pending) <= room and not self.failed_in(pending):
            # The common turn: every record goes to the sender as it is, nothing to tell.
            ready.extend(zip(range(first, first + len(pending)),
                             [record[4] for record in pending],  # type: ignore[misc]
                             [record[8] for record in pending], strict=True))
            pending = []
        delivery_id = first
        for index, record in enumerate(pending):
            if record[5] == "failed":
                self.failed += 1
                self._publish(delivery_id, record[0], record[1], record[2], record[3],
                              "failed", record[6])
            else:
                if told:
                    self._publish(delivery_id, record[0], record[1], record[2], record[3],
                                  "queued", "")
                if room > 0:
                    ready.append((delivery_id, record[4], record[8]))  # type: ignore[arg-type]
                    room -= 1
                elif not spilled:  # the rest waits in the spool (or the state file)
                    spilled = True
                    if offsets is not None:
                        self._spilled_at = offsets[index]
                    else:
                        self._spilled_from = delivery_id
            delivery_id += 1
        if future is not None and not future.done():
            future.set_result(None)
        self._idle.clear()
        self._wake.set()

    @staticmethod
    def failed_in(records: list[NewRecord]) -> bool:
        """Whether any of `records` was recorded `failed` (not to be sent)."""
        return any(record[5] == "failed" for record in records)

    # ------------------------------------------------------------------ the sender

    async def run(self) -> None:
        """The sender task: runs until cancelled. (A plain Event wait: in Python 3.11,
        `wait_for` can swallow a cancellation that races its timeout.)"""
        loop = asyncio.get_running_loop()
        last_sweep = self._context.clock.now()
        while True:
            tick = loop.call_later(5.0, self._wake.set)  # the unconfirmed sweep's beat
            try:
                await self._wake.wait()
            finally:
                tick.cancel()
            self._wake.clear()
            await self._send_all()
            now = self._context.clock.now()
            if now - last_sweep >= 5.0:
                last_sweep = now
                self.sweep_unconfirmed()

    def sweep_unconfirmed(self) -> None:
        """Records sent more than `confirm_wait` ago that no agent log line confirmed (those
        in doubt after a crash included) become `unconfirmed` (the sender's 5 s beat)."""
        if self._store is None:
            return
        now = self._context.clock.now()
        self._expired_upto = self._store.expire_unconfirmed(
            now - self._confirm_wait, now,
            f"no active-response log line from the agent within {self._confirm_wait:g}s",
            self._expired_upto)

    async def wait_idle(self) -> None:
        """Until everything recorded so far has been sent or has failed (tests, bench)."""
        while self._pending or self._persisted is not None or not self._idle.is_set():
            await self._idle.wait()
            if self._pending or self._persisted is not None:
                await asyncio.sleep(0)

    def _refill(self) -> None:
        store = self._store
        if self._ready or store is None:
            return
        if self._spilled_at is not None:
            # this run's overflow: read back from the spool (failed entries are skipped)
            entries, after = store.spooled(self._spilled_at, self._memory_limit)
            self._ready.extend(entries)
            # Fewer than asked for: the read reached the spool's end (it looked at the file's
            # size itself), or an entry it cannot read, which a second read would not pass.
            full = len(entries) == self._memory_limit and after != self._spilled_at
            self._spilled_at = after if full else None
        if self._ready:
            return
        if self._spilled_from is None:
            return
        records = store.queued_after(self._spilled_from - 1, self._memory_limit)
        for delivery_id, datagram, deadline in records:
            if datagram is None:
                self._fail(delivery_id, "its datagram is missing from the delivery spool "
                           f"{spool_path(store.state_path)}")
            else:
                self._ready.append((delivery_id, datagram, deadline))
        self._spilled_from = (
            records[-1][0] + 1 if len(records) == self._memory_limit else None
        )

    async def _send_all(self) -> None:
        store = self._store
        if store is None:
            return
        delay = self._retry_initial
        while True:
            self._refill()
            if not self._ready:
                break
            try:
                send = self._sender.connected().send
            except OSError as error:  # remoted's socket is not there (yet)
                if not self._send_error(error):  # for good: the oldest record fails with it
                    self._fail(self._ready.popleft()[0], self.last_error)
                    continue
                retry = True
            else:
                retry = self._send_batch(send, store)
            if retry:
                if self._busy:
                    # The receiver is reading, only slower than us: wait for room, no backoff.
                    await self._sender.wait_writable(self._retry_max)
                    delay = self._retry_initial
                    continue
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            delay = self._retry_initial
            await asyncio.sleep(0)  # let the intake and local work run between batches
        if not self._pending and self._persisted is None:
            self._idle.set()

    def _send_batch(self, send: Callable[[bytes], int], store: FleetStore) -> bool:
        """Send up to a batch of ready records, oldest first; whether to retry later (the
        socket refused one for now). The hot loop: per datagram two stores into the mark
        file around one `send`, nothing else that calls into Python."""
        ready = self._ready
        popleft = ready.popleft
        mark = self._mark
        # Without the mark file: a no-op, so the loop has no branch.
        intend = mark.intend if mark is not None else _unmarked
        done = mark.done if mark is not None else _unmarked
        now = self._context.clock.now()
        told = self._context.bus.has_subscribers
        last: int | None = None
        sent: list[int] = []
        count = 0
        retry = False
        for _ in range(min(self._batch, len(ready))):
            item = popleft()
            record_id, datagram, deadline = item
            if now > deadline:
                self._fail(record_id, f"gave up: {self.last_error or 'not sent'} until "
                           "the response no longer made sense (its timeout)")
                continue
            intend(record_id)  # the mark file: "about to send", then "sent", around it
            try:
                taken = send(datagram)
            except OSError as error:
                if mark is not None:
                    mark.not_sent()
                self._sender.failed(error)
                if self._send_error(error):
                    ready.appendleft(item)  # still the oldest: it goes first next time
                    retry = True
                    break
                self._fail(record_id, self.last_error)
                continue
            done(record_id)
            if taken != len(datagram):  # datagrams go whole or not at all; never seen
                self._fail(record_id, f"{self.path}: {short_send(taken, len(datagram))}")
                continue
            last = record_id
            count += 1
            if told:
                sent.append(record_id)
        if last is not None:
            # One row for the batch: every queued record up to `last` has left.
            store.mark_sent(last, self._context.clock.now())
            self.sent += count
            for delivery_id in sent:
                self._publish_id(delivery_id, "sent")
        return retry

    def _send_error(self, error: OSError) -> bool:
        """Note a send (or connect) error; whether it is worth retrying."""
        self.last_error = f"{self.path}: {error.strerror or error}"
        if is_retryable(error):
            self._busy = error.errno in (errno.EAGAIN, errno.ENOBUFS)
            return True
        return False

    def _fail(self, delivery_id: int, reason: str) -> None:
        assert self._store is not None
        self._store.set_delivery_state(delivery_id, "failed", self._context.clock.now(),
                                       reason=reason)
        self.failed += 1
        self._context.notice("error", f"agent response {delivery_id} not delivered: {reason}")
        self._publish_id(delivery_id, "failed")

    # ------------------------------------------------------------------ confirmations

    def confirm(self, agent: str, program: str, key: str) -> int:
        """The agent logged (agent, program, key): its sent deliveries are confirmed."""
        if self._store is None:
            return 0
        return self._store.confirm_deliveries(agent, program, key, self._context.clock.now())

    def delivery_state(self, agent: str, program: str, key: str) -> str:
        """What the console's DELIVERY column shows for one of arconsole's agent blocks."""
        state = self._store.latest_delivery_state(agent, program, key) if self._store else None
        return state or "queued"

    def agent_name(self, agent: str) -> str:
        inventory = self._inventory()
        found = inventory.get(agent) if inventory is not None else None
        return found.name if found is not None else ""

    # ------------------------------------------------------------------ events

    def _publish_id(self, delivery_id: int, state: str) -> None:
        if not self._context.bus.has_subscribers or self._store is None:
            return
        record = self._store.get_delivery(delivery_id)
        if record is not None:
            self._publish(record.id, record.response, record.program, record.agent,
                          record.key, state, record.reason)

    def _publish(self, delivery_id: int, response: str, program: str, agent: str,
                 key: str | None, state: str, reason: str) -> None:
        if self._context.bus.has_subscribers:
            self._context.bus.publish(DeliveryChanged(
                at=self._context.clock.now(), delivery_id=delivery_id, response=response,
                program=program, agent=agent, key=key, state=state, reason=reason))

    def close(self) -> None:
        self._sender.close()
        if self._mark is not None:
            self._mark.close()
