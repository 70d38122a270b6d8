"""`<active-response>` blocks (spec 3): read in the order and with the checks of
`ReadActiveResponses`, every block kept in the model with why it never fires."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from arconsole.config.element_options import BlockOptions, ReadContext, read_options
from arconsole.config.findings import Findings, quoted, space_hint
from arconsole.config.hints import suggest
from arconsole.config.model import ActiveResponse, Command, ConfigNode, Flavour, LocationFlag, Role
from arconsole.config.response_values import (
    binds_anything,
    judge_level,
    judge_location,
    judge_repeated_offenders,
    judge_rules_group,
    judge_rules_id,
    level_invalid,
    read_disabled,
    read_level,
    read_timeout,
)
from arconsole.config.values import c_atoi, parse_rules_ids

WAZUH_OPTIONS = ("command", "location", "agent_id", "level", "rules_id", "rules_group",
                 "timeout", "disabled", "repeated_offenders", "ca_store")
OSSEC_OPTIONS = WAZUH_OPTIONS[:-1]
# What an agent's execd reads from its own ossec.conf (spec 3.6), plus the upgrade options.
AGENT_SIDE = frozenset({"disabled", "repeated_offenders", "ca_store", "ca_verification"})


@dataclass(frozen=True, slots=True)
class ResponseRead:
    """A block as the model keeps it, with its element and options for whole-file checks."""

    response: ActiveResponse
    block: ConfigNode
    options: BlockOptions


def read_response(block: ConfigNode, index: int, commands: Mapping[str, Command],
                  context: ReadContext) -> ResponseRead:
    findings = context.findings
    known: tuple[str, ...] = WAZUH_OPTIONS if context.flavour is Flavour.WAZUH else OSSEC_OPTIONS
    elsewhere: dict[str, str] = {}
    if context.role is Role.AGENT:
        known = (*known, "ca_verification")
    else:
        elsewhere["ca_verification"] = ("<ca_verification> is valid only in an agent's "
                                        "ossec.conf (agent-upgrade module)")
    if context.flavour is Flavour.OSSEC:
        elsewhere["ca_store"] = "<ca_store> is a Wazuh option; OSSEC does not know it"
    options = read_options(block, known, findings, repeatable=("ca_store",),
                           elsewhere=elsewhere)
    for node in options.every("repeated_offenders"):
        judge_repeated_offenders(node, findings)
    level = read_level(options, context)
    disabled = read_disabled(options, context)
    rules_id = options.text("rules_id")
    agent_id = options.text("agent_id")
    location = options.text("location")
    response = ActiveResponse(
        index=index, line=block.line, column=block.column,
        command=options.text("command"), location=location,
        location_flags=LocationFlag.NONE, agent_id=agent_id,
        agent_number=c_atoi(agent_id).value if agent_id is not None else 0,
        level=level, rules_id=rules_id,
        rules_ids=parse_rules_ids(rules_id).ids if rules_id is not None else (),
        rules_group=options.text("rules_group"),
        timeout=read_timeout(options, None), timeout_text=options.text("timeout"),
        disabled=disabled, repeated_offenders=options.text("repeated_offenders"),
    )
    read = ResponseRead(response, block, options)
    if context.role is Role.AGENT:
        return _agent_block(read, findings)
    if disabled:
        return _drop(read, disabled_dropped(context.flavour))
    return _manager_block(read, commands, context)


def disabled_dropped(flavour: Flavour) -> str:
    """Why a `<disabled>yes</disabled>` block never fires: both daemons drop it at load."""
    daemon = "Wazuh" if flavour is Flavour.WAZUH else "OSSEC"
    return f"disabled (<disabled>yes</disabled>): {daemon} drops the block at load"


def agent_zero_dropped(agent_id: str, flavour: Flavour) -> str:
    """Why a `defined-agent` block whose `agent_id` reads as 0 never fires (the load's skip
    reason, and explain's). Wazuh drops it at load (1306); OSSEC keeps it and sends each
    firing to remoted with the id as written, which no client.keys entry holds: remoted logs
    (1320) "Agent '...' not found." and nothing runs (O37 `src/remoted/ar-forward.c`)."""
    if flavour is Flavour.WAZUH:
        return (f"defined-agent with agent id '{agent_id}' = 0: Wazuh drops the block "
                "(warning 1306)")
    return (f"defined-agent with agent id '{agent_id}': no agent has that id, so OSSEC's "
            f"remoted runs it nowhere (error 1320: Agent '{agent_id}' not found.)")


def defined_target(response: ActiveResponse, flavour: Flavour) -> str:
    """The agent a `defined-agent` response goes to. Wazuh atoi()s `<agent_id>` (`32` and `032`
    are agent 032). OSSEC's analysisd passes the text to remoted, which looks it up in
    client.keys as written (ossec-hids `OS_IsAllowedID`, a hash of the id strings): `32` is not
    the agent registered as `032` (manage_agents writes ids `%03d`), so a number is kept as
    written. Other text (a list, trailing words) keeps the leading number (`AR-AGENT-ID`)."""
    text = (response.agent_id or "").strip()
    if flavour is Flavour.OSSEC and text.isascii() and text.isdigit():
        return text
    return response.agent_target


def _drop(read: ResponseRead, reason: str) -> ResponseRead:
    response = replace(read.response, kept=False, skip_reason=reason)
    return ResponseRead(response, read.block, read.options)


def _agent_block(read: ResponseRead, findings: Findings) -> ResponseRead:
    """On an agent only `disabled` and `repeated_offenders` are read, by execd (spec 3.6)."""
    others = [name for name in read.options.last if name not in AGENT_SIDE]
    if others:
        findings.warning(
            "AR-AGENT-IGNORED", read.block,
            "an agent does not bind responses: " + ", ".join(f"<{n}>" for n in others)
            + " in an agent's ossec.conf is ignored (only <disabled> and "
            "<repeated_offenders> are read here)",
            "define responses on the manager; or judge with --role manager if this is one")
    return _drop(read, "agent configuration: only <disabled> and <repeated_offenders> are read "
                 "here, by execd")


def _manager_block(read: ResponseRead, commands: Mapping[str, Command],
                   context: ReadContext) -> ResponseRead:
    findings = context.findings
    options, block = read.options, read.block
    command_name, location = options.text("command"), options.text("location")
    if not command_name or not location:
        return _missing_options(read, findings)
    # The filters and the timeout are judged whatever else is wrong with the block.
    _judge_filters(read.response, block, options, context)
    timeout = read_timeout(options, findings)
    flags = judge_location(location, options.last["location"], findings)
    if flags == LocationFlag.NONE:
        findings.error("1302", options.last["location"],
                       f"Invalid active response location: '{quoted(location)}'.",
                       "use local, server, defined-agent or all")
        # Wazuh stops at the first error; the rest of the block is still judged, so that
        # one run of `check` lists every error there is to fix.
        command = _resolve(command_name, options.last["command"], block, commands, findings)
        if command is not None and timeout != 0 and not command.timeout_allowed:
            _timeout_not_allowed(command, options.last["timeout"], context)
        return _drop(read, f"invalid location '{location}' (error 1302)")
    read = ResponseRead(replace(read.response, location_flags=flags), block, options)
    dropped, invalid = _check_agent(read, flags, context)
    if dropped is not None and not invalid:
        return dropped  # 1306: Wazuh drops the block before it looks the command up
    command = _resolve(command_name, options.last["command"], block, commands, findings)
    if dropped is not None:
        return dropped
    if command is None:
        return _drop(read, f"unknown command '{command_name}' (error 1303)")
    if timeout != 0 and not command.timeout_allowed:
        if not _timeout_not_allowed(command, options.last["timeout"], context):
            return _drop(read, f"timeout on '{command_name}', which has no timeout_allowed "
                         "(error 1305 in OSSEC)")
        timeout = 0
    response = replace(read.response, executable=command.executable,
                       extra_args=tuple(command.extra_args_list), timeout=timeout)
    return ResponseRead(response, block, options)


def _missing_options(read: ResponseRead, findings: Findings) -> ResponseRead:
    options = read.options
    if options.has("repeated_offenders"):
        # Accepted silently (the `rpt` flag, C10): only execd reads this block.
        return _drop(read, "no <command>/<location>: only its <repeated_offenders> is read, by "
                     "execd; it binds nothing")
    if options.missing("command") or options.missing("location"):
        absent = [n for n in ("command", "location") if not options.text(n)]
        hint = "add " + " and ".join(f"<{n}>" for n in absent)
        if set(options.last) <= AGENT_SIDE:
            hint = ("this is an agent-side block: on a manager it stops analysisd. Remove it, "
                    "or judge with --role agent if this is an agent's ossec.conf")
        findings.error("1281", read.block,
                       "Missing options in the active response configuration.", hint)
    return _drop(read, "missing <command> or <location> (error 1281)")


def _check_agent(read: ResponseRead, flags: LocationFlag,
                 context: ReadContext) -> tuple[ResponseRead | None, bool]:
    """`defined-agent` needs an agent number (1304, 1306); elsewhere agent_id is unused.

    Returns the dropped block (or None) and whether the drop makes the config invalid.
    """
    findings = context.findings
    options, response = read.options, read.response
    agent_id = response.agent_id
    if not flags & LocationFlag.SPECIFIC_AGENT:
        if agent_id is not None:
            findings.warning("AR-AGENT-ID", options.last["agent_id"],
                             "<agent_id> is used only with location defined-agent: ignored here",
                             "remove <agent_id>, or use <location>defined-agent</location>")
        return None, False
    if agent_id is None:
        if "agent_id" not in options.meant:
            findings.error("1304", options.last["location"], "No agent defined for response.",
                           "add <agent_id> with the agent's number, e.g. 003")
        return _drop(read, "defined-agent without <agent_id> (error 1304)"), True
    node = options.last["agent_id"]
    number = c_atoi(agent_id)
    if number.value == 0:
        if context.flavour is Flavour.WAZUH:
            findings.warning("1306", node,
                             "Invalid agent ID. Use location=server to run AR on the manager.",
                             f"'{quoted(agent_id)}' reads as agent 0: Wazuh drops this block")
            return _drop(read, agent_zero_dropped(agent_id, Flavour.WAZUH)), False
        findings.warning("AR-AGENT-ID", node,
                         f"<agent_id> '{quoted(agent_id)}' names no agent: OSSEC's remoted "
                         f"logs \"Agent '{quoted(agent_id)}' not found.\" (1320) and runs "
                         "this block nowhere",
                         "use <location>server</location> to run it on the manager, or the "
                         "agent's number, e.g. 003")
    elif context.flavour is Flavour.OSSEC and defined_target(response, Flavour.OSSEC) != \
            response.agent_target:
        written = quoted(agent_id.strip())
        findings.warning("AR-AGENT-ID", node,
                         f"<agent_id>{written}</agent_id> reaches only an agent registered "
                         f"as '{written}': OSSEC's remoted looks the id up as written (agent "
                         f"{number.value:03d}, as manage_agents registers it, gets nothing: "
                         f"remoted logs \"Agent '{written}' not found.\" (1320))",
                         f"write the id as client.keys has it, e.g. {number.value:03d}")
    elif number.rest.strip():
        if context.flavour is Flavour.WAZUH:
            how = "Wazuh takes the leading number"
        else:  # remoted looks the text up as written (ossec-hids src/remoted/ar-forward.c)
            how = ("arconsole takes the leading number; OSSEC's remoted looks the text up as "
                   "written: older versions find no such agent (1320), later ones send to "
                   "each id of a comma-separated list")
        findings.warning("AR-AGENT-ID", node,
                         f"<agent_id>{quoted(agent_id)}</agent_id> is read as agent "
                         f"{number.value:03d} only: {how}",
                         "one agent per block; write one <active-response> per agent")
    return None, False


def _resolve(name: str, node: ConfigNode, block: ConfigNode, commands: Mapping[str, Command],
             findings: Findings) -> Command | None:
    """The first command of that name defined before the block, as analysisd finds it
    (`commands`: the first command of each name, in file order)."""
    first = commands.get(name)
    if first is not None and (first.line, first.column) < (block.line, block.column):
        return first
    if first is not None:
        hint = (f"<command> '{quoted(name)}' is defined at line {first.line}, after this block: "
                "Wazuh reads the file in order; move the <command> before it")
    else:
        guess = suggest(name.strip(), list(commands))
        hint = space_hint(name) or (f"did you mean '{guess}'?" if guess else
                                    "define a <command> with this <name> before this block")
    findings.error("1303", node, f"Invalid command '{quoted(name)}' in the active response.", hint)
    return None


def _timeout_not_allowed(command: Command, node: ConfigNode, context: ReadContext) -> bool:
    """Wazuh keeps the block with timeout 0 (info); OSSEC refuses the config. True if kept."""
    message = f"Timeout not allowed for command: '{quoted(command.name)}'."
    if context.flavour is Flavour.OSSEC:
        context.findings.error("1305", node, message,
                               "OSSEC refuses it: set <timeout_allowed>yes</timeout_allowed> "
                               "in the command, or remove <timeout>")
        return False
    context.findings.info("1305", node,
                          message + " The timeout is set to 0: the response is never reversed.",
                          "set <timeout_allowed>yes</timeout_allowed> in the command, or "
                          "remove <timeout>")
    return True


def _judge_filters(response: ActiveResponse, block: ConfigNode, options: BlockOptions,
                   context: ReadContext) -> None:
    findings = context.findings
    judge_level(response.level, options, findings)
    group_ok = True
    if response.rules_group is not None:
        group_ok = judge_rules_group(response.rules_group, options.last["rules_group"], findings)
    if response.rules_id is not None:
        parsed = parse_rules_ids(response.rules_id)
        judge_rules_id(response.rules_id, parsed.ids, parsed.ignored,
                       options.last["rules_id"], findings)
    if level_invalid(options):
        return  # error 1235 says it all
    if not binds_anything(response.level, response.rules_group, group_ok, response.rules_ids,
                          context.flavour):
        findings.warning("AR-BINDS-NOTHING", block, "this block binds no rule: it never fires",
                         "give it a <level> (1-16), a <rules_group> or a <rules_id>")
        return
    wazuh = context.flavour is Flavour.WAZUH
    if wazuh and response.level and response.rules_group is not None:
        findings.info(
            "AR-AND", options.last["level"],
            f"<level> and <rules_group> together: Wazuh 4.x fires only for rules of level >= "
            f"{response.level} that are also in '{quoted(response.rules_group)}' (AND); OSSEC "
            "fires for either (OR)")
    if response.rules_ids and (response.level or response.rules_group is not None):
        others = " and ".join(
            part for part in (f"level >= {response.level}" if response.level else "",
                              "<rules_group>" if response.rules_group is not None else "")
            if part)
        findings.info(
            "AR-OR", options.last["rules_id"],
            f"<rules_id> adds rules, it does not narrow the other filters: this block also "
            f"fires for every rule matching {others}")

