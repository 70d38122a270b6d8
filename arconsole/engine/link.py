"""How a front end drives an engine, whether it runs in-process or is attached by socket.

The console only ever talks to an `EngineLink`: it calls these coroutines to act, and it
learns every outcome from the event batches of `events()`. The same console code therefore
works embedded (`LocalLink`) and attached to an engine another process owns (`SocketLink`).
Both links return the same typed values: blocks as `BlockInfo` and action outcomes as
`Outcome`, decoded once from the engine's JSON form (the form the control socket carries).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import msgspec

from arconsole.engine.engine import Engine
from arconsole.engine.events import BlockChanged, Event
from arconsole.engine.model import ActionResult, BlockState


class BlockInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A block as a front end sees it: `Block.to_json()`, typed (no delete message)."""

    key: str
    command: str = ""
    name: str = ""
    executable: str = ""
    protocol: str = "json"
    target: str = ""
    srcip: str | None = None
    user: str | None = None
    state: BlockState = BlockState.ACTIVE
    started_at: float = 0.0
    expires_at: float = 0.0
    timeout: int = 0
    offences: int = 0
    alert_id: str | None = None
    rule_id: str | None = None
    restored: bool = False
    manual: bool = False
    last_error: str | None = None
    dry_run: bool = False
    # Fleet rows (a block on an agent; `target` is then the agent id): empty for local blocks.
    agent_name: str = ""
    delivery: str = "-"  # sent | confirmed | failed | observed | queued ...; `-` for local
    owner: str = ""  # arconsole (its own timer) | agent execd (Wazuh's own block)
    fleet_state: str = ""  # active | overdue, as the fleet table says
    note: str = ""  # for a Wazuh-held block: what an early reversal leaves (fleet.md F3)
    node: str = ""  # the manager node the block belongs to (several attached engines)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BlockInfo:
        return msgspec.convert(data, cls)

    @classmethod
    def of_fleet(cls, row: dict[str, Any]) -> BlockInfo:
        """A row of the engine's fleet listing (`list` answer `fleet`), as a block."""
        target = str(row.get("target", ""))
        try:
            ipaddress.ip_address(target.split("/")[0])
            srcip, user = target, None
        except ValueError:
            srcip, user = None, target or None
        return cls(
            key=str(row.get("key", "")), command=str(row.get("program", "")),
            name=str(row.get("response", "")), executable=str(row.get("program", "")),
            target=str(row.get("agent", "")), srcip=srcip, user=user,
            started_at=float(row.get("started_at") or 0.0),
            expires_at=float(row.get("expires_at") or 0.0),
            timeout=int(row.get("timeout") or 0), rule_id=row.get("rule_id") or None,
            agent_name=str(row.get("agent_name", "")), delivery=str(row.get("delivery", "-")),
            owner=str(row.get("owner", "")), fleet_state=str(row.get("state", "")),
            note=str(row.get("note", "")),
        )

    @property
    def on_agent(self) -> bool:
        """A fleet row: a block on an agent (its key is `AGENT:program-key`)."""
        return bool(self.owner)

    @property
    def target_label(self) -> str:
        """`server`, or the agent's id and name."""
        if not self.on_agent:
            return self.target or "server"
        return f"{self.target} {self.agent_name}".strip()

    @property
    def agent_label(self) -> str:
        """The agent's id and name; empty for a block on this server (`agent:001` filter)."""
        return self.target_label if self.on_agent else ""

    @property
    def held_by_agent(self) -> bool:
        """Wazuh's own execd holds it (its own timer): reversing leaves that timer running."""
        return self.owner == "agent execd"

    @classmethod
    def of_event(cls, event: BlockChanged) -> BlockInfo:
        return cls.from_json(event.block)

    def to_json(self) -> dict[str, Any]:
        data = msgspec.structs.asdict(self)
        data["state"] = str(self.state)
        return data

    @property
    def who(self) -> str:
        """The address, else the user, else `-`: what the block is about."""
        return self.srcip or self.user or "-"

    @property
    def counts_down(self) -> bool:
        """Its timer runs (failed blocks are retried at expiry, so they count down too)."""
        if self.on_agent and not self.expires_at:
            return False  # a Wazuh-held block whose timeout no response of the config gives
        return self.state in (BlockState.ACTIVE, BlockState.FAILED, BlockState.REVERSING)

    @property
    def reversible(self) -> bool:
        return self.state in (BlockState.ACTIVE, BlockState.FAILED)

    @property
    def label(self) -> str:
        """active, reversing, failed, untracked or restored (an active block from the state
        file), with ` (dry)` for a dry run's imagined block."""
        label = str(self.state)
        if self.fleet_state:
            label = self.fleet_state
        elif self.state is BlockState.ACTIVE and self.restored:
            label = "restored"
        return label + " (dry)" if self.dry_run else label


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """What an operator action did (`ActionResult.to_json()`, typed)."""

    ok: bool
    action: str
    target: str
    detail: str
    block: BlockInfo | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outcome:
        return msgspec.convert(data, cls)

    @classmethod
    def of(cls, result: ActionResult) -> Outcome:
        return cls(ok=result.ok, action=result.action, target=result.target,
                   detail=result.detail,
                   block=BlockInfo.from_json(result.block.to_json()) if result.block else None)


