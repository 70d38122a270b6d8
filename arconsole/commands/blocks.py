"""`arconsole blocks list|reverse|extend|add`: act on a running engine, or on its state file."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shlex
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from arconsole.commands.errors import describe_start_failure, path_failure, report
from arconsole.commands.operator_args import (
    MAX_BLOCK_SECONDS,
    address_argument,
    block_seconds,
    name_argument,
)
from arconsole.durations import format_remaining
from arconsole.engine.options import DEFAULT_HOME, Mode, socket_path_for


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "blocks", help="list, reverse, extend or add blocks",
        description="Talks to the engine that owns the state file over its socket; with no "
        "engine running, acts on the state file directly. Give the engine's --home (or "
        f"--state) unless its home is {DEFAULT_HOME}.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--state", type=Path,
                         help="state file (default HOME/var/arconsole/state.db)")
        sub.add_argument("--home", type=Path, help=f"Wazuh home (default {DEFAULT_HOME})")
        sub.add_argument("--config", type=Path, help="ossec.conf (default HOME/etc/ossec.conf)")

    listing = actions.add_parser("list", help="list blocks")
    common(listing)
    listing.add_argument("--format", choices=["text", "json"], default="text")
    reverse = actions.add_parser("reverse", help="reverse blocks now")
    common(reverse)
    reverse.add_argument("keys", nargs="*", metavar="KEY", type=name_argument,
                         help="a block's key, as `blocks list` shows it")
    reverse.add_argument("--all", action="store_true", help="reverse every block")
    forget = actions.add_parser("forget", help="drop blocks without running their delete "
                                "(stops the retries of a delete that keeps failing)")
    common(forget)
    forget.add_argument("keys", nargs="+", metavar="KEY", type=name_argument)
    extend = actions.add_parser("extend", help="extend a block")
    common(extend)
    extend.add_argument("key", metavar="KEY", type=name_argument,
                        help="the block's key, as `blocks list` shows it")
    extend.add_argument("seconds", type=block_seconds, metavar="SECONDS",
                        help="seconds to add to the time the block has left (whole, above 0, "
                        f"at most {MAX_BLOCK_SECONDS}: ten years)")
    add = actions.add_parser("add", help="block an address by hand")
    common(add)
    add.add_argument("--command", required=True, dest="ar_command", metavar="NAME",
                     type=name_argument, help="a <command><name> of the config")
    add.add_argument("--srcip", required=True, metavar="IP", type=address_argument,
                     help="the IPv4 or IPv6 address to block (checked as an alert's srcip)")
    add.add_argument("--timeout", type=block_seconds, metavar="S",
                     help=f"seconds (default 600; at most {MAX_BLOCK_SECONDS}: ten years)")
    add.add_argument("--force", action="store_true", help="block even a white-listed address")
    from arconsole.commands import reconcile

    reconcile.register(actions, common)
    parser.set_defaults(handler=run)


def _paths(args: argparse.Namespace) -> tuple[Path, Path, Path]:
    state: Path | None = args.state
    home: Path | None = args.home
    if home is None and state is not None and state.absolute().parent.parent.name == "var":
        home = state.absolute().parent.parent.parent
    home = (home or DEFAULT_HOME).absolute()
    state = (state or home / "var" / "arconsole" / "state.db").absolute()
    config = (args.config or home / "etc" / "ossec.conf").absolute()
    return home, state, config


def run(args: argparse.Namespace) -> int:
    from arconsole.engine.control import ControlError, engine_listening, request
    from arconsole.engine.engine import EngineError
    from arconsole.engine.store import StateError

    home, state, config = _paths(args)
    if args.action == "reconcile":
        from arconsole.commands import reconcile

        return reconcile.run(args, state)
    if args.action == "reverse" and not args.keys and not args.all:
        print("arconsole blocks reverse: name at least one KEY, or --all", file=sys.stderr)
        return 2
    payload = _payload(args)
    socket_path = socket_path_for(state)
    try:
        listening = engine_listening(socket_path)
        present = listening or state.exists()
    except OSError as error:
        return report(path_failure("open state", state, error))
    if listening:
        try:
            answer = request(socket_path, payload)
        except ControlError as error:
            return report(str(error))
    elif not present:
        return report(f"no state file at {state} and no engine running" + _where_hint(args))
    else:
        try:
            answer = asyncio.run(_offline(payload, home, state, config))
        except (EngineError, StateError, OSError, sqlite3.Error) as error:
            message, status = describe_start_failure(
                error, config=config, state=state, alerts=home / "logs" / "alerts" / "alerts.json",
                socket=socket_path,
            )
            return report(message, status)
    return _print(args, answer)


def _where_hint(args: argparse.Namespace) -> str:
    if args.state is None and args.home is None:
        return f" (if the engine's home is not {DEFAULT_HOME}, give --home HOME or --state FILE)"
    return ""


def _payload(args: argparse.Namespace) -> dict[str, Any]:
    command_line = shlex.join(["arconsole", *sys.argv[1:]])
    if args.action == "list":
        return {"op": "list"}
    if args.action == "reverse":
        return {"op": "reverse", "keys": args.keys, "all": args.all, "command_line": command_line}
    if args.action == "forget":
        return {"op": "forget", "keys": args.keys, "command_line": command_line}
    if args.action == "extend":
        return {"op": "extend", "key": args.key, "seconds": args.seconds,
                "command_line": command_line}
    return {"op": "add", "command": args.ar_command, "srcip": args.srcip,
            "timeout": args.timeout, "force": args.force, "command_line": command_line}


async def _offline(
    payload: dict[str, Any], home: Path, state: Path, config: Path
) -> dict[str, Any]:
    """No engine runs: load the state file, act on it with a private engine, and stop."""
    from arconsole.engine.engine import Engine
    from arconsole.engine.operator import current_operator, ssh_client_address
    from arconsole.engine.options import EngineOptions
    from arconsole.engine.requests import handle_request

    if payload["op"] == "list":
        from arconsole.engine.store import StateStore

        store = StateStore.open(state, lock=False)
        try:
            blocks = sorted(store.load_blocks(), key=lambda b: b.expires_at)
            from arconsole.commands.blocks_fleet import stored_fleet

            fleet = stored_fleet(store)
        finally:
            store.close()
        return {"ok": True, "blocks": [b.to_json() for b in blocks], "fleet": fleet}
    mode = _offline_mode(payload, state)
    if isinstance(mode, dict):
        return mode
    options = EngineOptions(
        config_path=config, home=home, alerts_path=home / "logs" / "alerts" / "alerts.json",
        state_path=state, watch_config=False, control_socket=False, mode=mode,
    )
    engine = Engine(options)
    try:
        await engine.start(follow=False)
    except BaseException:
        with contextlib.suppress(Exception):
            await engine.stop(reverse=False)
        raise  # run() says why, in one line
    if payload["op"] == "add":
        payload = {**payload, "requester_address": ssh_client_address()}
    try:
        return await handle_request(engine, payload, current_operator())
    finally:
        await engine.stop(reverse=False)


def _offline_mode(payload: dict[str, Any], state: Path) -> Mode | dict[str, Any]:
    """The mode of the private engine. An enforcing engine drops a dry run's blocks when it
    opens the state file: an action naming only a dry run's blocks (or no block there is)
    runs as the dry-run engine would, so those blocks are found and none is lost; one naming
    a dry run's block and a real one is refused, acting on nothing."""
    from arconsole.engine.store import StateStore

    named = payload.get("keys") or ([payload["key"]] if "key" in payload else [])
    if payload["op"] not in ("reverse", "forget", "extend") or not named:
        return Mode.ENFORCE
    store = StateStore.open(state, lock=False)
    try:
        dry_run = {block.key: block.dry_run for block in store.load_blocks()}
    finally:
        store.close()
    imagined = [key for key in named if dry_run.get(key)]
    real = [key for key in named if dry_run.get(key) is False]
    if not real:
        return Mode.DRY_RUN if any(dry_run.values()) else Mode.ENFORCE
    if not imagined:
        return Mode.ENFORCE
    return {"ok": False, "results": [
        {"ok": False, "action": payload["op"], "target": key,
         "detail": "not done: " + ("a dry run's block" if key in imagined else "a real block")
         + "; name a dry run's blocks and real ones in separate commands"}
        for key in named]}


