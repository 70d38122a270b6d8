"""Group commit: the state-file writes of one event-loop turn share one SQLite transaction.

A burst of bans used to cost three commits each (offences, block, read position). Now the
first write of a turn opens a transaction, the end of the turn commits it, and whoever must
not go on before its write is safe (a `continue` is only sent once its block is stored)
awaits `durable()`, which resolves after that commit. Block rows, offender counts and
applied triggers are written behind, at the commit: a key refreshed a hundred times in one
turn (a backlog, a flood) is written once, as it ends up, and a turn's triggers go in one
statement. A refresh of a stored block writes only the columns a refresh changes (not its
~1.4 KB delete message). A write that fails then fails the whole turn, as one failed
statement did.

A reply to a script (`continue`, `abort`) and a delete handed to its script use `commit_now()`
instead: committed, then written at once, with no turn of the loop in between where a kill
would leave the state file saying one thing and the script knowing another (issue 11).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from arconsole.engine.model import Block
from arconsole.engine.store import StateStore
from arconsole.engine.store_errors import StoreWriteError


class GroupCommit:
    def __init__(
        self, store: Callable[[], StateStore], on_error: Callable[[str], None],
        now: Callable[[], float],
    ) -> None:
        self._store = store
        self._on_error = on_error
        self._now = now  # when an offender count was set (its decay starts then)
        self._open: contextlib.AbstractContextManager[None] | None = None
        self._committed: asyncio.Future[None] | None = None
        self._blocks: dict[str, Block | None] = {}  # key -> row to write, None to delete
        # key -> a refreshed block whose row exists: only the refresh's columns are written
        self._refreshes: dict[str, Block] = {}
        self._offences: dict[str, tuple[int, float]] = {}  # key -> (count, set at)
        self._triggers: list[tuple[str, str]] = []  # (executable, alert id), in order
        self._writing = _Writing(self)  # a plain class: a generator context costs ~1 us a use

    def writing(self) -> contextlib.AbstractContextManager[StateStore]:
        """Write as part of this turn's transaction (opened on first use)."""
        return self._writing

    def begin(self) -> None:
        """Open this turn's transaction unless it is open: it commits at the end of the turn."""
        if self._open is None:
            transaction = self._store().transaction()
            transaction.__enter__()
            self._open = transaction
            loop = asyncio.get_running_loop()
            self._committed = loop.create_future()
            loop.call_soon(self.flush)

    def save_block(self, block: Block) -> None:
        if self._open is None:
            self.begin()
        self._blocks[block.key] = block
        if self._refreshes:
            self._refreshes.pop(block.key, None)

    def refresh_block(self, block: Block) -> None:
        """`save_block` for a refresh of a stored block (`Block.refreshed`): only its start,
        timeout, offender count and restored flag are written, not the whole row; a row
        that turns out missing at the commit is written whole."""
        if self._open is None:
            self.begin()
        key = block.key
        if key in self._blocks:  # written whole this turn already: stays whole
            self._blocks[key] = block
        else:
            self._refreshes[key] = block

    def delete_block(self, key: str) -> None:
        if self._open is None:
            self.begin()
        self._blocks[key] = None
        if self._refreshes:
            self._refreshes.pop(key, None)

    def set_offences(self, key: str, count: int) -> None:
        if self._open is None:
            self.begin()
        self._offences[key] = (count, self._now())

    def add_trigger(self, executable: str, alert_id: str) -> None:
        """Remember that this alert's response was applied (see StateStore.add_triggers)."""
        if self._open is None:
            self.begin()
        self._triggers.append((executable, alert_id))

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
        refreshes, self._refreshes = self._refreshes, {}
        offences, self._offences = self._offences, {}
        triggers, self._triggers = self._triggers, []
        try:
            store = self._store()
            try:
                if offences:
                    store.set_offences_many(
                        [(key, count, at) for key, (count, at) in offences.items()]
                    )
                if triggers:
                    store.add_triggers(triggers)
                # One row per key: the order between keys does not matter.
                gone = [key for key, block in rows.items() if block is None]
                if gone:
                    store.delete_blocks(gone)
                kept = [block for block in rows.values() if block is not None]
                if kept:
                    store.save_blocks(kept)
                if refreshes:
                    refreshed = list(refreshes.values())
                    if store.refresh_blocks(refreshed) != len(refreshed):
                        store.save_blocks(refreshed)  # a row was missing: write them whole
            except Exception as failure:  # rolled back whole, never left open
                if not transaction.__exit__(type(failure), failure, failure.__traceback__):
                    raise
            else:
                transaction.__exit__(None, None, None)
        except Exception as error:
            self._on_error(failure_text(error))
            if not committed.done():
                committed.set_exception(error)
                committed.exception()  # retrieved here: waiters get it, nobody else must
            return
        if not committed.done():
            committed.set_result(None)


class _Writing:
    """`GroupCommit.writing()`: opens the turn's transaction on entry; leaving changes nothing
    (the end of the turn commits), and an exception inside goes on to the caller."""

    __slots__ = ("_commit",)

    def __init__(self, commit: GroupCommit) -> None:
        self._commit = commit

    def __enter__(self) -> StateStore:
        commit = self._commit
        if commit._open is None:
            commit.begin()
        return commit._store()

    def __exit__(self, *exc: object) -> None:
        return None


def failure_text(error: BaseException) -> str:
    """One line for the store fault, its cause first: a banner wraps a long path, and "disk
    full" must not be what the wrap pushes out of sight."""
    if isinstance(error, StoreWriteError):
        return f"state file write failed ({error.reason}): {error.detail}; file {error.path}"
    return f"state file write failed: {type(error).__name__}: {error}"
