"""Dispatch: run one fired response on the server the way its protocol says.

JSON (Wazuh >= 4.2, spec 7.3): the execd message on stdin, the script's `check_keys` line
answered `continue` or `abort` by the block book, the outcome kept as a typed `Handshake`.
argv (OSSEC, spec 9): the words on the command line, dedupe on path + srcip, no handshake.
A dry run decides the same way and runs nothing.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from dataclasses import dataclass

from arconsole import stagetrace
from arconsole.addresses import strip_mapped
from arconsole.alerts.model import Alert
from arconsole.config.executables import PROGRAM_DIR
from arconsole.config.model import ActiveResponse, Flavour
from arconsole.engine.blockbook import BlockBook
from arconsole.engine.context import EngineContext
from arconsole.engine.executor import ExecutableError
from arconsole.engine.handshake import block_key, parse_check_keys
from arconsole.engine.messages import ExecdMessage, argv_words
from arconsole.engine.model import Block, BlockState, Protocol
from arconsole.engine.script_report import ScriptReporter, describe_failure
from arconsole.stagetrace import Stages


@dataclass(slots=True)
class Handshake:
    """What a JSON run's handshake came to: the key the script named, our reply, the block."""

    key: str | None = None
    reply: str | None = None
    block: Block | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """A dispatched response: the block it left (if any) and one line saying what happened."""

    block: Block | None
    text: str
    ran: bool  # a script was started (False for dry runs and refusals)


_KEYS_KEPT = 4096  # dry-run block keys remembered (forgotten all at once past that)