@dataclass(frozen=True, slots=True)
class LinkStatus:
    attached: bool  # True when another process owns the engine
    mode: str  # enforce | dry-run
    read_only: bool
    generation: int
    config: str
    home: str
    # The state file cannot be written: why (one line), and since when; None while it can.
    store_fault: str | None = None
    store_fault_since: float | None = None
    # What the state store found wrong at open (world-writable directory...), as said.
    store_warnings: tuple[str, ...] = ()
    # The engine delivers agents' responses (--agent-transport wazuh-queue).
    agent_transport: bool = False


class EngineLink(Protocol):
    @property
    def status(self) -> LinkStatus: ...

    def blocks(self) -> list[BlockInfo]:
        """The blocks as last known: the server's, nearest expiry first, then the fleet's
        (blocks on agents, `BlockInfo.on_agent`)."""
        ...

    def events(self) -> AsyncIterator[list[Event]]:
        """Batches of events, oldest first, for as long as the engine runs."""
        ...

    @property
    def dropped_alerts(self) -> int:
        """Alert events dropped because the front end fell behind."""
        ...

    async def reverse(self, keys: list[str], operator: str) -> list[Outcome]: ...

    async def extend(self, key: str, seconds: int, operator: str) -> Outcome: ...

    async def add(self, command: str, srcip: str, operator: str, *, timeout: int | None,
                  force: bool) -> Outcome: ...

    async def reload(self) -> bool: ...

    async def close(self) -> None: ...


class LocalLink:
    """An engine running in this process."""

    def __init__(self, engine: Engine, *, capacity: int = 20_000) -> None:
        self.engine = engine
        self._subscription = engine.bus.subscribe(capacity)

    @property
    def status(self) -> LinkStatus:
        engine = self.engine
        return LinkStatus(
            attached=False, mode=str(engine.mode), read_only=engine.read_only,
            generation=engine.generation, config=str(engine.options.config_path),
            home=str(engine.options.home), store_fault=engine.store_fault,
            store_fault_since=engine.store_fault_since,
            store_warnings=tuple(engine.store_warnings),
            agent_transport=engine.options.agent_queue is not None,
        )

    def blocks(self) -> list[BlockInfo]:
        return [*(BlockInfo.from_json(b.to_json()) for b in self.engine.list_blocks()),
                *fleet_blocks(self.engine.fleet.listing())]

    async def events(self) -> AsyncIterator[list[Event]]:
        while True:
            yield await self._subscription.next_batch()

    @property
    def dropped_alerts(self) -> int:
        return self._subscription.dropped_alerts

    async def reverse(self, keys: list[str], operator: str) -> list[Outcome]:
        return [Outcome.of(r) for r in await self.engine.reverse_blocks(keys, operator)]

    async def extend(self, key: str, seconds: int, operator: str) -> Outcome:
        return Outcome.of(await self.engine.extend_block(key, seconds, operator))

    async def add(self, command: str, srcip: str, operator: str, *, timeout: int | None,
                  force: bool) -> Outcome:
        from arconsole.engine.operator import ssh_client_address

        result: ActionResult = await self.engine.add_block(
            command, srcip, operator, timeout=timeout, force=force,
            requester_address=ssh_client_address(),
        )
        return Outcome.of(result)

    async def reload(self) -> bool:
        return await self.engine.reload()

    async def close(self) -> None:
        self._subscription.close()


def fleet_blocks(rows: list[dict[str, Any]]) -> list[BlockInfo]:
    """The engine's fleet listing as blocks, in its order."""
    return [BlockInfo.of_fleet(row) for row in rows]


EVENTS_PER_BATCH = 256  # decoded before the loop gets a turn (keys wait for no more)
_EVENT_LINE = msgspec.json.Decoder()


def decode_event(line: bytes) -> Event:
    """One event line of the control socket (msgspec: about twice the speed of `json`)."""
    from arconsole.engine.events import event_from_json

    return event_from_json(_EVENT_LINE.decode(line)["event"])


