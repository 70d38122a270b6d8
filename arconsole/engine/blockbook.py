"""The block book: every stateful response in force, its timer, its offender count, and the
one-key-at-a-time order in which it is added, refreshed and reversed.

execd's timeout list (spec 7.3 steps 9-10, 7.4, 7.5), persisted: a trigger either adds a block
(`continue`) or refreshes the one in force (`abort`); at expiry, or when an operator asks, the
stored delete runs. A failed add or delete stays visible as `failed`, never forgotten.
"""

from __future__ import annotations

import asyncio
import json

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
from arconsole.engine.timers import TimerTable
from arconsole.safetext import literal


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
        context = self._context
        try:
            # A script waits on our answer while its key is being reversed; never forever.
            if key in self._key_busy:
                await asyncio.wait_for(self.wait_key_idle(key), context.options.time_limit)
        except TimeoutError:
            context.notice("warning", f"{literal(key)}: still being reversed after "
                           f"{context.options.time_limit:.0f}s; this trigger was aborted")
            return self.blocks.get(key), "abort"
        config = context.current_config
        store = context.store
        writes = context.writes
        took_effect = context.clock.now()
        timeout = response.timeout
        existing = self.blocks.get(key)
        if existing is not None and existing.alert_id == alert.alert_id and not manual:
            # The same alert again (re-read after a crash): already applied, change nothing.
            return existing, "abort"
        if existing is not None and context.dry_run and not existing.dry_run:
            # A dry run never touches a block that was enforced for real.
            return existing, "abort"
        count = self._offences[key] if key in self._offences else store.get_offences(key)
        # Legacy execd skips escalation for an absent srcip (spec 7.5, "Legacy").
        escalates = bool(config.repeated_offenders) and not (
            protocol is Protocol.ARGV and not srcip
        )
        new_count = count
        if escalates:
            timeout, new_count = escalate(timeout, config.repeated_offenders, count)
        live = existing is not None and existing.state is BlockState.ACTIVE
        with writes.writing():
            if new_count is not None and new_count != count:
                store.set_offences(key, new_count)
            if live and existing is not None:
                block = existing.with_(
                    started_at=took_effect, timeout=timeout,
                    offences=new_count or 0, restored=False,
                )
                change, reply = "refreshed", "abort"
            else:
                delete_message = (
                    message.with_command("delete") if isinstance(message, ExecdMessage)
                    else message
                )
                block = Block(
                    key=key, command=response.command or "", name=response.name,
                    executable=response.executable or "", protocol=protocol, target="server",
                    srcip=srcip, user=alert.dstuser, started_at=took_effect, timeout=timeout,
                    offences=new_count or 0, delete_message=delete_message,
                    alert_id=alert.alert_id, rule_id=alert.rule_id, manual=manual,
                    dry_run=context.dry_run,
                )
                change, reply = "added", "continue"
            writes.save_block(block)
        if new_count is not None:
            self._offences[key] = new_count
        self.blocks[key] = block
        self.schedule(block)
        try:
            if not context.dry_run:  # never `continue` a block the state file does not hold
                await writes.durable()
        except Exception:
            if change == "added":
                self.timers.cancel(key)
                del self.blocks[key]
                return None, "abort"
        self.publish(change, block)
        return block, reply

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
        self._context.writes.save_block(block)
        self.blocks[key] = block
        self.publish("untracked", block)
        return block

    def mark_failed(self, key: str, error: str) -> Block:
        block = self.blocks[key].with_(state=BlockState.FAILED, last_error=error)
        self._context.writes.save_block(block)
        self.blocks[key] = block
        self.publish("failed", block)
        return block

    def extend(self, key: str, seconds: int) -> Block:
        """Push an active block's end `seconds` later (callers checked it is active)."""
        extended = self.blocks[key].with_(timeout=self.blocks[key].timeout + seconds)
        self._context.writes.save_block(extended)
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
        self._context.writes.delete_block(key)

    def publish(self, change: str, block: Block) -> None:
        context = self._context
        context.bus.publish(BlockChanged(at=context.clock.now(), change=change,
                                         block=block.to_json()))

    def sorted_by_expiry(self) -> list[Block]:
        return sorted(self.blocks.values(), key=lambda b: b.expires_at)

    # ------------------------------------------------------------------ timers

    def schedule(self, block: Block) -> None:
        if block.state in (BlockState.ACTIVE, BlockState.FAILED) and block.timeout > 0:
            self.timers.schedule(block.key, block.expires_at)
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
                self._context.spawn(self.reverse(key, "expired"))

    # ------------------------------------------------------------------ reversal

    async def wait_key_idle(self, key: str) -> None:
        """One key runs in order: a trigger waits for that key's delete to finish."""
        busy = self._key_busy.get(key)
        while busy is not None:
            await busy.wait()
            busy = self._key_busy.get(key)

    async def reverse(self, key: str, reason: str) -> ActionResult:
        """Run the stored delete for a block; a failure leaves it visible as failed."""
        await self.wait_key_idle(key)
        block = self.blocks.get(key)
        if block is None:
            return ActionResult(False, "reverse", key, "no such block")
        busy = asyncio.Event()
        self._key_busy[key] = busy
        writes = self._context.writes
        try:
            self.timers.cancel(key)
            block = block.with_(state=BlockState.REVERSING)
            self.blocks[key] = block
            writes.save_block(block)
            self.publish("reversing", block)
            ok, detail = await self._run_delete(block)
            if ok:
                writes.delete_block(key)
                del self.blocks[key]
                done = block.with_(state=BlockState.REVERSED)
                self.publish("reversed", done)
                return ActionResult(True, "reverse", key, f"{detail} ({reason})", done)
            failed = self.mark_failed(key, detail)
            return ActionResult(False, "reverse", key, detail, failed)
        finally:
            del self._key_busy[key]
            busy.set()

    async def _run_delete(self, block: Block) -> tuple[bool, str]:
        context = self._context
        program = f"{PROGRAM_DIR}/{block.executable}"
        if block.dry_run:
            return True, f"dry-run: would run {program} delete"
        if context.dry_run:
            return False, f"dry-run: {program} delete not run; the real block is left in place"
        try:
            if block.protocol is Protocol.ARGV:
                words = json.loads(block.delete_message)
                result = await context.executor.run_argv(block.executable, words, delete=True)
                action = "argv-delete"
                what_ran = f"{program} {' '.join(words)}"
            else:
                result = await context.executor.run_json_delete(
                    block.executable, block.delete_message
                )
                action = "delete"
                what_ran = f"{program} with the stored delete message on stdin"
        except ExecutableError as error:
            return False, f"{program}: {error}"
        self._reporter.ran(action, result, block.key, None)
        if result.ok:
            return True, f"ran {what_ran}: exit 0"
        return False, f"ran {what_ran}: {describe_failure(result)}"