class Dispatcher:
    def __init__(self, context: EngineContext, book: BlockBook, reporter: ScriptReporter) -> None:
        self._context = context
        self._book = book
        self._reporter = reporter
        self._keys: dict[tuple[str, str | None], str] = {}  # (program, key value) -> block key

    def dispatch(self, response: ActiveResponse, alert: Alert) -> Awaitable[None]:
        """An alert's response for the server (the intake stage calls this as the response
        fires, and awaits what it returns)."""
        return self._dispatch(
            response, alert, stagetrace.begin(alert.alert_id) if stagetrace.ENABLED else None
        )

    async def _dispatch(
        self, response: ActiveResponse, alert: Alert, stages: Stages | None
    ) -> None:
        if not self._passed_over(response, alert):
            await self.run(response, alert, stages=stages)

    def imagine_now(self, response: ActiveResponse, alert: Alert) -> bool:
        """`dispatch` for a dry run of a JSON response, done at once, without a coroutine:
        most of a backlog's responses. False, with nothing done, when it must be awaited
        instead (not a JSON dry run, or its key is being reversed)."""
        context = self._context
        if not context.dry_run or context.current_config.flavour is Flavour.OSSEC:
            return False
        if self._passed_over(response, alert):
            return True
        executable = response.executable
        assert executable is not None
        srcip = strip_mapped(alert.srcip) if alert.srcip else None
        key, busy = self._dry_key(response, executable, srcip, alert)
        if busy:
            return False
        self._imagine_json(response, alert, srcip, key, manual=False)
        return True

    def _dry_key(
        self, response: ActiveResponse, executable: str, srcip: str | None, alert: Alert
    ) -> tuple[str, bool]:
        """A dry run's block key, keyed as the stock scripts key (srcip, else the user), and
        whether its trigger must wait: a stateful response whose key is being reversed."""
        key_value = srcip or alert.dstuser
        key = self._keys.get((executable, key_value))
        if key is None:  # a backlog repeats its offenders: their keys are made once
            if len(self._keys) >= _KEYS_KEPT:
                self._keys.clear()
            key = block_key(executable, [key_value] if key_value else [])
            self._keys[executable, key_value] = key
        return key, bool(response.timeout != 0 and key_value and self._book.key_busy(key))

    def _passed_over(self, response: ActiveResponse, alert: Alert) -> bool:
        """A response dispatch does not run: no program, applied before a crash, or a block
        the state file cannot record now (the script is not even started)."""
        if response.executable is None:
            return True
        if (response.executable, alert.alert_id) in self._book.restored_triggers:
            # Re-read after a crash, and already applied (recorded): applied once only.
            return True
        if response.timeout != 0 and not self._context.health.ok:
            self._context.health.refuse()
            return True
        return False

    async def run(
        self, response: ActiveResponse, alert: Alert, *, manual: bool = False,
        stages: Stages | None = None,
    ) -> Outcome:
        if self._context.current_config.flavour is Flavour.OSSEC:
            return await self._run_argv(response, alert, manual=manual, stages=stages)
        return await self._run_json(response, alert, manual=manual, stages=stages)

    async def _run_json(
        self, response: ActiveResponse, alert: Alert, *, manual: bool,
        stages: Stages | None = None,
    ) -> Outcome:
        """Run one response the way execd does (spec 7.3)."""
        context = self._context
        executable = response.executable
        assert executable is not None
        srcip = strip_mapped(alert.srcip) if alert.srcip else None
        if context.dry_run:
            key, busy = self._dry_key(response, executable, srcip, alert)
            free = not busy or await self._book.wait_key_free(key)
            block, reply = self._imagine_json(response, alert, srcip, key, manual=manual,
                                              key_free=free)
            if reply is None:
                return Outcome(None, f"would run {PROGRAM_DIR}/{executable} add; the alert "
                               "has no srcip or user to key a block on", ran=False)
            return Outcome(block, f"would run {PROGRAM_DIR}/{executable} add (dry-run): "
                           f"{reply}", ran=False)
        message = ExecdMessage.build(
            node_name=context.current_config.node_name, extra_args=response.extra_args,
            alert_raw=alert.raw, executable=executable,
        )
        handshake = Handshake()

        async def answer(keys: list[str] | None) -> str:
            handshake.key = block_key(executable, keys)
            if response.timeout == 0:
                if not manual:  # (a dry run was imagined above)
                    await self._book.record_stateless(executable, alert)
                return "continue"  # stateless: no list, no dedupe (7.3 step 11)
            handshake.block, reply = await self._book.record_trigger(
                handshake.key, response, alert, srcip, message, Protocol.JSON, manual=manual,
            )
            return reply

        async def on_first_line(line: bytes | None) -> bytes | None:
            if line is None:
                return None
            handshake.reply = await answer(parse_check_keys(line))
            return message.with_command(handshake.reply)

        try:
            result = await context.executor.run_json(
                executable, message.with_command("add"), on_first_line, stages=stages
            )
        except ExecutableError as error:
            context.notice("error", f"{response.name}: {error}")
            self._reporter.not_run("add", executable, None, None, error=str(error))
            return Outcome(None, f"not run: {error}", ran=False)
        self._reporter.ran("add", result, handshake.key, handshake.reply)
        block = handshake.block
        if (
            result.first_line is None and response.timeout != 0 and result.error is None
            and not result.timed_out
        ):
            block = self._book.record_untracked(response, alert, srcip, message)
            context.notice(
                "warning",
                f"{response.name}: stateful script {PROGRAM_DIR}/{executable} printed no "
                "check_keys line; the block is untracked and will not be reversed",
            )
        elif block is not None and handshake.reply == "continue" and not result.ok:
            block = self._book.mark_failed(block.key, describe_failure(result))
        text = f"{handshake.reply or 'no reply'}; exit {result.returncode}" + (
            " (timed out)" if result.timed_out else ""
        )
        return Outcome(block, text, ran=True)

    def _imagine_json(
        self, response: ActiveResponse, alert: Alert, srcip: str | None, key: str, *,
        manual: bool, key_free: bool = True,
    ) -> tuple[Block | None, str | None]:
        """A dry run: the handshake the stock scripts would make (they key on srcip, else
        the user, `key` being that block key), recorded as an imagined block; nothing runs.
        (The block, and the reply the script would get.) Without a key no block is imagined:
        a stock script would refuse such an alert (reply None). `key_free`: False when the
        key was still being reversed after the time limit (the trigger is aborted)."""
        executable = response.executable
        assert executable is not None
        if response.timeout == 0:  # stateless: no list, no dedupe (7.3 step 11)
            block, reply = None, "continue"
        elif not (srcip or alert.dstuser):
            self._reporter.not_run("add", executable, None, None, dry=True)
            return None, None
        elif not key_free:
            block, reply = self._book.blocks.get(key), "abort"
        else:
            message = ExecdMessage(self._context.current_config.node_name,
                                   response.extra_args, alert.raw, executable)
            block, reply = self._book.apply_trigger(key, response, alert, srcip, message,
                                                    Protocol.JSON, manual=manual)
        self._reporter.not_run("add", executable, key, reply, dry=True)
        return block, reply

    async def _run_argv(
        self, response: ActiveResponse, alert: Alert, *, manual: bool,
        stages: Stages | None = None,
    ) -> Outcome:
        """OSSEC's argv protocol (spec 9): dedupe on path + srcip, no handshake.

        As OSSEC's OS_Exec, the user and the address are passed only when the command
        expects them (`-` otherwise), so nothing unchecked reaches argv.
        """
        context = self._context
        executable = response.executable
        assert executable is not None
        definition = context.current_config.command(response.command or "")
        expect = definition.expect if definition else ("srcip",)
        wanted = "srcip" in expect or manual
        srcip = strip_mapped(alert.srcip) if wanted and alert.srcip else None
        user = alert.dstuser if {"user", "username"} & set(expect) else None
        words = argv_words("add", alert, srcip, user)
        key = f"{context.options.home / PROGRAM_DIR / executable}{srcip or '-'}"
        block: Block | None = None
        if context.dry_run and not srcip:
            self._reporter.not_run("argv-add", executable, None, None, dry=True)
            return Outcome(None, f"would run {PROGRAM_DIR}/{executable} add; the alert has no "
                           "srcip to key a block on", ran=False)
        if response.timeout != 0:
            delete_words = ["delete", *words[1:]]
            block, reply = await self._book.record_trigger(
                key, response, alert, srcip, json.dumps(delete_words).encode(), Protocol.ARGV,
                manual=manual,
            )
            if reply == "abort":
                self._reporter.not_run("argv-add", executable, key, "abort")
                return Outcome(block, "already blocked: start time reset", ran=False)
        if context.dry_run:
            self._reporter.not_run("argv-add", executable, key, None, dry=True)
            return Outcome(block, f"would run {PROGRAM_DIR}/{executable} add (dry-run)",
                           ran=False)
        try:
            result = await context.executor.run_argv(executable, words, stages=stages)
        except ExecutableError as error:
            context.notice("error", f"{response.name}: {error}")
            return Outcome(block, f"not run: {error}", ran=False)
        self._reporter.ran("argv-add", result, key, None)
        if response.timeout != 0 and not result.ok and key in self._book.blocks:
            block = self._book.mark_failed(key, describe_failure(result))
        text = f"exit {result.returncode}" + (" (timed out)" if result.timed_out else "")
        return Outcome(block, text, ran=True)


def took_effect(outcome: Outcome, stateless: bool) -> bool:
    """An operator's add succeeded: its block is in force, or its stateless run exited 0."""
    if outcome.block is not None:
        return outcome.block.state is BlockState.ACTIVE
    return stateless and outcome.ran and "exit 0" in outcome.text
