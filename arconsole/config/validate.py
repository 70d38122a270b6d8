"""Checks that need the whole file: what execd reads once (`disabled`, `repeated_offenders`),
how blocks interact (spec 3.5, 7.5, C26-C34) and repeated definitions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from arconsole.config.element_options import ReadContext
from arconsole.config.findings import quoted
from arconsole.config.model import ActiveResponse, Command, ConfigNode, LocationFlag, Role
from arconsole.config.responses import AGENT_SIDE, ResponseRead
from arconsole.config.values import describe_route, execd_repeated_offenders

MAX_AR = 64  # analysisd's ar.conf limit, the 2 built-in restart commands included
BUILTIN_RESPONSES = 2

# analysisd's queue flags (spec 3.3): which queue each kept block needs.
_LOCAL_AR = 1
_REMOTE_AR = 2


@dataclass(frozen=True, slots=True)
class ExecdSettings:
    """What execd takes from the first matching elements of the file."""

    disabled: bool
    repeated_offenders: tuple[int, ...]


def check_whole_file(reads: Sequence[ResponseRead], commands: Sequence[Command],
                     context: ReadContext) -> ExecdSettings:
    disabled = _execd_disabled(reads, context)
    repeated = _repeated_offenders(reads, context)
    if context.role is Role.MANAGER:
        _disabled_after_enabled(reads, context)
        _too_many(reads, context)
        _duplicate_responses(reads, context)
    _duplicate_commands(commands, context)
    return ExecdSettings(disabled, repeated)


def _first(reads: Sequence[ResponseRead], option: str) -> tuple[ResponseRead, ConfigNode] | None:
    """The first `<option>` of any block, in file order (`OS_GetOneContentforElement`)."""
    for read in reads:
        nodes = read.options.every(option)
        if nodes:
            return read, nodes[0]
    return None


def _execd_disabled(reads: Sequence[ResponseRead], context: ReadContext) -> bool:
    """C31: execd reads only the first `<disabled>` of the file (spec 3.5 item 2)."""
    first = _first(reads, "disabled")
    if first is None or first[1].text != "yes":
        return False
    read, node = first
    switched_off = ("execd on this host is switched off (Wazuh logs 1350 'Active response "
                    "disabled.'): no response runs here")
    if context.role is Role.MANAGER and not set(read.options.last) <= AGENT_SIDE:
        context.findings.warning(
            "1350", node, "the first <disabled> of the file is yes: besides dropping this "
            f"block, {switched_off}",
            "to disable just this block, place an <active-response><disabled>no</disabled>"
            "<repeated_offenders>...</repeated_offenders></active-response> switch before it, "
            "or delete the block")
    else:
        context.findings.info("1350", node,
                              f"the first <disabled> of the file is yes: {switched_off}")
    return True


def _repeated_offenders(reads: Sequence[ResponseRead], context: ReadContext) -> tuple[int, ...]:
    """C32-C34: the first block holding the option decides, with execd's parsing."""
    first = _first(reads, "repeated_offenders")
    if first is None:
        return ()
    used_read, used = first
    for read in reads:
        for node in read.options.every("repeated_offenders"):
            if node is not used:
                context.findings.warning(
                    "AR-RO-IGNORED", node,
                    f"only the first <repeated_offenders> of the file (line {used.line}) is "
                    "used: this one is ignored", "keep a single <repeated_offenders>")
    values = execd_repeated_offenders(used.text or "")
    if context.role is Role.MANAGER:
        _placement(used_read, used, context)
        _shorter_than_blocks(values, used, reads, context)
    return values


def _placement(read: ResponseRead, node: ConfigNode, context: ReadContext) -> None:
    """A manager's execd escalates only what runs on the manager (spec 3.6, 7.5)."""
    flags = read.response.location_flags
    if flags == LocationFlag.NONE or flags & (LocationFlag.AS_ONLY | LocationFlag.REMOTE_AGENT):
        return
    context.findings.warning(
        "AR-RO-PLACE", node,
        "<repeated_offenders> is read by the execd of the host whose ossec.conf holds it: on "
        f"this manager it does not escalate this block, whose responses run on "
        f"{describe_route(flags)}",
        "put <repeated_offenders> in each agent's own ossec.conf (agent.conf is not read for it)")


