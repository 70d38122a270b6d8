"""How a front end drives an engine, whether it runs in-process or is attached by socket.

The console only ever talks to an `EngineLink`: it calls these coroutines to act, and it
learns every outcome from the event batches of `events()`. The same console code therefore
works embedded (`LocalLink`) and attached to an engine another process owns (`SocketLink`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from arconsole.engine.engine import ActionResult, Engine
from arconsole.engine.events import Event


@dataclass(frozen=True, slots=True)
class LinkStatus:
    attached: bool  # True when another process owns the engine
    mode: str  # enforce | dry-run
    read_only: bool
    generation: int
    config: str
    home: str


class EngineLink(Protocol):
    @property
    def status(self) -> LinkStatus: ...

    def blocks(self) -> list[dict[str, Any]]:
        """The blocks as last known (Block.to_json() objects)."""
        ...

    def events(self) -> AsyncIterator[list[Event]]:
        """Batches of events, oldest first, for as long as the engine runs."""
        ...

    @property
    def dropped_alerts(self) -> int:
        """Alert events dropped because the front end fell behind."""
        ...

    async def reverse(self, keys: list[str], operator: str) -> list[dict[str, Any]]: ...

    async def extend(self, key: str, seconds: int, operator: str) -> dict[str, Any]: ...

    async def add(self, command: str, srcip: str, operator: str, *, timeout: int | None,
                  force: bool) -> dict[str, Any]: ...

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
            home=str(engine.options.home),
        )

    def blocks(self) -> list[dict[str, Any]]:
        return [b.to_json() for b in self.engine.list_blocks()]

    async def events(self) -> AsyncIterator[list[Event]]:
        while True:
            yield await self._subscription.next_batch()

    @property
    def dropped_alerts(self) -> int:
        return self._subscription.dropped_alerts

    async def reverse(self, keys: list[str], operator: str) -> list[dict[str, Any]]:
        return [r.to_json() for r in await self.engine.reverse_blocks(keys, operator)]

    async def extend(self, key: str, seconds: int, operator: str) -> dict[str, Any]:
        return (await self.engine.extend_block(key, seconds, operator)).to_json()

    async def add(self, command: str, srcip: str, operator: str, *, timeout: int | None,
                  force: bool) -> dict[str, Any]:
        from arconsole.engine.operator import ssh_client_address

        result: ActionResult = await self.engine.add_block(
            command, srcip, operator, timeout=timeout, force=force,
            requester_address=ssh_client_address(),
        )
        return result.to_json()

    async def reload(self) -> bool:
        return await self.engine.reload()

    async def close(self) -> None:
        self._subscription.close()


class SocketLink:
    """An engine owned by another process, reached over its control socket."""

    def __init__(self, path: Path, hello: dict[str, Any], reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, *, read_only: bool = False) -> None:
        self.path = path
        self._hello = hello
        self._reader = reader
        self._writer = writer
        self._blocks: dict[str, dict[str, Any]] = {b["key"]: b for b in hello.get("blocks", [])}
        self._read_only = read_only or bool(hello.get("read_only"))
        self._generation = int(hello.get("generation", 0))

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
            home=str(hello.get("home", "")),
        )

    def blocks(self) -> list[dict[str, Any]]:
        return sorted(self._blocks.values(), key=lambda b: float(b["expires_at"]))

    async def events(self) -> AsyncIterator[list[Event]]:
        from arconsole.engine.control import decode_event_line
        from arconsole.engine.events import BlockChanged, ConfigLoaded

        while True:
            line = await self._reader.readline()
            if not line:
                return
            batch = [decode_event_line(line)]
            while len(batch) < 1000 and b"\n" in self._reader._buffer:  # type: ignore[attr-defined]
                batch.append(decode_event_line(await self._reader.readline()))
            for event in batch:
                if isinstance(event, BlockChanged):
                    key = str(event.block.get("key"))
                    if event.change == "reversed":
                        self._blocks.pop(key, None)
                    else:
                        self._blocks[key] = event.block
                elif isinstance(event, ConfigLoaded):
                    self._generation = event.generation
            yield batch

    @property
    def dropped_alerts(self) -> int:
        return 0

    async def _request(self, payload: dict[str, Any]) -> dict[str, Any]:
        from arconsole.engine.control import request

        if self._read_only and payload.get("op") not in ("list", "status"):
            raise PermissionError("arconsole is read-only: nothing can be changed")
        return await asyncio.to_thread(request, self.path, payload)

    async def reverse(self, keys: list[str], operator: str) -> list[dict[str, Any]]:
        answer = await self._request({"op": "reverse", "keys": keys,
                                      "command_line": f"console reverse {json.dumps(keys)}"})
        return list(answer.get("results", []))

    async def extend(self, key: str, seconds: int, operator: str) -> dict[str, Any]:
        answer = await self._request({"op": "extend", "key": key, "seconds": seconds,
                                      "command_line": f"console extend {key} {seconds}"})
        return dict(answer.get("results", [{}])[0])

    async def add(self, command: str, srcip: str, operator: str, *, timeout: int | None,
                  force: bool) -> dict[str, Any]:
        answer = await self._request({"op": "add", "command": command, "srcip": srcip,
                                      "timeout": timeout, "force": force,
                                      "command_line": f"console add {command} {srcip}"})
        return dict(answer.get("results", [{}])[0])

    async def reload(self) -> bool:
        return bool((await self._request({"op": "reload"})).get("ok"))

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()
