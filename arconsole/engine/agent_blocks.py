"""arconsole's own blocks on agents: timers, dedupe and reversal owned by the engine.

An ad-hoc run (`!firewall-drop`) has timeout 0 on the agent, so the agent's execd keeps no timer
(fleet.md F1): arconsole keeps it, per (agent, program, key), in the state file. A repeat while
the block is in force refreshes the timer and sends nothing; at expiry the engine sends
`!arconsole-reverse` naming the program and the key; when an agent starts again (its "agent
started" alerts, rules 501/503) its active blocks are sent again, since a reboot empties its
firewall. Blocks therefore survive agent and manager restarts alike.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

from arconsole.engine.agent_messages import REVERSE_SCRIPT, reverse_json
from arconsole.engine.context import EngineContext
from arconsole.engine.fleet_store import AgentBlock, FleetStore

AGENT_STARTED_RULES = frozenset({"501", "503"})
TICK = 0.5  # how often due blocks are looked for

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

    def attach(self, store: FleetStore) -> None:
        self._store = store
        for block in store.load_agent_blocks():
            ident = (block.agent, block.program, block.key)
            self.blocks[ident] = block
            heapq.heappush(self._due, (block.expires_at, ident))

    def admit(self, agent: str, program: str, key: str | None, response: str, timeout: int,
              message: bytes, flags: str) -> bool:
        """True when the add must be sent; False for a repeat (its timer is refreshed)."""
        if timeout <= 0 or not key:
            return True  # stateless, or nothing to key on: every run is sent
        now = self._context.clock.now()
        ident = (agent, program, key)
        block = self.blocks.get(ident)
        repeat = block is not None
        if block is None:
            block = AgentBlock(agent, program, key, response, message, flags, timeout, now,
                               now + timeout)
            self.blocks[ident] = block
        else:
            block.expires_at = now + timeout
            block.timeout = timeout
        heapq.heappush(self._due, (block.expires_at, ident))
        self.dirty[ident] = block
        return not repeat

    async def timer_loop(self) -> None:
        while True:
            await self._context.clock.sleep(TICK)
            self.expire_due()

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

    def flush(self) -> None:
        """Write the changed blocks (the delivery stage calls it inside its transaction)."""
        dirty, self.dirty = self.dirty, {}
        if self._store is None:
            return
        for ident, block in dirty.items():
            if block is None:
                self._store.delete_agent_block(*ident)
            else:
                self._store.save_agent_block(block)

    def find(self, row_key: str) -> tuple[str, str, str] | None:
        """`AGENT:program-key` -> the block's identity."""
        for ident, block in self.blocks.items():
            if block.row_key == row_key:
                return ident
        return None

    def agent_started(self, agent: str) -> int:
        """An agent started again: send its active blocks once more."""
        count = 0
        for block in self.blocks.values():
            if block.agent == agent:
                self._send(block.response, block.program, agent, block.key, block.message,
                           block.flags, block.expires_at)
                count += 1
        if count:
            self._context.notice("info", f"agent {agent} started: {count} active block(s) "
                                 "sent again")
        return count
