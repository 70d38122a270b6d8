"""The block book: every stateful response in force, its timer, its offender count, and the
one-key-at-a-time order in which it is added, refreshed and reversed.

execd's timeout list (spec 7.3 steps 9-10, 7.4, 7.5), persisted: a trigger either adds a block
(`continue`) or refreshes the one in force (`abort`); at expiry, or when an operator asks, the
stored delete runs. A failed add or delete stays visible as `failed`, never forgotten, and
a failed delete is tried again with backoff until it succeeds or an operator forgets the block.

Crashes (issue 11): a reply (`continue`, `abort`) is written right after the state file
commits what it says, and a delete's row leaves the file, committed, right before its message
is written to the script; nothing else runs in between. So a kill -9 falls on one side or the
other: before, the alert is read again and runs again (or the delete runs at restart); after,
the block stands (or is gone) as the script was told. Only the few statements between the
commit and the pipe write are left. An add killed there is marked: its block is stored with a
"reply pending" mark (pending_replies, same transaction), cleared once the `continue` is
written; restore.py settles a mark found at start (asks the script's `check`, re-applies a
missing rule once). A delete killed there is taken as done, its script having started with
nothing on stdin: the rule it should have removed stays. That is for JSON
scripts; an OSSEC argv script has its words at the spawn, on the spawner thread, so there a
kill in the moment around the spawn can still leave an add unapplied or run a delete twice.

A state file that cannot be written (StoreWriteError) is the engine's store fault
(`store_health`): no new block is added then, deletes still run, and nothing is left
`reversing`; recovery rewrites the state file from this book (`rewrite_store`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable

from arconsole.alerts.model import Alert
from arconsole.config.executables import PROGRAM_DIR
from arconsole.config.model import ActiveResponse
from arconsole.engine.context import EngineContext
from arconsole.engine.events import BlockChanged
from arconsole.engine.executor import ExecutableError
from arconsole.engine.messages import ExecdMessage
from arconsole.engine.model import ActionResult, Block, BlockState, Protocol
from arconsole.engine.offenders import escalate
from arconsole.engine.script_report import ScriptReporter, describe_failure
from arconsole.engine.store import StateStore, StoreWriteError
from arconsole.engine.timers import TimerTable
from arconsole.safetext import literal

DELETE_RETRY_FIRST_S = 2.0
DELETE_RETRY_LONGEST_S = 300.0
_TIMED = (BlockState.ACTIVE, BlockState.FAILED)  # the states whose blocks have a timer


class BlockBook:
    def __init__(self, context: EngineContext, reporter: ScriptReporter) -> None:
        self._context = context
        self._reporter = reporter
        self.blocks: dict[str, Block] = {}
        self.timers = TimerTable()
        self._offences: dict[str, int] = {}
        # (executable, alert id) of restored blocks: an alert re-read after a crash whose
        # block was already recorded is not run again.
        self.restored_triggers: set[tuple[str, str]] = set()
        self._key_busy: dict[str, asyncio.Event] = {}
        self._timers_changed = asyncio.Event()
        self._delete_attempts: dict[str, int] = {}  # failed deletes in a row, per key

    def _save(self, block: Block) -> None:
        """Store the block's row with this turn's commit; a refused write is the store fault."""
        try:
            self._context.writes.save_block(block)
        except StoreWriteError as error:
            self._context.health.failed(error)

    def _drop(self, key: str) -> None:
        try:
            self._context.writes.delete_block(key)
        except StoreWriteError as error:
            self._context.health.failed(error)

    def _write(self, write: Callable[[StateStore], None]) -> bool:
        """Write as part of this turn's transaction; a refused write is the store fault (told
        once, retried by store_health), never an exception out of the book."""
        try:
            with self._context.writes.writing() as store:
                write(store)
        except StoreWriteError as error:
            self._context.health.failed(error)
            return False
        return True

    # ------------------------------------------------------------------ triggers

    async def record_trigger(
        self, key: str, response: ActiveResponse, alert: Alert, srcip: str | None,
        message: ExecdMessage | bytes, protocol: Protocol, *, manual: bool = False,
    ) -> tuple[Block | None, str]:
        """execd's step 10: escalate, then refresh an active block (abort) or add one.

        The block's time starts now, when the add takes effect (our `continue` is about to be
        sent), not when the alert was read: a block lasts its whole timeout even when its
        script waited for a slot (execd starts it at the alert, and is 0-2 s late besides).
        """
        if key in self._key_busy and not await self.wait_key_free(key):
            return self.blocks.get(key), "abort"
        return self.apply_trigger(key, response, alert, srcip, message, protocol, manual=manual)

    def key_busy(self, key: str) -> bool:
        """The key is being reversed (or held): a trigger for it must wait."""
        return key in self._key_busy

    async def wait_key_free(self, key: str) -> bool:
        """A script waits on our answer while its key is being reversed; never forever:
        False (and told) when it is still busy after the time limit."""
        context = self._context
        try:
            await asyncio.wait_for(self.wait_key_idle(key), context.options.time_limit)
        except TimeoutError:
            context.notice("warning", f"{literal(key)}: still being reversed after "
                           f"{context.options.time_limit:.0f}s; this trigger was aborted")
            return False
        return True

    def apply_trigger(
        self, key: str, response: ActiveResponse, alert: Alert, srcip: str | None,
        message: ExecdMessage | bytes, protocol: Protocol, *, manual: bool = False,
    ) -> tuple[Block | None, str]:
        """`record_trigger` once its key is free (`key_busy` is False): nothing to wait for,
        so a dry run's backlog applies its triggers without a coroutine each."""
        context = self._context
        took_effect = context.clock.now()
        existing = self.blocks.get(key)
        live = False
        if existing is not None:
            if existing.alert_id == alert.alert_id and not manual:
                # The same alert again (re-read after a crash): already applied, change nothing.
                return existing, "abort"
            live = existing.state is BlockState.ACTIVE
        if not live and not context.health.ok:
            # A block the state file cannot hold would never be reversed: not added.
            context.health.refuse()
            return existing, "abort"
        if existing is not None and context.dry_run and not existing.dry_run:
            # A dry run never touches a block that was enforced for real.
            return existing, "abort"
        count = self._offences.get(key)
        if count is None:
            try:
                count = context.store.get_offences(key)
            except StoreWriteError as error:  # forgetting a decayed count failed: it has decayed
                context.health.failed(error)
        timeout = response.timeout
        new_count = count
        minutes = context.current_config.repeated_offenders
        # Legacy execd skips escalation for an absent srcip (spec 7.5, "Legacy").
        if minutes and not (protocol is Protocol.ARGV and not srcip):
            timeout, new_count = escalate(timeout, minutes, count)
        writes = context.writes
        try:
            if new_count is not None and new_count != count:
                writes.set_offences(key, new_count)
            if live:
                assert existing is not None
                block = existing.refreshed(took_effect, timeout, new_count or 0)
                change, reply = "refreshed", "abort"
                writes.refresh_block(block)  # its row exists: the changed columns
            else:
                block = self._write_added(key, response, alert, srcip, message, protocol,
                                          manual, took_effect, timeout, new_count or 0)
                change, reply = "added", "continue"
            if not manual:
                writes.add_trigger(block.executable, alert.alert_id)
        except StoreWriteError as error:
            context.health.failed(error)
            return existing, "abort"
        if new_count is not None:
            self._offences[key] = new_count
        self.blocks[key] = block
        self.schedule(block)
        if context.dry_run:
            if self._delete_attempts:
                self._delete_attempts.pop(key, None)
            self.publish(change, block)
            return block, reply
        # Never `continue` a block the state file does not hold; and committed here, not at
        # the end of the turn: the caller writes the reply as soon as this returns, so a kill
        # can hardly fall between the two; if one does, the block's pending mark says so.
        if not writes.commit_now() and change == "added":
            self.timers.cancel(key)
            if self.blocks.get(key) is block:
                del self.blocks[key]
            return None, "abort"
        self._delete_attempts.pop(key, None)
        # Told once the reply is written: nothing between the commit and the write.
        loop = asyncio.get_running_loop()
        loop.call_soon(self.publish, change, block)
        if change == "added" and protocol is Protocol.JSON:
            # The `continue` is written by then: its mark goes with the next commit.
            loop.call_soon(self._reply_written, key, took_effect)
        return block, reply

    def _reply_written(self, key: str, marked_at: float) -> None:
        self._write(lambda store: store.clear_reply_pending(key, marked_at))

    def _write_added(
        self, key: str, response: ActiveResponse, alert: Alert, srcip: str | None,
        message: ExecdMessage | bytes, protocol: Protocol, manual: bool, took_effect: float,
        timeout: int, offences: int,
    ) -> Block:
        """A new block, written with this turn's commit (StoreWriteError if it cannot be)."""
        context = self._context
        delete_message = (
            message.with_command("delete") if isinstance(message, ExecdMessage) else message
        )
        block = Block(
            key=key, command=response.command or "", name=response.name,
            executable=response.executable or "", protocol=protocol, target="server",
            srcip=srcip, user=alert.dstuser, started_at=took_effect, timeout=timeout,
            offences=offences, delete_message=delete_message,
            alert_id=alert.alert_id, rule_id=alert.rule_id, manual=manual,
            dry_run=context.dry_run,
        )
        with context.writes.writing() as store:
            context.writes.save_block(block)
            if protocol is Protocol.JSON and not context.dry_run:
                # In the block's own transaction: a kill after this commit and before
                # the `continue` reaches the script leaves the mark (restore.py).
                store.mark_reply_pending(key, took_effect)
        return block

    async def record_stateless(self, executable: str, alert: Alert) -> None:
        """Remember a stateless response as applied before its script is told `continue`, so
        an alert re-read after a crash does not run it twice. While the state file cannot be
        written the response still runs (stateless responses go on)."""
        context = self._context
        if not context.health.ok:
            return
        if not self._write(lambda _: context.writes.add_trigger(executable, alert.alert_id)):
            return
        # Committed now, the `continue` is written as soon as this returns (record_trigger);
        # a failure is told by the group commit, and the response still runs.
        context.writes.commit_now()

    def record_untracked(
        self, response: ActiveResponse, alert: Alert, srcip: str | None, message: ExecdMessage,
    ) -> Block:
        """A stateful script that printed no check_keys line: Wazuh never reverses such a
        run (7.3 step 8); we keep it visible (1.4 item 5)."""
        key = f"{response.executable}-untracked-{alert.alert_id}"
        block = Block(
            key=key, command=response.command or "", name=response.name,
            executable=response.executable or "", protocol=Protocol.JSON, target="server",
            srcip=srcip, user=alert.dstuser, started_at=self._context.clock.now(),
            timeout=response.timeout,
            offences=0, delete_message=message.with_command("delete"),
            state=BlockState.UNTRACKED, alert_id=alert.alert_id, rule_id=alert.rule_id,
        )
        self._save(block)
        self.blocks[key] = block
        self.publish("untracked", block)
        return block

    def mark_failed(self, key: str, error: str) -> Block:
        block = self.blocks[key].with_(state=BlockState.FAILED, last_error=error)
        self._save(block)
        self.blocks[key] = block
        self.publish("failed", block)
        return block

    def extend(self, key: str, seconds: int) -> Block:
        """Push an active block's end `seconds` later (callers checked it is active)."""
        extended = self.blocks[key].with_(timeout=self.blocks[key].timeout + seconds)
        self._save(extended)
        self.blocks[key] = extended
        self.schedule(extended)
        self.publish("extended", extended)
        return extended

    def restore(self, block: Block) -> None:
        """Take back a block read from the state file at start (the restore stage decides)."""
        self.blocks[block.key] = block
        if block.alert_id:
            self.restored_triggers.add((block.executable, block.alert_id))

    def forget_imagined(self, key: str) -> None:
        """Drop a dry run's block from the state file: never enforced, nothing to reverse."""
        self._drop(key)

    async def forget(self, key: str) -> ActionResult:
        """The operator's stop: drop a block without running its delete (a failed delete is
        retried until this). Whatever the firewall still holds stays there."""
        await self.wait_key_idle(key)
        block = self.blocks.pop(key, None)
        if block is None:
            return ActionResult(False, "forget", key, "no such block")
        self.timers.cancel(key)
        self._delete_attempts.pop(key, None)
        self._drop(key)
        self.publish("forgotten", block)
        if block.dry_run:  # imagined: it never held anything
            return ActionResult(True, "forget", key, f"forgotten ({block.state}, a dry run's "
                                "block: nothing was ever in force)", block)
        return ActionResult(True, "forget", key, f"forgotten ({block.state}); its delete was "
                            "not run: whatever it holds stays in force", block)

    def rewrite_store(self) -> None:
        """Make the state file hold exactly this book (after writes were lost to a store
        fault). One transaction, committed before returning; StoreWriteError if it fails."""
        self._context.writes.flush()  # whatever the turn holds is settled first
        store = self._context.store
        store.replace_blocks(list(self.blocks.values()), dict(self._offences))

    def publish(self, change: str, block: Block) -> None:
        context = self._context
        if context.bus.has_subscribers:  # built for someone, or not at all
            context.bus.publish(BlockChanged(context.clock.now(), change, block.to_json()))

    def sorted_by_expiry(self) -> list[Block]:
        # Ties (one clock tick, scripts answering in any order) by key: the same list each time.
        return sorted(self.blocks.values(), key=lambda b: (b.expires_at, b.key))

    # ------------------------------------------------------------------ timers

    def schedule(self, block: Block) -> None:
        # A block refreshed later (most triggers of a backlog) wakes nobody: the timer loop
        # finds its old entry moved on when that entry comes due.
        timeout = block.timeout
        if (timeout > 0 and block.state in _TIMED
                and self.timers.schedule(block.key, block.started_at + timeout)):
            self._timers_changed.set()

    async def timer_loop(self) -> None:
        """Reverse each block when its time comes; wakes early when the schedule changes."""
        clock = self._context.clock
        while True:
            self._timers_changed.clear()
            due = self.timers.next_due()
            now = clock.now()
            if due is None or due > now:
                wait = 3600.0 if due is None else due - now
                sleeper = asyncio.ensure_future(clock.sleep(wait))
                changed = asyncio.ensure_future(self._timers_changed.wait())
                try:
                    await asyncio.wait({sleeper, changed}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    sleeper.cancel()
                    changed.cancel()
                continue
            for key in self.timers.pop_due(now):
                block = self.blocks.get(key)
                failed = block is not None and block.state is BlockState.FAILED
                attempts = self._delete_attempts.get(key, 0)
                reason = f"retry {attempts + 1} of a failed delete" if failed and attempts \
                    else "expired"
                self._context.spawn(self.reverse(key, reason, when_due=True))

    # ------------------------------------------------------------------ reversal

    @contextlib.asynccontextmanager
    async def holding(self, key: str) -> AsyncIterator[None]:
        """Hold a key (nothing else adds, refreshes or reverses it) for a verification."""
        await self.wait_key_idle(key)
        busy = asyncio.Event()
        self._key_busy[key] = busy
        try:
            yield
        finally:
            del self._key_busy[key]
            busy.set()

    async def wait_key_idle(self, key: str) -> None:
        """One key runs in order: a trigger waits for that key's delete to finish."""
        busy = self._key_busy.get(key)
        while busy is not None:
            await busy.wait()
            busy = self._key_busy.get(key)

    async def reverse(self, key: str, reason: str, *, when_due: bool = False) -> ActionResult:
        """Run the stored delete for a block; a failure leaves it visible as failed.

        `when_due` (the timers): only if it is still due once the key is ours; a trigger may
        have refreshed it between the timer firing and now (then it has a later timer).
        """
        await self.wait_key_idle(key)
        block = self.blocks.get(key)
        if block is None:
            return ActionResult(False, "reverse", key, "no such block")
        if (when_due and block.state is BlockState.ACTIVE
                and not block.expired(self._context.clock.now())):
            return ActionResult(False, "reverse", key, "refreshed before it was reversed")
        busy = asyncio.Event()
        self._key_busy[key] = busy
        try:
            self.timers.cancel(key)
            block = block.with_(state=BlockState.REVERSING)
            self.blocks[key] = block
            # A state file that cannot take this is the store fault; the delete runs anyway.
            self._save(block)
            self.publish("reversing", block)
            try:
                ok, detail = await self._run_delete(block)
            except Exception as error:  # a bug: the block must not stay `reversing`
                ok, detail = False, f"internal error: {type(error).__name__}: {error}"
            if ok:
                self._drop(key)
                del self.blocks[key]
                self._delete_attempts.pop(key, None)
                done = block.with_(state=BlockState.REVERSED)
                self.publish("reversed", done)
                return ActionResult(True, "reverse", key, f"{detail} ({reason})", done)
            failed = self.mark_failed(key, detail)
            self._retry_later(key)
            return ActionResult(False, "reverse", key, detail, failed)
        finally:
            del self._key_busy[key]
            busy.set()

    def _retry_later(self, key: str) -> None:
        """Try a failed delete again: 2 s, 4 s, 8 s... at most every 5 minutes."""
        if self._context.dry_run:
            return  # a dry run never reverses a real block: nothing to retry
        attempts = self._delete_attempts.get(key, 0) + 1
        self._delete_attempts[key] = attempts
        delay = min(DELETE_RETRY_FIRST_S * 2 ** (attempts - 1), DELETE_RETRY_LONGEST_S)
        self.timers.schedule(key, self._context.clock.now() + delay)
        self._timers_changed.set()

    async def _run_delete(self, block: Block) -> tuple[bool, str]:
        context = self._context
        program = f"{PROGRAM_DIR}/{block.executable}"
        if block.dry_run:
            return True, f"dry-run: would run {program} delete"
        if context.dry_run:
            return False, f"dry-run: {program} delete not run; the real block is left in place"
        key = block.key

        def handed_over() -> None:
            # The script is about to get the delete: its row leaves the state file first,
            # committed, so a restart after a crash from here on takes the block as reversed
            # instead of running the delete again. (A failure puts the row back, `failed`.)
            self._drop(key)
            context.writes.commit_now()

        try:
            if block.protocol is Protocol.ARGV:
                words = json.loads(block.delete_message)
                result = await context.executor.run_argv(
                    block.executable, words, delete=True, on_started=handed_over,
                )
                action = "argv-delete"
                what_ran = f"{program} {' '.join(words)}"
            else:
                result = await context.executor.run_json_delete(
                    block.executable, block.delete_message, on_started=handed_over,
                )
                action = "delete"
                what_ran = f"{program} with the stored delete message on stdin"
        except ExecutableError as error:
            return False, f"{program}: {error}"
        self._reporter.ran(action, result, block.key, None)
        if result.ok:
            return True, f"ran {what_ran}: exit 0"
        return False, f"ran {what_ran}: {describe_failure(result)}"