def _shorter_than_blocks(values: tuple[int, ...], node: ConfigNode,
                         reads: Sequence[ResponseRead], context: ReadContext) -> None:
    """Spec 7.5: a value below a block's timeout shortens blocks of repeat offenders."""
    positive = [v for v in values if v > 0]
    if not positive:
        return
    shortest = min(positive)
    stateful = [r.response for r in reads if r.response.kept and r.response.timeout > 0]
    longer = [r for r in stateful if r.timeout > shortest * 60]
    if not longer:
        return
    worst = max(longer, key=lambda r: r.timeout)
    context.findings.warning(
        "AR-RO-SHORT", node,
        f"<repeated_offenders> {shortest} min is shorter than the {worst.timeout} s block of "
        f"{worst.name} (line {worst.line}): a repeat offender is blocked for less time than a "
        "first one, and a new trigger during a block cuts it short",
        f"make every value at least {math.ceil(worst.timeout / 60)} minutes")


def _needs(response: ActiveResponse) -> int:
    flags = response.location_flags
    needs = 0
    if flags & (LocationFlag.AS_ONLY | LocationFlag.REMOTE_AGENT):
        needs |= _LOCAL_AR
    if flags & (LocationFlag.ALL_AGENTS | LocationFlag.SPECIFIC_AGENT | LocationFlag.REMOTE_AGENT):
        needs |= _REMOTE_AR
    return needs


def _disabled_after_enabled(reads: Sequence[ResponseRead], context: ReadContext) -> None:
    """C29: a disabled block resets analysisd's queue flags for every block before it."""
    flags = 0
    last_disabled: ResponseRead | None = None
    for read in reads:
        if read.response.disabled:
            flags = 0
            last_disabled = read
        elif read.response.kept:
            flags |= _needs(read.response)
    if last_disabled is None:
        return
    dead = [r.response for r in reads
            if r.response.kept and r.response.index < last_disabled.response.index
            and _needs(r.response) & ~flags]
    if not dead:
        return
    names = ", ".join(f"{r.name} (line {r.line})" for r in dead[:4])
    more = f" and {len(dead) - 4} more" if len(dead) > 4 else ""
    node = last_disabled.options.last.get("disabled") or last_disabled.block
    context.findings.warning(
        "AR-DISABLED-AFTER", node,
        f"this disabled block comes after enabled ones: Wazuh would then never dispatch "
        f"{names}{more} (the disabled block resets analysisd's queue flags); arconsole "
        "still runs them", "move disabled blocks before the enabled ones, or delete them")


def _too_many(reads: Sequence[ResponseRead], context: ReadContext) -> None:
    kept = [r for r in reads if r.response.kept]
    if BUILTIN_RESPONSES + len(kept) > MAX_AR:
        first_extra = kept[MAX_AR - BUILTIN_RESPONSES]
        context.findings.warning(
            "1307", first_extra.block,
            f"{len(kept)} active responses: with the 2 built-in restart responses that is more "
            f"than {MAX_AR}; agents may not load the ar.conf lines from here on",
            "merge blocks (a <rules_id> list or a <rules_group> alternative)")


def _response_key(response: ActiveResponse) -> tuple[object, ...]:
    agent = response.agent_number if response.location_flags & LocationFlag.SPECIFIC_AGENT else 0
    return (response.command, response.location_flags, agent, response.level,
            response.rules_group, response.rules_ids, response.timeout)


def _duplicate_responses(reads: Sequence[ResponseRead], context: ReadContext) -> None:
    seen: dict[tuple[object, ...], ActiveResponse] = {}
    for read in reads:
        response = read.response
        if not response.kept:
            continue
        key = _response_key(response)
        earlier = seen.get(key)
        if earlier is None:
            seen[key] = response
            continue
        context.findings.warning(
            "AR-DUP-RESPONSE", read.block,
            f"same response as the block at line {earlier.line}: both fire on the same alerts "
            f"and run {quoted(response.command or '')} twice", "delete one of the two blocks")


def _duplicate_commands(commands: Sequence[Command], context: ReadContext) -> None:
    first: dict[str, Command] = {}
    for command in commands:
        earlier = first.get(command.name)
        if earlier is None:
            first[command.name] = command
            continue
        same = (earlier.executable, earlier.timeout_allowed, earlier.extra_args,
                earlier.expect) == (command.executable, command.timeout_allowed,
                                    command.extra_args, command.expect)
        where = (command.line, command.column)
        if same:
            context.findings.info("AR-DUP-COMMAND", where,
                                  f"<command> '{quoted(command.name)}' repeats the one at line "
                                  f"{earlier.line}")
        else:
            context.findings.warning(
                "AR-DUP-COMMAND", where,
                f"a <command> named '{quoted(command.name)}' is already defined at line "
                f"{earlier.line}: Wazuh uses the first one, this one is never used",
                "rename one of them, or delete this one")
