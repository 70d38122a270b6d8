"""One request dispatcher for operator actions: the control socket and the offline path of
`arconsole blocks` both turn a request object into the same engine calls and the same answer.

A request is `{"op": "status"|"list"|"reverse"|"forget"|"extend"|"add"|"reload", ...}`;
the answer is `{"ok": bool, ...}` with `blocks` or `results` (ActionResult.to_json()
objects), or `error`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arconsole.engine.engine import Engine


class BadRequest(ValueError):
    """A request that names an unknown operation or carries a value of the wrong kind."""


def status_of(engine: Engine) -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "mode": str(engine.mode),
        "read_only": engine.read_only,
        "generation": engine.generation,
        "config": str(engine.options.config_path),
        "home": str(engine.options.home),
        "node": engine.context.config.node_name if engine.context.config else "",
        "blocks": len(engine.blocks),
        "alerts": engine.stats.alerts,
        "input_errors": engine.stats.input_errors,  # lines refused (not JSON, crafted keys...)
        # alerts whose responses were skipped for a crafted srcip (crafted_tell)
        "refused_crafted_srcip": engine.crafted_srcip.refused,
        "refused_crafted_dstuser": engine.crafted_dstuser.refused,  # the same for a dstuser
        "store_fault": engine.store_fault,  # None, or why the state file cannot be written
        "store_fault_since": engine.store_fault_since,  # when that fault began, or None
        "store_warnings": engine.store_warnings,  # found at open: world-writable dir...
        "fleet": engine.fleet.counts(),  # the fleet table's rows, caps, refusals, drops
        "agent_transport": engine.options.agent_queue is not None,  # delivers to agents
    }


def _integer(request: dict[str, Any], name: str, *, optional: bool = False) -> int | None:
    value = request.get(name)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{name} must be a whole number, not {value!r}")
    return value


def _text(request: dict[str, Any], name: str) -> str:
    value = request.get(name)
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be text, not {value!r}")
    return value


async def handle_request(engine: Engine, request: dict[str, Any], operator: str) -> dict[str, Any]:
    """Carry out one request for `operator` (who, as the kernel or the login says)."""
    try:
        return await _handle(engine, request, operator)
    except BadRequest as error:
        return {"ok": False, "error": f"bad request: {error}"}


async def _handle(engine: Engine, request: dict[str, Any], operator: str) -> dict[str, Any]:
    op = request.get("op")
    asked = request.get("command_line")
    if isinstance(asked, str) and asked:
        operator = f"{operator} (asked with: {asked})"
    if op == "status":
        return {"ok": True, **status_of(engine)}
    if op == "list":
        return {"ok": True, "blocks": [b.to_json() for b in engine.list_blocks()],
                "fleet": engine.fleet.listing()}
    if op == "reverse":
        if request.get("all"):
            results = await engine.reverse_all(operator)
        else:
            keys = request.get("keys", [])
            if not isinstance(keys, list):
                raise BadRequest("keys must be a list")
            results = await engine.reverse_blocks([str(k) for k in keys], operator)
    elif op == "forget":
        keys = request.get("keys", [])
        if not isinstance(keys, list) or not keys:
            raise BadRequest("keys must be a non-empty list")
        results = await engine.forget_blocks([str(k) for k in keys], operator)
    elif op == "extend":
        seconds = _integer(request, "seconds")
        assert seconds is not None
        results = [await engine.extend_block(_text(request, "key"), seconds, operator)]
    elif op == "add":
        requester = request.get("requester_address")
        results = [await engine.add_block(
            _text(request, "command"), _text(request, "srcip"), operator,
            timeout=_integer(request, "timeout", optional=True),
            force=bool(request.get("force")),
            requester_address=requester if isinstance(requester, str) else None,
        )]
    elif op == "reload":
        return {"ok": await engine.reload()}
    else:
        raise BadRequest(f"unknown op {op!r}")
    return {"ok": all(r.ok for r in results), "results": [r.to_json() for r in results]}
