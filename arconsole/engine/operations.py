"""Operations: what an operator may do to the blocks (reverse, extend, add), checked the way
alert values are checked, refused in read-only mode, and written to the audit log.

Read-only mode is enforced here and nowhere else.
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Callable, Iterable

from arconsole.addresses import strip_mapped
from arconsole.alerts.model import Alert
from arconsole.config.executables import PROGRAM_DIR
from arconsole.config.model import ActiveResponse
from arconsole.engine.blockbook import BlockBook
from arconsole.engine.context import EngineContext
from arconsole.engine.decide import crafted_ip
from arconsole.engine.dispatch import Dispatcher, took_effect
from arconsole.engine.errors import ReadOnlyError
from arconsole.engine.events import OperatorAction
from arconsole.engine.model import ActionResult, AuditEntry, Block, BlockState
from arconsole.engine.store import StoreWriteError
from arconsole.engine.whitelist import WhiteList
from arconsole.safetext import literal

# The longest block an operator may ask for (add or extend): ten years. Larger numbers are a
# typing mistake, and would overflow the state file's 64-bit integers.
MAX_SECONDS = 10 * 365 * 86400
DEFAULT_MANUAL_TIMEOUT = 600


def operator_address_problem(srcip: str) -> str | None:
    """Why an operator-typed address is refused, or None: the same checks as an alert's srcip
    (spec 6.1), plus a real IP address with no IPv6 zone (a zone is free text)."""
    if not srcip.isascii() or not srcip.isprintable():
        return f"not an IP address: '{literal(srcip)}'"
    if "%" in srcip:
        return f"not an IP address: '{literal(srcip)}' (an IPv6 zone is not accepted)"
    try:
        ipaddress.ip_address(srcip)
    except ValueError:
        return f"not an IP address: '{literal(srcip)}'"
    if crafted_ip(srcip):
        return f"refused: '{literal(srcip)}' looks crafted (as an alert's srcip would be)"
    return None


def seconds_problem(seconds: int, what: str) -> str | None:
    if seconds <= 0:
        return f"{what} must be positive, not {seconds}"
    if seconds > MAX_SECONDS:
        return f"{what} must be at most {MAX_SECONDS} seconds (ten years), not {seconds}"
    return None


class Operations:
    def __init__(self, context: EngineContext, book: BlockBook, dispatcher: Dispatcher) -> None:
        self._context = context
        self._book = book
        self._dispatcher = dispatcher
        # Keys written `AGENT:program-key` (blocks on agents): set by the façade when a fleet
        # stage is there; the outcome, or None when there is no such agent block.
        self.agent_reverse: Callable[[str, str], ActionResult | None] | None = None

    def _check_writable(self) -> None:
        if self._context.options.read_only:
            raise ReadOnlyError("arconsole is read-only: nothing can be changed")

    def _audit(self, operator: str, result: ActionResult) -> ActionResult:
        context = self._context
        entry = AuditEntry(
            at=context.clock.now(), operator=operator, action=result.action,
            target=result.target, detail=result.detail,
        )
        try:
            context.store.add_audit(entry)
        except StoreWriteError as error:  # the store fault; the action itself stands
            context.health.failed(error)
        context.bus.publish(
            OperatorAction(
                at=entry.at, operator=operator, action=result.action, target=result.target,
                detail=result.detail, ok=result.ok,
            )
        )
        return result

    async def reverse_blocks(self, keys: Iterable[str], operator: str) -> list[ActionResult]:
        self._check_writable()
        results = []
        for key in keys:
            if key not in self._book.blocks:
                on_agent = self.agent_reverse(key, operator) if self.agent_reverse else None
                results.append(self._audit(operator, on_agent or ActionResult(
                    False, "reverse", key, "no such block")))
                continue
            results.append(self._audit(operator, await self._book.reverse(key, f"by {operator}")))
        return results

    async def reverse_all(self, operator: str) -> list[ActionResult]:
        self._check_writable()
        return await self.reverse_blocks(list(self._book.blocks), operator)

    async def forget_blocks(self, keys: Iterable[str], operator: str) -> list[ActionResult]:
        """Drop blocks without running their delete: how an operator stops the retries of a
        delete that keeps failing (the firewall keeps whatever it holds)."""
        self._check_writable()
        return [self._audit(operator, await self._book.forget(key)) for key in keys]

    async def extend_block(self, key: str, seconds: int, operator: str) -> ActionResult:
        self._check_writable()
        block = self._book.blocks.get(key)
        if block is None or block.state is not BlockState.ACTIVE:
            state = "no such block" if block is None else f"block is {block.state}"
            return self._audit(operator, ActionResult(False, "extend", key, state))
        problem = seconds_problem(seconds, "an extension") or seconds_problem(
            block.timeout + seconds, "the block's whole timeout"
        )
        if problem is not None:
            return self._audit(operator, ActionResult(False, "extend", key, problem))
        extended = self._book.extend(key, seconds)
        detail = (
            f"extended by {seconds}s: now expires at "
            f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(extended.expires_at))}"
        )
        return self._audit(operator, ActionResult(True, "extend", key, detail, extended))

    async def add_block(
        self, command: str, srcip: str, operator: str, *, timeout: int | None = None,
        force: bool = False, requester_address: str | None = None,
    ) -> ActionResult:
        """Block an address by hand, through the same handshake as an alert (spec 1.4 item 3).

        `requester_address` is where the operator's own session comes from (SSH_CLIENT); it is
        never blocked without `force`.
        """
        self._check_writable()
        context = self._context
        target = literal(f"{command} {srcip}")

        def refuse(detail: str) -> ActionResult:
            return self._audit(operator, ActionResult(False, "add", target, detail))

        problem = operator_address_problem(srcip)
        if problem is not None:
            return refuse(problem)
        address = ipaddress.ip_address(srcip)
        config = context.current_config
        definition = config.command(command)
        if definition is None or definition.executable is None:
            return refuse(f"no <command> named {literal(command)!r}")
        if timeout is not None and (problem := seconds_problem(timeout, "timeout")):
            return refuse(problem)
        if not force:
            entry = WhiteList(config.white_list, config.flavour).match(str(address))
            if entry is not None:
                return refuse(f"refused: {address} is white-listed by <white_list>{entry.text}"
                              f"</white_list> (line {entry.line}); use --force to block anyway")
            if requester_address and str(address) == strip_mapped(requester_address):
                return refuse(f"refused: {address} is your own SSH client; "
                              "use --force to block anyway")
        seconds = timeout if timeout is not None else DEFAULT_MANUAL_TIMEOUT
        if not definition.timeout_allowed:
            seconds = 0
        response = ActiveResponse(
            index=0, line=definition.line, column=definition.column, command=command,
            location="server", timeout=seconds, executable=definition.executable,
            extra_args=tuple(definition.extra_args_list),
        )
        now = context.clock.now()
        outcome = await self._dispatcher.run(response, manual_alert(str(address), now), manual=True)
        program = f"{PROGRAM_DIR}/{definition.executable}"
        if context.dry_run:
            detail = f"dry-run: nothing ran; {outcome.text} for {address}"
        else:
            detail = f"ran {program} add for {address}: {outcome.text}"
        if context.dry_run:
            ok = outcome.block is not None or seconds == 0
        else:
            ok = took_effect(outcome, stateless=seconds == 0)
        return self._audit(operator, ActionResult(ok, "add", target, detail, outcome.block))

    def list_blocks(self) -> list[Block]:
        return self._book.sorted_by_expiry()


def manual_alert(srcip: str, now: float) -> Alert:
    """The alert an operator's block carries, shaped like agent_control's (spec 6.3 C)."""
    alert_id = f"{int(now)}.manual"
    raw = json.dumps(
        {"id": alert_id, "rule": {"id": "manual", "level": 0, "description": "manual block"},
         "data": {"srcip": srcip}},
        separators=(",", ":"),
    ).encode()
    return Alert(
        alert_id=alert_id, timestamp="", rule_id="manual", level=0,
        description="manual block", groups=(), group_string="", agent_id=None,
        agent_name=None, srcip=srcip, dstuser=None, location=None, raw=raw,
    )
