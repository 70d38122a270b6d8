"""Why each response does or does not fire for an alert, in words (`arconsole explain`).

The same checks as the engine's hot path (`Decider.fired`), in Wazuh's order, each adding its
reason: input sanity (6.1), OSSEC's `expect` gate, the white list (4, naming the entry and its
line), routing (3.3). `Decider.decide` calls `explain_bound` for each bound response.
"""

from __future__ import annotations

from dataclasses import dataclass

from arconsole.addresses import strip_mapped
from arconsole.alerts.model import Alert
from arconsole.config.model import Flavour, LocationFlag
from arconsole.engine.agents import MANAGER_ID, AgentDirectory
from arconsole.engine.binding import Plan
from arconsole.engine.decision import (
    ALL_AGENTS,
    IP_OK,
    SERVER,
    USER_OK,
    ResponseDecision,
    crafted_ip,
    crafted_user,
    host_name,
    host_pattern,
    lenient_ipv4,
)
from arconsole.engine.whitelist import WhiteList, respelled_ipv6
from arconsole.safetext import literal


@dataclass(frozen=True, slots=True)
class ExplainContext:
    """What the reasons depend on beyond the response and the alert: one per `Decider`."""

    flavour: Flavour
    whitelist: WhiteList
    agents: AgentDirectory | None
    execd_off_reason: str | None


def explain_bound(
    context: ExplainContext, plan: Plan, alert: Alert, reasons_so_far: tuple[str, ...]
) -> ResponseDecision:
    reasons = list(reasons_so_far)
    blocked = _checks(context, plan, alert, reasons)
    if blocked:
        return ResponseDecision(plan.response, False, tuple(reasons), ())
    targets, route_reason, route_blocked = _targets(context, plan, alert)
    reasons.append(route_reason)
    if route_blocked is not None:
        reasons.append(route_blocked)
        return ResponseDecision(plan.response, False, tuple(reasons), ())
    return ResponseDecision(plan.response, bool(targets), tuple(reasons), targets)


def _checks(context: ExplainContext, plan: Plan, alert: Alert, reasons: list[str]) -> bool:
    """Append the reasons of the input checks; True when they stop the response."""
    wazuh = context.flavour is Flavour.WAZUH
    command = plan.response.command or ""
    blocked = False
    if alert.dstuser is not None and (wazuh or plan.expects_user):
        if crafted_user(alert.dstuser):
            reasons.append(crafted_reason("dstuser", alert.dstuser, wazuh))
            blocked = True
    elif plan.expects_user and not wazuh:
        reasons.append(f"skipped: command '{command}' expects a user and the alert has no "
                       "dstuser (ossec <expect>)")
        blocked = True
    if alert.srcip is not None and (wazuh or plan.expects_srcip):
        if crafted_ip(alert.srcip):
            reasons.append(crafted_reason("srcip", alert.srcip, wazuh))
            blocked = True
        elif not wazuh and host_name(alert.srcip):
            reasons.append(
                f"skipped: srcip '{literal(alert.srcip)}' is a host name: OSSEC's script "
                "would hand it to the firewall, which would resolve it then (whoever answers "
                "for the name would choose what is blocked, white-listed hosts included): "
                "arconsole rejects it (stricter than OSSEC)")
            blocked = True
    elif plan.expects_srcip and not wazuh:
        reasons.append(f"skipped: command '{command}' expects srcip and the alert has none "
                       "(ossec <expect>)")
        blocked = True
    if plan.expects_filename and not wazuh and alert.filename is None:
        reasons.append(f"skipped: command '{command}' expects a filename and the alert is "
                       "not about a file (ossec <expect>)")
        blocked = True
    if blocked:
        return True
    return _white_list(context, plan, alert, reasons)


def _white_list(
    context: ExplainContext, plan: Plan, alert: Alert, reasons: list[str]
) -> bool:
    if not context.whitelist:
        return False
    if context.flavour is Flavour.OSSEC and not plan.expects_srcip:
        reasons.append(f"white list not applied: command '{plan.response.command}' does "
                       "not expect srcip (ossec checks it only for those)")
        return False
    srcip = alert.srcip
    if srcip is None:
        reasons.append("white list not applied: the alert has no srcip (Wazuh checks the "
                       "white list against srcip only)")
        return False
    entry = context.whitelist.match(srcip)
    address = literal(strip_mapped(srcip))
    mapped = " (after removing '::ffff:')" if strip_mapped(srcip) != srcip else ""
    if entry is None and (entry := context.whitelist.match_address(srcip)) is not None:
        mapped = (f" (the firewall reads it as {literal(respelled_ipv6(srcip) or '')}, and so "
                  "does arconsole: stricter than Wazuh, whose white list reads the text)")
    if entry is None:
        reasons.append(f"srcip {address}{mapped} is not white-listed")
        return False
    where = f"<white_list>{literal(entry.text)}</white_list> (line {entry.line})"
    if context.flavour is Flavour.OSSEC and entry.negated and entry.network is not None:
        detail = (f"the ossec white list treats entries from {where} on as exceptions, and "
                  f"{address} is not one of them, so it is white-listed")
    elif entry.negated and entry.network is not None:
        detail = (f"white-listed by {where}: Wazuh drops the '!' of an IP entry, so it "
                  "white-lists that address")
    elif entry.negated:
        detail = (f"white-listed by {where}: a negated pattern white-lists every srcip "
                  "that does not contain it")
    elif entry.network is None:
        detail = (f"white-listed by {where}, a substring pattern matched against the "
                  "srcip text")
    else:
        detail = f"white-listed by {where}"
    scope = ("every response of the alert" if context.flavour is Flavour.WAZUH
             else "the responses that expect srcip")
    reasons.append(f"skipped: srcip {address}{mapped} is {detail}; this stops {scope}")
    return True

