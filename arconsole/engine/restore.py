"""Restore: bring the block book back from the state file at start, and lift blocks on
addresses the white list covers (at start, and after a reload that white-lists them)."""

from __future__ import annotations

import asyncio

from arconsole.engine.blockbook import BlockBook
from arconsole.engine.context import EngineContext
from arconsole.engine.model import BlockState
from arconsole.engine.whitelist import WhiteList


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
    # Concurrently: one hanging delete must not hold up the others or the start.
    reason = "expired while arconsole was down"
    await asyncio.gather(*(book.reverse(key, reason) for key in overdue))
    await lift_white_listed(context, book, "white-listed while arconsole was down")


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
        and white_list.match(b.srcip) is not None
    ]
    await asyncio.gather(*(book.reverse(key, reason) for key in keys))