def _print(args: argparse.Namespace, answer: dict[str, Any]) -> int:
    if "error" in answer:
        return report(str(answer["error"]), 1)
    if args.action == "list":
        blocks = answer["blocks"]
        if args.format == "json":
            print(json.dumps(blocks, indent=2))
        else:
            print(format_blocks(blocks))
            fleet = answer.get("fleet") or []
            if fleet:
                from arconsole.commands.blocks_fleet import format_fleet

                print(format_fleet(fleet))
        return 0
    from arconsole.safetext import literal

    for result in answer["results"]:
        detail = str(result["detail"])
        if detail == "no such block":  # a typo, or another state file's key
            detail += " ('arconsole blocks list' with the same --home or --state shows the keys)"
        if not result["ok"]:
            mark = "FAILED: "
        elif detail.startswith("dry-run:"):
            mark = ""  # "done" would claim what a dry run did not do; the detail says it
        else:
            mark = "done: "
        print(literal(f"{result['action']} {result['target']}: {mark}{detail}"))
    return 0 if answer["ok"] else 1


def format_blocks(blocks: list[dict[str, Any]], now: float | None = None) -> str:
    now = time.time() if now is None else now
    if not blocks:
        return "no blocks"
    from arconsole.safetext import literal

    rows = [["KEY", "NAME", "TARGET", "SRCIP/USER", "STATE", "OFF", "REMAINING"]]
    for block in blocks:
        remaining = max(0, int(block["expires_at"] - now))
        who = block["srcip"] or block["user"] or "-"
        # A dry run's block was only imagined: say so, it holds nothing.
        state = f"{block['state']} (dry-run)" if block.get("dry_run") else block["state"]
        rows.append([
            literal(str(cell)) for cell in (
                block["key"], block["name"], block["target"], who, state,
                block["offences"], format_remaining(remaining),
            )
        ])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)