class SocketLink:
    """An engine owned by another process, reached over its control socket."""

    def __init__(self, path: Path, hello: dict[str, Any], reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, *, read_only: bool = False) -> None:
        self.path = path
        self._hello = hello
        self._reader = reader
        self._writer = writer
        self._blocks: dict[str, BlockInfo] = {
            block.key: block for block in map(BlockInfo.from_json, hello.get("blocks", []))}
        self._fleet = fleet_blocks(hello.get("fleet", []))
        self._read_only = read_only or bool(hello.get("read_only"))
        self._generation = int(hello.get("generation", 0))
        fault, since = hello.get("store_fault"), hello.get("store_fault_since")
        self._store_fault: str | None = str(fault) if fault is not None else None
        self._store_fault_since = float(since) if isinstance(since, int | float) else None

    @classmethod
    async def connect(cls, path: Path, *, read_only: bool = False) -> SocketLink:
        from arconsole.engine.control import subscribe

        hello, reader, writer = await subscribe(path)
        return cls(path, hello, reader, writer, read_only=read_only)

    @property
    def status(self) -> LinkStatus:
        hello = self._hello
        return LinkStatus(
            attached=True, mode=str(hello.get("mode", "?")), read_only=self._read_only,
            generation=self._generation, config=str(hello.get("config", "")),
            home=str(hello.get("home", "")), store_fault=self._store_fault,
            store_fault_since=self._store_fault_since,
            store_warnings=tuple(str(w) for w in hello.get("store_warnings") or ()),
            agent_transport=hello.get("agent_transport") is True,
        )

    def blocks(self) -> list[BlockInfo]:
        return [*sorted(self._blocks.values(), key=lambda b: (b.expires_at, b.key)), *self._fleet]

    async def _refresh_fleet(self) -> None:
        """The fleet rows again, after a fleet or delivery event (one request per batch)."""
        from arconsole.engine.control import request

        answer = await asyncio.to_thread(request, self.path, {"op": "list"})
        self._fleet = fleet_blocks(answer.get("fleet", []))

    async def events(self) -> AsyncIterator[list[Event]]:
        from arconsole.engine.events import (
            ConfigLoaded,
            DeliveryChanged,
            FleetChanged,
            StoreHealthChanged,
        )

        while True:
            line = await self._reader.readline()
            if not line:
                return
            batch = [decode_event(line)]
            buffered = self._reader._buffer  # type: ignore[attr-defined]
            while len(batch) < EVENTS_PER_BATCH and b"\n" in buffered:
                batch.append(decode_event(await self._reader.readline()))
            if any(isinstance(e, FleetChanged | DeliveryChanged) for e in batch):
                await self._refresh_fleet()
            for event in batch:
                if isinstance(event, BlockChanged):
                    if event.change == "reversed":
                        self._blocks.pop(str(event.block.get("key")), None)
                    else:
                        block = BlockInfo.of_event(event)
                        self._blocks[block.key] = block
                elif isinstance(event, ConfigLoaded):
                    self._generation = event.generation
                elif isinstance(event, StoreHealthChanged):
                    self._store_fault, self._store_fault_since = event.fault, event.since
            yield batch
            await asyncio.sleep(0)  # a flood of buffered lines never holds the loop

    @property
    def dropped_alerts(self) -> int:
        return 0

    @property
    def node(self) -> str:
        """The engine's cluster node name, else the socket path's parent directory's name."""
        return str(self._hello.get("node") or "") or self.path.parent.name or str(self.path)

    async def _request(self, payload: dict[str, Any]) -> dict[str, Any]:
        from arconsole.engine.control import request

        if self._read_only and payload.get("op") not in ("list", "status"):
            raise PermissionError("arconsole is read-only: nothing can be changed")
        return await asyncio.to_thread(request, self.path, payload)

    async def reverse(self, keys: list[str], operator: str) -> list[Outcome]:
        answer = await self._request({"op": "reverse", "keys": keys,
                                      "command_line": f"console reverse {json.dumps(keys)}"})
        return [Outcome.from_json(r) for r in answer.get("results", [])]

    async def extend(self, key: str, seconds: int, operator: str) -> Outcome:
        answer = await self._request({"op": "extend", "key": key, "seconds": seconds,
                                      "command_line": f"console extend {key} {seconds}"})
        return self._single(answer, "extend", key)

    async def add(self, command: str, srcip: str, operator: str, *, timeout: int | None,
                  force: bool) -> Outcome:
        answer = await self._request({"op": "add", "command": command, "srcip": srcip,
                                      "timeout": timeout, "force": force,
                                      "command_line": f"console add {command} {srcip}"})
        return self._single(answer, "add", srcip)

    @staticmethod
    def _single(answer: dict[str, Any], action: str, target: str) -> Outcome:
        results = answer.get("results") or []
        if not results:
            return Outcome(ok=False, action=action, target=target,
                           detail=str(answer.get("error") or "the engine gave no result"))
        return Outcome.from_json(results[0])

    async def reload(self) -> bool:
        return bool((await self._request({"op": "reload"})).get("ok"))

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()
