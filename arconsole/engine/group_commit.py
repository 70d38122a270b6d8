"""Group commit: the state-file writes of one event-loop turn share one SQLite transaction.

A burst of bans used to cost three commits each (offences, block, read position). Now the
first write of a turn opens a transaction, the end of the turn commits it, and whoever must
not go on before its write is safe awaits `durable()`, which resolves after that commit.
Block rows are written behind: a key refreshed a hundred times in one turn (a backlog, a
flood) is written once, as it ends up.

A reply to a script (`continue`, `abort`) and a delete handed to its script use `commit_now()`
instead: committed, then written at once, with no turn of the loop in between where a kill
would leave the state file saying one thing and the script knowing another (issue 11).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator

from arconsole.engine.model import Block
from arconsole.engine.store import StateStore


class GroupCommit:
    def __init__(self, store: Callable[[], StateStore], on_error: Callable[[str], None]) -> None:
        self._store = store
        self._on_error = on_error
        self._open: contextlib.AbstractContextManager[None] | None = None
        self._committed: asyncio.Future[None] | None = None
        self._blocks: dict[str, Block | None] = {}  # key -> row to write, None to delete

    @contextlib.contextmanager
    def writing(self) -> Iterator[StateStore]:
        """Write as part of this turn's transaction (opened on first use)."""
        if self._open is None:
            transaction = self._store().transaction()
            transaction.__enter__()
            self._open = transaction
            loop = asyncio.get_running_loop()
            self._committed = loop.create_future()
            loop.call_soon(self.flush)
        yield self._store()

    def save_block(self, block: Block) -> None:
        with self.writing():
            self._blocks[block.key] = block

    def delete_block(self, key: str) -> None:
        with self.writing():
            self._blocks[key] = None

    async def durable(self) -> None:
        """Wait until what was written so far this turn is committed (raises if it was not)."""
        if self._committed is not None:
            await asyncio.shield(self._committed)

    def commit_now(self) -> bool:
        """Commit this turn's writes now, before the caller goes on (a reply that must not be
        sent before its row is safe, with nothing run in between); False if that failed."""
        committed = self._committed
        self.flush()
        return committed is None or (committed.done() and committed.exception() is None)

    def flush(self) -> None:
        """Commit now (end of the turn, or before the store closes)."""
        transaction, committed = self._open, self._committed
        if transaction is None or committed is None:
            return
        self._open = self._committed = None
        rows, self._blocks = self._blocks, {}
        try:
            store = self._store()
            try:
                for key, block in rows.items():
                    if block is None:
                        store.delete_block(key)
                    else:
                        store.save_block(block)
            except Exception as failure:  # rolled back whole, never left open
                if not transaction.__exit__(type(failure), failure, failure.__traceback__):
                    raise
            else:
                transaction.__exit__(None, None, None)
        except Exception as error:
            self._on_error(f"state file write failed: {type(error).__name__}: {error}")
            if not committed.done():
                committed.set_exception(error)
                committed.exception()  # retrieved here: waiters get it, nobody else must
            return
        if not committed.done():
            committed.set_result(None)
