"""One front end on several engines: `arconsole --attach SOCKET --attach SOCKET ...`.

One engine runs per manager or cluster node (each delivers through its own node's queue);
the console attaches to all of them through a `MultiLink`, an `EngineLink` that merges their
blocks and event streams. Every block carries its `node`, and its key is written
`NODE/key` so that two nodes' blocks never collide; an action is split by node and each part
goes to its own engine with the node's own key.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec

from arconsole.engine.events import AlertHandled, BlockChanged, Event
from arconsole.engine.link import BlockInfo, LinkStatus, Outcome, SocketLink

NODE_SEPARATOR = "/"


def node_key(node: str, key: str) -> str:
    return f"{node}{NODE_SEPARATOR}{key}"


class MultiLink:
    def __init__(self, links: Sequence[SocketLink]) -> None:
        self.links: dict[str, SocketLink] = {}
        for link in links:
            name, n = link.node, 2
            while name in self.links:  # two sockets of the same name: keep both
                name, n = f"{link.node}#{n}", n + 1
            self.links[name] = link

    @property
    def status(self) -> LinkStatus:
        states = [link.status for link in self.links.values()]
        pairs = list(zip(self.links, states, strict=True))
        modes = sorted({s.mode for s in states})
        return LinkStatus(
            attached=True, mode="/".join(modes), read_only=any(s.read_only for s in states),
            generation=max(s.generation for s in states),
            config=", ".join(f"{node}: {s.config}" for node, s in zip(self.links, states,
                                                                        strict=True)),
            home=states[0].home,
            # Each node's store fault, said with its node; the earliest start of them.
            store_fault="; ".join(f"{node}: {s.store_fault}" for node, s in pairs
                                  if s.store_fault is not None) or None,
            store_fault_since=min((s.store_fault_since for _, s in pairs
                                   if s.store_fault_since is not None), default=None),
            store_warnings=tuple(f"{node}: {warning}" for node, s in pairs
                                 for warning in s.store_warnings),
            # Said delivered only when every node delivers.
            agent_transport=all(s.agent_transport for s in states),
        )

    @staticmethod
    def _tag(node: str, block: BlockInfo) -> BlockInfo:
        return msgspec.structs.replace(block, key=node_key(node, block.key), node=node)

    def blocks(self) -> list[BlockInfo]:
        return [self._tag(node, block) for node, link in self.links.items()
                for block in link.blocks()]

    def counts(self) -> dict[str, int]:
        """Blocks per node (server and fleet rows), for the header."""
        return {node: len(link.blocks()) for node, link in self.links.items()}

    async def events(self) -> AsyncIterator[list[Event]]:
        queue: asyncio.Queue[list[Event] | None] = asyncio.Queue(maxsize=64)

        async def pump(node: str, link: SocketLink) -> None:
            try:
                async for batch in link.events():
                    await queue.put([self._tag_event(node, e) for e in batch])
            finally:
                await queue.put(None)

        tasks = [asyncio.ensure_future(pump(node, link)) for node, link in self.links.items()]
        running = len(tasks)
        try:
            while running:
                batch = await queue.get()
                if batch is None:
                    running -= 1
                    continue
                yield batch
        finally:
            for task in tasks:
                task.cancel()

    @staticmethod
    def _tag_event(node: str, event: Event) -> Event:
        if isinstance(event, AlertHandled):  # so `b` on an alert offers the node that read it
            return dataclasses.replace(event, node=node)
        if not isinstance(event, BlockChanged):
            return event
        block: dict[str, Any] = {**event.block, "node": node,
                                 "key": node_key(node, str(event.block.get("key", "")))}
        return dataclasses.replace(event, block=block)

    @property
    def dropped_alerts(self) -> int:
        return 0

    def _split(self, key: str) -> tuple[str, SocketLink | None, str]:
        node, separator, own = key.partition(NODE_SEPARATOR)
        link = self.links.get(node) if separator else None
        return node, link, own

    def _unknown(self, action: str, key: str) -> Outcome:
        return Outcome(ok=False, action=action, target=key,
                       detail="no attached node owns this block")

    def _retag(self, node: str, outcome: Outcome) -> Outcome:
        block = self._tag(node, outcome.block) if outcome.block is not None else None
        return msgspec.structs.replace(outcome, target=node_key(node, outcome.target),
                                       block=block)

    async def reverse(self, keys: list[str], operator: str) -> list[Outcome]:
        by_node: dict[str, list[str]] = {}
        outcomes: list[Outcome] = []
        for key in keys:
            node, link, own = self._split(key)
            if link is None:
                outcomes.append(self._unknown("reverse", key))
            else:
                by_node.setdefault(node, []).append(own)
        for node, own_keys in by_node.items():
            done = await self.links[node].reverse(own_keys, operator)
            outcomes.extend(self._retag(node, outcome) for outcome in done)
        return outcomes

    async def extend(self, key: str, seconds: int, operator: str) -> Outcome:
        node, link, own = self._split(key)
        if link is None:
            return self._unknown("extend", key)
        return self._retag(node, await link.extend(own, seconds, operator))

    async def add(self, command: str, srcip: str, operator: str, *, timeout: int | None,
                  force: bool, node: str | None = None) -> Outcome:
        """A block by hand on `node`, the engine the operator chose: with several attached
        there is no right default, so without a node (or with an unknown one) nothing runs."""
        link = self.links.get(node) if node is not None else None
        if link is None or node is None:
            detail = (f"no attached node is called {node!r}" if node is not None else
                      "several nodes are attached: say which one blocks it")
            return Outcome(ok=False, action="add", target=srcip, detail=detail)
        outcome = await link.add(command, srcip, operator, timeout=timeout, force=force)
        return self._retag(node, outcome)

    async def reload(self) -> bool:
        results = [await link.reload() for link in self.links.values()]
        return all(results)

    async def close(self) -> None:
        for link in self.links.values():
            with contextlib.suppress(Exception):
                await link.close()
