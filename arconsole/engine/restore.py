"""Restore: bring the block book back from the state file at start, settle blocks whose
`continue` may never have reached their script, and lift blocks on addresses the white list
covers (at start, and after a reload that white-lists them)."""

from __future__ import annotations

import asyncio

from arconsole.engine.blockbook import BlockBook
from arconsole.engine.context import EngineContext
from arconsole.engine.drift import DriftChecker
from arconsole.engine.model import BlockState
from arconsole.engine.script_report import ScriptReporter
from arconsole.engine.store_errors import StoreWriteError
from arconsole.engine.whitelist import WhiteList
from arconsole.safetext import literal


async def restore_blocks(context: EngineContext, book: BlockBook) -> None:
    """Bring back every stored block; reverse once those whose time passed (A7, B1)."""
    now = context.clock.now()
    overdue: list[str] = []
    book.restored_triggers |= context.store.load_triggers()
    for block in context.store.load_blocks():
        if block.dry_run and not context.dry_run:
            # Blocks imagined by a dry run are never enforced for real.
            book.forget_imagined(block.key)
            continue
        restored = block.with_(restored=True)
        if block.state is BlockState.REVERSING:
            # Stored as reversing, its delete was never handed to a script (that takes the
            # row out of the file at once, blockbook._run_delete): it is still in force.
            restored = restored.with_(state=BlockState.ACTIVE)
        book.restore(restored)
        if context.dry_run and not block.dry_run:
            pass  # shown, never reversed by a dry run
        elif restored.state is BlockState.ACTIVE and restored.expired(now):
            overdue.append(block.key)
        else:
            book.schedule(restored)
        book.publish("restored", restored)
    forgotten = await settle_uncertain(context, book, set(overdue))
    overdue = [key for key in overdue if key not in forgotten]
    # Concurrently: one hanging delete must not hold up the others or the start.
    reason = "expired while arconsole was down"
    await asyncio.gather(*(book.reverse(key, reason) for key in overdue))
    await lift_white_listed(context, book, "white-listed while arconsole was down")


async def settle_uncertain(
    context: EngineContext, book: BlockBook, overdue: set[str],
) -> set[str]:
    """Blocks stored with a reply pending: the engine was killed after storing the block and
    maybe before its `continue` reached the script, so the rule may never have been added.

    A script that answers `check` is asked; a missing rule is re-applied once (drift's add +
    continue handshake), or, for a block whose time passed while the engine was down,
    forgotten (nothing in force to reverse). Any other script: the block is kept and one
    warning says it may not be in force. The marks are cleared either way. Returns the
    overdue keys forgotten (not to be reversed).
    """
    pending = context.store.load_pending_replies()
    forgotten: set[str] = set()
    if not pending:
        return forgotten
    checker = DriftChecker(context, book, ScriptReporter(context))
    checked: list[str] = []
    for key in sorted(pending):
        block = book.blocks.get(key)
        if block is None or block.state is not BlockState.ACTIVE or block.dry_run:
            continue
        if checker.answers_check(block):
            checked.append(key)
        else:
            context.notice("warning", literal(
                f"{key}: arconsole stopped before {block.executable} was told to go on; the "
                "block may not be in force and its script cannot be asked (no `check`): "
                "reverse it and add it again if it must hold"))

    async def settle(key: str) -> None:
        if key not in overdue:
            await checker.verify(key)  # re-applied once if missing
        elif await checker.check_only(key) == "missing":
            forgotten.add(key)
            await book.forget(key)
            context.notice("warning", literal(
                f"{key}: never applied (arconsole stopped before its script was told to go "
                "on) and its time passed while arconsole was down: forgotten"))

    await asyncio.gather(*(settle(key) for key in checked))
    try:
        with context.writes.writing() as store:
            store.clear_pending_replies(pending)
        context.writes.commit_now()
    except StoreWriteError as error:
        context.health.failed(error)
    return forgotten


async def lift_white_listed(context: EngineContext, book: BlockBook, reason: str) -> None:
    """Lift blocks on addresses the white list now covers (Part E B4, E3).

    An operator's forced block of a white-listed address stays: it was meant.
    """
    config = context.config
    if config is None or not config.white_list:
        return
    white_list = WhiteList(config.white_list, config.flavour)
    keys = [
        b.key for b in book.blocks.values()
        if b.state is BlockState.ACTIVE and b.srcip and not b.manual
        and (b.dry_run or not context.dry_run)
        and white_list.match_address(b.srcip) is not None
    ]
    await asyncio.gather(*(book.reverse(key, reason) for key in keys))
