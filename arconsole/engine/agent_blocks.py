"""arconsole's own blocks on agents: timers, dedupe and reversal owned by the engine.

An ad-hoc run (`!firewall-drop`) has timeout 0 on the agent, so the agent's execd keeps no timer
(fleet.md F1): arconsole keeps it, per (agent, program, key), in the state file. A repeat while
the block is in force refreshes the timer and sends nothing; at expiry the engine sends
`!arconsole-reverse` naming the program and the key; when an agent starts again (its "agent
started" alerts, rules 501/503) its active blocks are sent again, since a reboot empties its
firewall. Blocks therefore survive agent and manager restarts alike.

Repeated offenders (spec 7.5) apply as for local blocks: the config's `<repeated_offenders>`
escalates the timeout per (agent, response, key), counted in the state file's offender table
(under `offender_key`), so the counts survive restarts and decay like local ones.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

from arconsole.engine.agent_messages import REVERSE_SCRIPT, reverse_json
from arconsole.engine.context import EngineContext
from arconsole.engine.fleet_store import AgentBlock, FleetStore, message_of
from arconsole.engine.offenders import escalate
from arconsole.wording import counted

AGENT_STARTED_RULES = frozenset({"501", "503"})
TICK = 0.5  # how often due blocks are looked for
# "Agent started" alerts for one agent closer than this are one start: its blocks go out at
# the first only (rules 501 and 503 both come for one start, and a burst of spoofed ones must
# not re-send every block each time; a real restart takes longer than this).
STARTED_COALESCE = 10.0



def offender_key(agent: str, response: str, key: str) -> str:
    """The offender-table key of an agent block; local keys never start with `agent `."""
    return f"agent {agent} {response} {key}"


Send = Callable[[str, str, str, str | None, bytes, str, float | None], object]


class AgentBlocks:
    def __init__(self, context: EngineContext, send: Send) -> None:
        self._context = context
        self._send = send  # delivery's send_message
        self._store: FleetStore | None = None
        self.blocks: dict[tuple[str, str, str], AgentBlock] = {}
        self._due: list[tuple[float, tuple[str, str, str]]] = []
        # Changes not yet in the state file: saved in the same transaction as the delivery
        # records they go with (None: deleted), so a crash cannot keep one without the other.
        self.dirty: dict[tuple[str, str, str], AgentBlock | None] = {}
        # Blocks opened since the last flush: their delivery's spool entry records them, so
        # `flush` writes no row for them.
        self.fresh: set[tuple[str, str, str]] = set()
        self._offences: dict[str, int] = {}  # counts read or set this run
        self.dirty_offences: dict[str, int] = {}
        self._started_at: dict[str, float] = {}  # agent -> when its blocks last went again

    def attach(self, store: FleetStore) -> None:
        self._store = store
        for block in store.load_agent_blocks():
            ident = (block.agent, block.program, block.key)
            self.blocks[ident] = block
            heapq.heappush(self._due, (block.expires_at, ident))

    def admit(self, agent: str, program: str, key: str | None, response: str, timeout: int,
              message: bytes, flags: str) -> AgentBlock | int | None:
        """The new block (its timeout after repeated-offender escalation) when the add must
        be sent; the plain timeout when no block is kept (stateless, or no key); None for a
        repeat (its timer is refreshed, to the escalated timeout)."""
        if timeout <= 0 or not key:
            return timeout  # stateless, or nothing to key on: every run is sent
        if self._context.current_config.repeated_offenders:
            timeout = self._escalate(offender_key(agent, response, key), timeout)
        now = self._context.clock.now()
        ident = (agent, program, key)
        block = self.blocks.get(ident)
        repeat = block is not None
        if block is None:
            block = AgentBlock(agent, program, key, response, message, flags, timeout, now,
                               now + timeout)
            self.blocks[ident] = block
            self.fresh.add(ident)
        else:
            block.expires_at = now + timeout
            block.timeout = timeout
        heapq.heappush(self._due, (block.expires_at, ident))
        self.dirty[ident] = block
        return None if repeat else block

    def _escalate(self, okey: str, timeout: int) -> int:
        """Spec 7.5, as execd does it: escalation runs before the dedupe, so a repeat
        during a block both counts and resets the block to the new duration."""
        minutes = self._context.current_config.repeated_offenders
        if not minutes:
            return timeout
        count = self._offences.get(okey)
        if count is None and okey not in self.dirty_offences:
            count = self._context.store.get_offences(okey)
        escalated, new_count = escalate(timeout, minutes, count)
        if new_count != count:
            self.dirty_offences[okey] = new_count
        self._offences[okey] = new_count
        return escalated

    async def timer_loop(self) -> None:
        while True:
            await self._context.clock.sleep(TICK)
            self.expire_due()
            self.started_window_ends()

    def started_window_ends(self) -> None:
        """Forget the agents whose "started" window has ended (agent ids are alert text)."""
        now = self._context.clock.now()
        ended = [agent for agent, at in self._started_at.items()
                 if now - at >= STARTED_COALESCE]
        for agent in ended:
            del self._started_at[agent]

    def expire_due(self) -> list[AgentBlock]:
        """Reverse the blocks whose time has come: `!arconsole-reverse` to their agent."""
        now = self._context.clock.now()
        ended: list[AgentBlock] = []
        while self._due and self._due[0][0] <= now:
            expires_at, ident = heapq.heappop(self._due)
            block = self.blocks.get(ident)
            if block is None or block.expires_at != expires_at:
                continue  # refreshed or already reversed: a stale heap entry
            ended.append(self.reverse(ident, "expired"))
        return ended

    def reverse(self, ident: tuple[str, str, str], reason: str) -> AgentBlock:
        block = self.blocks.pop(ident)
        config = self._context.current_config
        message = reverse_json(node_name=config.node_name, program=block.program,
                               key=block.key)
        self._send(f"reverse {block.response}", REVERSE_SCRIPT, block.agent, block.key,
                   message, "NNS", None)
        self.dirty[ident] = None
        self._context.notice("info", f"agent block {block.row_key} {reason}: "
                             f"!{REVERSE_SCRIPT} sent to agent {block.agent}")
        return block

    def in_force(self, block: AgentBlock) -> bool:
        """Whether `block` is still the one kept for its identity (not reversed since)."""
        return self.blocks.get((block.agent, block.program, block.key)) is block

    def flush(self) -> None:
        """Write the changed blocks (the delivery stage calls it inside its transaction,
        before the spool entries of this turn): refreshes and reversals of blocks opened
        earlier; a block opened this turn is in its delivery's entry."""
        dirty, self.dirty = self.dirty, {}
        fresh, self.fresh = self.fresh, set()
        offences, self.dirty_offences = self.dirty_offences, {}
        if self._store is None:
            return
        for okey, count in offences.items():
            self._context.store.set_offences(okey, count)
        saved = [block for ident, block in dirty.items()
                 if block is not None and ident not in fresh]
        if saved:
            self._store.save_agent_blocks(saved)
        for ident, block in dirty.items():
            if block is None:
                self._store.delete_agent_block(*ident)

    def find(self, row_key: str) -> tuple[str, str, str] | None:
        """`AGENT:program-key` -> the block's identity."""
        for ident, block in self.blocks.items():
            if block.row_key == row_key:
                return ident
        return None

    def agent_started(self, agent: str) -> int:
        """An agent started again: send its active blocks once more, and the reversals it
        never confirmed (sent while it was down: remoted drops what a disconnected agent
        cannot take), unless that key is blocked again by now. A repeat within
        STARTED_COALESCE of the last one sends nothing."""
        now = self._context.clock.now()
        last = self._started_at.get(agent)
        if last is not None and now - last < STARTED_COALESCE:
            return 0
        self._started_at[agent] = now
        count = 0
        blocked: set[str] = set()
        for block in self.blocks.values():
            if block.agent == agent:
                blocked.add(block.key)
                if not block.message:  # its datagram was lost with the delivery spool
                    self._context.notice(
                        "warning", f"agent block {block.row_key}: its message is lost (the "
                        "delivery spool beside the state file is gone): not sent again")
                    continue
                self._send(block.response, block.program, agent, block.key, block.message,
                           block.flags, block.expires_at)
                count += 1
        reversals: dict[str, tuple[str, bytes]] = {}  # the latest per key
        if self._store is not None:
            for record in self._store.unconfirmed(agent, REVERSE_SCRIPT):
                if record.key and record.datagram and record.key not in blocked:
                    reversals[record.key] = (record.response, message_of(record.datagram))
        for key, (response, message) in reversals.items():
            self._send(response, REVERSE_SCRIPT, agent, key, message, "NNS", None)
        if count or reversals:
            self._context.notice("info", f"agent {agent} started: "
                                 f"{counted(count, 'active block')} and "
                                 f"{counted(len(reversals), 'unconfirmed reversal')} sent again")
        return count + len(reversals)

