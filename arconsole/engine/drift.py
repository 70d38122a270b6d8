"""Drift: a block the engine shows as active whose rule was removed behind its back
(`iptables -F`, a reboot without restore). With `--verify-interval SECONDS` the engine asks
the stock firewall scripts, every so often, whether each block is still in force (their
`check` command, see `arconsole/scripts/protocol.py`: exit 0 in force, 3 missing); a missing
one is re-applied once (the stored message as an `add`, its handshake answered `continue`),
logged, and marked `drift repaired` on the block's events for the console.

Only the stock scripts that answer `check` are asked; any other answer (an error, a script
without `check`) changes nothing and is told once per block. A custom script that answers
`check` the same way says so with a line holding CHECK_DECLARATION (`# arconsole: answers
check`) in its first 4 KB; restore.py then asks it too about a block whose `continue` may not
have reached it (a kill in between).
"""

from __future__ import annotations

import asyncio

from arconsole.config.executables import PROGRAM_DIR
from arconsole.engine.blockbook import BlockBook
from arconsole.engine.context import EngineContext
from arconsole.engine.executor import ExecutableError, resolve_executable
from arconsole.engine.messages import ExecdMessage
from arconsole.engine.model import Block, BlockState, Protocol
from arconsole.engine.script_report import ScriptReporter, describe_failure
from arconsole.safetext import literal

CHECKABLE = frozenset({"firewall-drop", "route-null"})  # stock scripts with `check`
EXIT_IN_FORCE = 0
EXIT_MISSING = 3
CHECK_DECLARATION = b"# arconsole: answers check"
_DECLARATION_WINDOW = 4096


class DriftChecker:
    def __init__(self, context: EngineContext, book: BlockBook, reporter: ScriptReporter) -> None:
        self._context = context
        self._book = book
        self._reporter = reporter
        self._told: set[str] = set()  # keys whose check could not answer (told once)
        self._declared: dict[str, bool] = {}  # executable -> declares `check` (read once)
        self.repaired = 0

    @staticmethod
    def checkable(block: Block) -> bool:
        return (block.state is BlockState.ACTIVE and block.protocol is Protocol.JSON
                and block.executable in CHECKABLE and not block.dry_run)

    def answers_check(self, block: Block) -> bool:
        """A stock script with `check`, or one that declares it answers `check` alike."""
        if self.checkable(block):
            return True
        if (block.state is not BlockState.ACTIVE or block.protocol is not Protocol.JSON
                or block.dry_run or not block.executable):
            return False
        declared = self._declared.get(block.executable)
        if declared is None:
            try:
                path = resolve_executable(self._context.executor.home, block.executable)
                with open(path, "rb") as script:
                    declared = CHECK_DECLARATION in script.read(_DECLARATION_WINDOW)
            except (OSError, ExecutableError):
                declared = False
            self._declared[block.executable] = declared
        return declared

    async def loop(self, interval: float) -> None:
        clock = self._context.clock
        while True:
            await clock.sleep(interval)
            await self.verify_all()

    async def verify_all(self) -> None:
        keys = [b.key for b in self._book.blocks.values() if self.checkable(b)]
        await asyncio.gather(*(self.verify(key) for key in keys))

    async def verify(self, key: str) -> str:
        """Check one block; re-apply it once if it is missing. Returns what was found:
        in-force, repaired, repair-failed, unknown, or gone (reversed meanwhile)."""
        async with self._book.holding(key):  # no delete of this key runs meanwhile
            block = self._book.blocks.get(key)
            if block is None or not self.answers_check(block):
                return "gone"
            found = await self._check(block)
            return await self._repair(block) if found == "missing" else found

    async def check_only(self, key: str) -> str:
        """Ask whether one block is in force, changing nothing: in-force, missing, unknown,
        or gone."""
        async with self._book.holding(key):
            block = self._book.blocks.get(key)
            if block is None or not self.answers_check(block):
                return "gone"
            return await self._check(block)

    async def _check(self, block: Block) -> str:
        check = ExecdMessage.replace_command(block.delete_message, "check")
        try:
            result = await self._context.executor.run_json_delete(block.executable, check)
        except ExecutableError as error:
            return self._unknown(block, str(error))
        if result.returncode == EXIT_IN_FORCE and not result.timed_out:
            self._told.discard(block.key)
            return "in-force"
        if result.returncode != EXIT_MISSING or result.timed_out:
            return self._unknown(block, describe_failure(result))
        return "missing"

    async def _repair(self, block: Block) -> str:
        context = self._context
        program = f"{PROGRAM_DIR}/{block.executable}"
        add = ExecdMessage.replace_command(block.delete_message, "add")
        continue_ = ExecdMessage.replace_command(block.delete_message, "continue")

        async def answer(line: bytes | None) -> bytes | None:
            return None if line is None else continue_

        try:
            result = await context.executor.run_json(block.executable, add, answer)
        except ExecutableError as error:
            context.notice("error", literal(f"drift: {block.key}: its rule is missing and "
                                            f"{program} could not re-apply it: {error}"))
            return "repair-failed"
        self._reporter.ran("add", result, block.key, "continue")
        if not result.ok:
            context.notice("error", literal(f"drift: {block.key}: its rule is missing and "
                                            f"re-applying it failed: {describe_failure(result)}"))
            return "repair-failed"
        self.repaired += 1
        context.notice("warning", literal(f"drift repaired: {block.key}: its rule was missing "
                                          f"(removed outside arconsole); {program} re-applied it"))
        self._book.publish("drift-repaired", block)
        return "repaired"

    def _unknown(self, block: Block, why: str) -> str:
        if block.key not in self._told:
            self._told.add(block.key)
            self._context.notice("warning", literal(
                f"drift: cannot tell whether {block.key} is in force: {why}"))
        return "unknown"
