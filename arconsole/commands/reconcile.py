"""`arconsole blocks reconcile`: rebuild blocks a damaged or replaced state file lost, from the
blocks snapshot beside it and from the state files moved aside as corrupt (issue 11 item 5).

Runs only while no engine owns the state file. The blocks found are added as restored, so
the next engine start reverses each one when its time comes (at once if it is overdue).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from arconsole.wording import counted


def register(actions: Any, common: Any) -> None:
    parser = actions.add_parser(
        "reconcile", help="rebuild lost blocks from the snapshot and moved-aside state files",
        description="Finds blocks that the blocks snapshot (STATE.snapshot) or state files "
        "moved aside as corrupt (STATE.corrupt-*) hold and the state file does not, and adds "
        "them, so the engine reverses them when their time comes. Stop the engine first.",
    )
    common(parser)
    parser.add_argument("--dry-run", action="store_true", help="only show what would be added")
    parser.add_argument("--format", choices=["text", "json"], default="text")


def run(args: argparse.Namespace, state: Path) -> int:
    from arconsole.commands.blocks import format_blocks
    from arconsole.engine.store import StateError, StateLocked, StateStore
    from arconsole.safetext import literal

    try:
        store = StateStore.open(state)
    except StateLocked as error:
        print(f"arconsole: {literal(str(error))}; stop it before reconciling", file=sys.stderr)
        return 1
    except (StateError, OSError) as error:
        print(f"arconsole: {literal(_reason(error, state))}", file=sys.stderr)
        return 2
    try:
        found = store.reconcile(apply=not args.dry_run)
        notices = [notice.message for notice in store.notices]
    except (StateError, OSError) as error:
        print(f"arconsole: {literal(_reason(error, state))}", file=sys.stderr)
        return 2
    finally:
        store.close()
    blocks: list[dict[str, Any]] = [block.to_json() for block in found]
    if args.format == "json":
        print(json.dumps({"ok": True, "applied": not args.dry_run, "blocks": blocks,
                          "notices": notices}, indent=2))
        return 0
    for message in notices:
        print(literal(message))
    if not found:
        print(literal(f"nothing to reconcile: {state} holds every block its snapshot and "
                      "moved-aside state files know"))
        return 0
    print(format_blocks(blocks))
    verb = "would add" if args.dry_run else "added"
    print(literal(f"{verb} {counted(len(found), 'block')} to {state}; the engine reverses "
                  "each when its time comes (at once if overdue)"))
    return 0


def _reason(error: Exception, state: Path) -> str:
    if isinstance(error, OSError) and error.strerror:
        return f"{error.filename or state}: {error.strerror}"
    return str(error)
