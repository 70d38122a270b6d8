"""Which responses a rule binds (spec 5.1-5.3), and what rules a response out for good.

Wazuh binds responses to rules once, when rules load (5.1); arconsole binds them once per
distinct (rule id, level, group string) (`Decider` caches a `Binding` each). A `Plan` is what
is known about one response before any alert; `bind_one` is Rule_AddAR for one response, with
its reasons in words (for explain); `never_reasons` are the config-level facts that keep a
response from ever firing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from arconsole.config.model import ActiveResponse, Config, Flavour, LocationFlag
from arconsole.config.responses import agent_zero_dropped, defined_target, disabled_dropped
from arconsole.engine.decision import ResponseDecision
from arconsole.osregex import OSRegex, compile_osregex
from arconsole.safetext import literal


def rule_number(rule_id: str) -> int | None:
    """The rule id as Wazuh's integer sigid, or None when it is not a number (or has more
    digits than any sigid: an alert's are the attacker's, and int() refuses 4300)."""
    return int(rule_id) if rule_id.isascii() and rule_id.isdigit() and len(rule_id) <= 18 \
        else None


def expects(response_expect: tuple[str, ...], word: str) -> bool:
    """OSSEC matches `<expect>` by substring (`user` also covers `username`)."""
    return any(word in token for token in response_expect)


@dataclass(slots=True)
class Plan:
    """What is known about one response before any alert: computed once per config."""

    response: ActiveResponse
    never: tuple[str, ...]  # why it can never fire (empty when it can)
    regex: OSRegex | None
    ids: frozenset[int]
    expects_srcip: bool
    expects_user: bool
    expects_filename: bool
    # The location flags as plain booleans: the hot path tests them for every alert.
    as_only: bool
    remote_agent: bool
    all_agents: bool
    specific_agent: bool
    defined_target: str  # where defined-agent goes, as the flavour reads <agent_id>
    # Firing decisions by target agent id (or the Decider's _MANAGER, _ALL, _DEFINED),
    # reused from alert to alert: they are immutable.
    decisions: dict[object, ResponseDecision] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Binding:
    """The responses bound to one (rule id, level, group string), and why each is or is not."""

    bound: tuple[Plan, ...]
    verdicts: tuple[tuple[bool, tuple[str, ...]], ...]  # per plan, file order


def make_plan(config: Config, response: ActiveResponse) -> Plan:
    """What is known about `response` before any alert."""
    command = config.command(response.command) if response.command else None
    regex = compile_osregex(response.rules_group) if response.rules_group is not None else None
    expect = command.expect if command is not None else ()
    flags = response.location_flags
    return Plan(
        response=response,
        as_only=bool(flags & LocationFlag.AS_ONLY),
        remote_agent=bool(flags & LocationFlag.REMOTE_AGENT),
        all_agents=bool(flags & LocationFlag.ALL_AGENTS),
        specific_agent=bool(flags & LocationFlag.SPECIFIC_AGENT),
        defined_target=defined_target(response, config.flavour),
        never=never_reasons(response, command is not None, regex, config.flavour),
        regex=regex,
        ids=frozenset(response.rules_ids),
        expects_srcip=expects(expect, "srcip"),
        expects_user=expects(expect, "user"),
        expects_filename=expects(expect, "filename"),
    )


def bind_one(
    plan: Plan, level: int, rule_id: str, number: int | None, group_string: str,
    flavour: Flavour,
) -> tuple[bool, tuple[str, ...]]:
    """Rule_AddAR for one response (spec 5.2, 5.3): (bound, reasons)."""
    response = plan.response
    if level <= 0:
        return False, ("not bound: rule level 0 never triggers a response (Wazuh stores it as "
                       "9900 and skips it)",)
    reasons: list[str] = []
    level_hit = response.level != 0 and level >= response.level
    if response.level:
        sign = ">=" if level_hit else "<"
        reasons.append(f"rule level {level} {sign} <level>{response.level}</level>")
    group_hit = False
    regex = plan.regex
    if regex is not None:
        pattern = f"<rules_group>{literal(regex.pattern)}</rules_group>"
        if not regex.valid:
            reasons.append(f"{pattern} is not a valid OS_Regex ({regex.error}): it never matches")
        else:
            group_hit = regex.search(group_string)
            verb = "matches" if group_hit else "does not match"
            reasons.append(f"{pattern} {verb} the rule's groups \"{literal(group_string)}\"")
    if flavour is Flavour.WAZUH and response.level and regex is not None:
        hit = level_hit and group_hit
        if level_hit != group_hit:
            reasons.append("wazuh binds <level> AND <rules_group>: both must match")
    else:
        hit = level_hit or group_hit
        if flavour is Flavour.OSSEC and response.level and regex is not None and hit:
            reasons.append("ossec binds <level> OR <rules_group>: one is enough")
    if response.rules_id is not None:
        ids_text = f"<rules_id>{literal(response.rules_id)}</rules_id>"
        if number is not None and number in plan.ids:
            hit = True
            reasons.append(f"{ids_text} lists rule {rule_id}")
        else:
            read = ",".join(str(i) for i in response.rules_ids) or "no id"
            # How Wazuh reads the list, when that is not what it says.
            read_as = "" if read == response.rules_id else f" (read as {read})"
            reasons.append(f"rule {literal(rule_id)} is not in {ids_text}{read_as}")
    verdict = "bound" if hit else "not bound"
    return hit, (f"{verdict}: " + "; ".join(reasons),)


def never_reasons(
    response: ActiveResponse, command_known: bool, regex: OSRegex | None,
    flavour: Flavour,
) -> tuple[str, ...]:
    """Config-level facts that keep a response from ever firing; empty when it can fire.

    A block the loader dropped carries its reason (`skip_reason`); the others are found here.
    """
    agent_zero = bool(response.location_flags & LocationFlag.SPECIFIC_AGENT) \
        and response.agent_number == 0
    if not response.kept or response.disabled:
        if response.skip_reason:
            return (f"never fires: {response.skip_reason}",)
        if response.disabled:
            return (f"never fires: {disabled_dropped(flavour)}",)
        if not agent_zero:
            return ("never fires: the block was dropped at load",)
    if agent_zero:  # dropped (Wazuh) or kept (OSSEC: it goes to no agent)
        return (f"never fires: {agent_zero_dropped(response.agent_id or '', flavour)}",)
    if not command_known or response.executable is None:
        return (f"never fires: unknown command '{response.command or ''}' (error 1303: Wazuh "
                "refuses to start)",)
    if response.level == 0 and regex is None and not response.rules_ids:
        detail = ""
        if response.rules_id is not None:
            detail = f" (<rules_id>{response.rules_id}</rules_id> yields no rule id)"
        return ("never fires: the block binds no rule: it has no <level>, <rules_group> or "
                f"<rules_id>{detail}",)
    return ()


def execd_off_reason(config: Config) -> str | None:
    """C31: the first `<disabled>` of the file switches the manager's execd off."""
    if not config.execd_disabled:
        return None
    first = next((r for r in config.responses if r.disabled), None)
    where = f" (line {first.line})" if first is not None else ""
    return ("not run: the manager's execd is off: the first <disabled> of the file is yes"
            f"{where}, so Wazuh's execd logs 'Active response disabled.' (1350) and runs "
            "nothing on the manager")