# ------------------------------------------------------------------ routing


def _targets(
    context: ExplainContext, plan: Plan, alert: Alert
) -> tuple[tuple[str, ...], str, str | None]:
    """(targets, routing reason, reason it cannot run or None), spec 3.3 in order."""
    response = plan.response
    flags = response.location_flags
    location = f"location '{literal(response.location or '')}'"
    agent_id = alert.agent_id
    if flags & LocationFlag.AS_ONLY:
        if flags & LocationFlag.ALL_AGENTS:
            reason = (f"{location}: 'server' wins over 'all' in Wazuh, so it runs on the "
                      "manager only (use two blocks to reach both)")
        else:
            reason = f"{location}: runs on the manager"
        return (SERVER,), reason, context.execd_off_reason
    manager_event = agent_id == MANAGER_ID or (agent_id is None and alert.agent_name is None)
    if flags & LocationFlag.REMOTE_AGENT and manager_event:
        whose = "agent 000" if agent_id == MANAGER_ID else "no agent"
        reason = f"{location}: the manager's own event ({whose}), so it runs on the manager"
        return (SERVER,), reason, context.execd_off_reason
    if flags & LocationFlag.ALL_AGENTS:
        return _all_agents(context, location)
    if flags & LocationFlag.SPECIFIC_AGENT:
        target = plan.defined_target
        reason = (f"{location}: runs on agent {literal(target)} "
                  f"(<agent_id>{literal(response.agent_id or '')}</agent_id>)")
        if target != response.agent_target:  # ossec: the id as written (defined_target)
            reason += (f": OSSEC's remoted looks the id up as written, so only an agent "
                       f"registered as '{literal(target)}' gets it, not one registered as "
                       f"'{response.agent_target}' (remoted logs \"Agent '{literal(target)}' "
                       "not found.\" (1320) when none is)")
        return (target,), reason, None
    if agent_id is not None:
        reason = f"{location}: runs on agent {literal(agent_id)}, where the event came from"
        return (agent_id,), reason, None
    return _local_by_name(context, location, alert.agent_name or "")


def _all_agents(context: ExplainContext, location: str) -> tuple[tuple[str, ...], str, str | None]:
    if context.agents is None:
        reason = (f"{location}: every active agent, never the manager (no --agents list, "
                  "so the targets are reported as 'all')")
        return (ALL_AGENTS,), reason, None
    active = context.agents.active_ids
    reason = (f"{location}: every active agent, never the manager ({len(active)} of "
              f"{len(context.agents.agents)} listed)")
    if not active:
        source = context.agents.source or "the agent list"
        return (), reason, f"not run: no agent in {source} is active"
    return active, reason, None


def _local_by_name(
    context: ExplainContext, location: str, name: str
) -> tuple[tuple[str, ...], str, str | None]:
    """`local` on an alerts.log record: the record names the agent but gives no id."""
    reason = f"{location}: runs on agent '{literal(name)}', where the event came from"
    agent_id = context.agents.id_of(name) if context.agents is not None else None
    if agent_id is None:
        return (), reason, ("not run: alerts.log names the agent but not its id; pass "
                            "--agents FILE listing it to route the response")
    return (agent_id,), f"{reason} (id {agent_id} from the agent list)", None


def crafted_reason(field_name: str, value: str, wazuh: bool) -> str:
    """Why `value` is refused, true for the flavour followed: Wazuh's analysisd checks both
    fields for every response of the alert; OSSEC's (ossec-hids analysisd.c) only for a
    response whose command expects that field, with the same messages (1271, 1272)."""
    who = "Wazuh" if wazuh else "OSSEC"
    read_as = lenient_ipv4(value) if field_name == "srcip" and IP_OK(value) else None
    if read_as is not None and not value.startswith("-"):
        tools = ("Wazuh's scripts and the firewall read it" if wazuh
                 else "the firewall OSSEC's scripts call (iptables) reads it")
        whose = "whose white list would see no address" if wazuh else \
            "whose input check lets it through"
        return (f"skipped: srcip '{literal(value)}' is not written as an IPv4 address, and "
                f"{tools} as {read_as}: arconsole rejects it as crafted (stricter than {who}, "
                f"{whose})")
    if field_name == "srcip" and IP_OK(value) and not value.startswith("-") and \
            host_pattern(value):
        return (f"skipped: srcip '{literal(value)}' is a host pattern, not an address (a "
                "leading or trailing dot, or two in a row: hosts.deny would deny a whole "
                f"network or domain): arconsole rejects it as crafted (stricter than {who})")
    if value.startswith("-") and (
        (USER_OK if field_name == "dstuser" else IP_OK)(value) is not None
    ):
        return (f"skipped: {field_name} '{literal(value)}' starts with '-': arconsole rejects it "
                f"as crafted (stricter than {who}, whose check lets a leading '-' through, "
                "where it can be read as an option by the scripts' tools)")
    if field_name == "dstuser":
        warning = f"Invalid username '{literal(value)}'. Possible logging attack. (1272)"
    else:
        warning = f"Invalid IP Address '{literal(value)}'. Possible logging attack. (1271)"
    if wazuh:
        return (f"skipped: {field_name} looks crafted; Wazuh warns \"{warning}\" and skips "
                "every response of the alert")
    expects = "a user" if field_name == "dstuser" else "srcip"
    return (f"skipped: {field_name} looks crafted; ossec-analysisd warns \"{warning}\" and "
            f"skips this response (its command expects {expects}; OSSEC checks it only for "
            "such responses)")
