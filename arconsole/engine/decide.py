"""Which responses an alert fires, and why (spec 3.3, 4, 5, 6).

Wazuh binds responses to rules once, when rules load (5.1); arconsole binds them once per
distinct (rule id, level, group string) and caches the result. In Wazuh, routing depends only
on the alert's agent, so each binding also keeps what fires by agent (a slot per agent, shared
by every binding): the per-alert work is two small lookups, then (only when something fires)
the alert-wide checks, each remembered per value. The checks, in Wazuh's order:

1. input sanity (6.1): a crafted `dstuser` or `srcip` skips the response (wazuh: every
   response of the alert; ossec: the responses whose command expects that field);
2. ossec only: the `expect` gate (a response expecting srcip/user/filename needs it);
3. the white list (4): in wazuh any srcip hit stops every response of the alert; in ossec only
   the responses that expect srcip;
4. routing (3.3): `server`, `local`, `defined-agent`, `all`, in Wazuh's priority order.

arconsole is stricter than Wazuh in one place (scenarios Part E, D1/D2): a srcip or dstuser that
starts with `-` is rejected as crafted too (Wazuh's regexes let `-rf` through).

`Decider.decide` explains every `<active-response>` of the config, in file order, for
`arconsole explain`; `Decider.fired` is the engine's hot path and returns only what fires.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from arconsole.addresses import strip_mapped
from arconsole.alerts.model import Alert
from arconsole.config.model import ActiveResponse, Config, Flavour, LocationFlag
from arconsole.engine.agents import MANAGER_ID, AgentDirectory
from arconsole.engine.whitelist import WhiteList
from arconsole.osregex import OSRegex, compile_osregex
from arconsole.safetext import literal

# Wazuh's POSIX EREs (analysisd.c): anything else is "a possible logging attack".
_USER_OK = re.compile(r"[a-zA-Z._0-9@?-]*").fullmatch
_IP_OK = re.compile(r"[a-zA-Z.:_0-9-]*").fullmatch
_BINDINGS_LIMIT = 65536  # distinct (rule, level, groups) remembered before starting over
_AGENTS_LIMIT = 65536  # agents given a slot before starting over
_ROUTED_LIMIT = 4096  # firing decisions remembered per response (one per target agent)
_VERDICTS_LIMIT = 65536  # srcip and dstuser verdicts remembered before starting over
SERVER = "server"
ALL_AGENTS = "all"
SERVER_ONLY = (SERVER,)
# Keys of the cached decisions whose targets do not depend on the alert (never an agent id).
_MANAGER, _ALL, _DEFINED = object(), object(), object()


@dataclass(frozen=True, slots=True)
class ResponseDecision:
    """One `<active-response>` against one alert: does it fire, where, and why."""

    response: ActiveResponse
    fires: bool
    reasons: tuple[str, ...]
    targets: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        """The object `arconsole explain --format jsonl` prints for this response."""
        response = self.response
        return {
            "index": response.index,
            "line": response.line,
            "command": response.command,
            "name": response.name,
            "fires": self.fires,
            "reasons": list(self.reasons),
            "targets": list(self.targets),
            "timeout": response.timeout,
            "stateful": response.stateful,
        }


@dataclass(frozen=True, slots=True)
class AlertDecision:
    """Every response of the config against one alert, in file order."""

    alert: Alert
    responses: tuple[ResponseDecision, ...]

    @property
    def fired(self) -> tuple[ResponseDecision, ...]:
        return tuple(decision for decision in self.responses if decision.fires)

    def to_json(self, line: int) -> dict[str, object]:
        """The explain object for the alert read at `line` (first line of a record)."""
        alert = self.alert
        return {
            "line": line,
            "alert_id": alert.alert_id,
            "rule_id": alert.rule_id,
            "level": alert.level,
            "agent_id": alert.agent_id,
            "srcip": alert.srcip,
            "dstuser": alert.dstuser,
            "responses": [decision.to_json() for decision in self.responses],
            "error": None,
        }




def rule_number(rule_id: str) -> int | None:
    """The rule id as Wazuh's integer sigid, or None when it is not a number."""
    return int(rule_id) if rule_id.isascii() and rule_id.isdigit() else None


def crafted_user(dstuser: str) -> bool:
    return _USER_OK(dstuser) is None or dstuser.startswith("-")


def crafted_ip(srcip: str) -> bool:
    return _IP_OK(srcip) is None or srcip.startswith("-")


def _expects(response_expect: tuple[str, ...], word: str) -> bool:
    """OSSEC matches `<expect>` by substring (`user` also covers `username`)."""
    return any(word in token for token in response_expect)


@dataclass(slots=True)
class _Plan:
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
    # Firing decisions by target agent id (or _MANAGER, _ALL, _DEFINED), reused from alert
    # to alert: they are immutable.
    decisions: dict[object, ResponseDecision] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Binding:
    """The responses bound to one (rule id, level, group string), and why each is or is not."""

    bound: tuple[_Plan, ...]
    verdicts: tuple[tuple[bool, tuple[str, ...]], ...]  # per plan, file order
    # Wazuh: the firing decisions of `bound` routed for each agent, by the agent's slot.
    routes: list[tuple[ResponseDecision, ...] | None] = field(default_factory=list)


class Decider:
    """Decisions for one loaded config (and, for `location=all`, one agent directory)."""

    def __init__(self, config: Config, agents: AgentDirectory | None = None) -> None:
        self.config = config
        self.agents = agents
        self.flavour = config.flavour
        self.whitelist = WhiteList(config.white_list, config.flavour)
        self._wazuh = config.flavour is Flavour.WAZUH
        self._has_white_list = bool(self.whitelist)
        self._execd_off_reason = _execd_off_reason(config)
        # Where `location=all` goes: ("all",) without an agent list, else the active agents.
        self._all_targets: tuple[str, ...] = (
            (ALL_AGENTS,) if agents is None else agents.active_ids
        )
        self._plans = tuple(self._plan(response) for response in config.responses)
        self._live = tuple(plan for plan in self._plans if not plan.never)
        self._bindings: dict[tuple[str, int, str], _Binding] = {}
        # Wazuh: agent id (or (None, agent name)) -> its slot in every binding's `routes`.
        self._agent_slots: dict[object, int] = {}
        # Wazuh's alert-wide refusals by value: crafted or white-listed srcip, crafted user.
        self._ip_refused: dict[str, bool] = {}
        self._user_refused: dict[str, bool] = {}

    @staticmethod
    def _remember(verdicts: dict[str, bool], value: str, refused: bool) -> bool:
        if len(verdicts) >= _VERDICTS_LIMIT:
            verdicts.clear()
        verdicts[value] = refused
        return refused

    # ------------------------------------------------------------------ hot path

    def fired(self, alert: Alert) -> tuple[ResponseDecision, ...]:
        """Only the responses that fire, in file order; reasons are short here."""
        if not self._wazuh:
            return self._ossec_fired(alert)
        # Wazuh: what fires, before the alert-wide checks, depends only on the rule and the
        # agent: the rule's binding (a few dozen, found by objects the decoder shares) holds
        # it by the agent's slot (a few hundred agents, one small table for every rule).
        binding = self._bindings.get((alert.rule_id, alert.level, alert.group_string))
        if binding is None:
            binding = self._binding(alert)
        agent_id = alert.agent_id
        slot = self._agent_slots.get(agent_id if agent_id is not None else (None, alert.agent_name))
        routes = binding.routes
        if slot is None or slot >= len(routes) or (routed := routes[slot]) is None:
            routed = self._route_all(alert, binding)
        if not routed:
            return routed  # nothing to check: most alerts of a quiet rule end here
        # The input checks and the white list hold for every response of the alert. Their
        # verdicts are remembered per value: a few addresses and users make most alerts.
        dstuser = alert.dstuser
        if dstuser is not None:
            refused = self._user_refused.get(dstuser)
            if refused is None:
                refused = self._remember(self._user_refused, dstuser, crafted_user(dstuser))
            if refused:
                return ()
        srcip = alert.srcip
        if srcip is not None:
            refused = self._ip_refused.get(srcip)
            if refused is None:
                refused = self._remember(self._ip_refused, srcip, crafted_ip(srcip) or (
                    self._has_white_list and self.whitelist.match(srcip) is not None))
            if refused:
                return ()
        return routed

    def _route_all(self, alert: Alert, binding: _Binding) -> tuple[ResponseDecision, ...]:
        """The firing decisions of the responses bound to the alert's rule, routed for its
        agent (Wazuh: no per-response check depends on anything else), remembered."""
        routed = tuple(
            decision for plan in binding.bound
            if (decision := self._route_decision(plan, alert)) is not None
        )
        agent_id = alert.agent_id
        agent: object = agent_id if agent_id is not None else (None, alert.agent_name)
        slot = self._agent_slots.get(agent)
        if slot is None:
            if len(self._agent_slots) >= _AGENTS_LIMIT:  # start over, every rule's too
                self._agent_slots.clear()
                for known in self._bindings.values():
                    known.routes.clear()
            slot = self._agent_slots[agent] = len(self._agent_slots)
        routes = binding.routes
        if slot >= len(routes):
            routes.extend([None] * (slot + 1 - len(routes)))
        routes[slot] = routed
        return routed

    def _ossec_fired(self, alert: Alert) -> tuple[ResponseDecision, ...]:
        """OSSEC: the input checks and the white list hold per response (its `expect`)."""
        return tuple(
            decision for plan in self._binding(alert).bound
            if not self._ossec_blocked(plan, alert)
            and (decision := self._route_decision(plan, alert)) is not None
        )

    def _binding(self, alert: Alert) -> _Binding:
        key = (alert.rule_id, alert.level, alert.group_string)
        binding = self._bindings.get(key)
        return binding if binding is not None else self._bind(key)

    def bound_responses(self, alert: Alert) -> tuple[ActiveResponse, ...]:
        """The responses bound to the alert's rule (5.x), before any alert-time check: what
        an agent's execd was told to run for it (the fleet table's expected end)."""
        return tuple(plan.response for plan in self._binding(alert).bound)

    def _ossec_blocked(self, plan: _Plan, alert: Alert) -> bool:
        if plan.expects_user and (alert.dstuser is None or crafted_user(alert.dstuser)):
            return True
        if plan.expects_srcip:
            srcip = alert.srcip
            if srcip is None or crafted_ip(srcip):
                return True
            if self.whitelist and self.whitelist.match(srcip) is not None:
                return True
        return plan.expects_filename and alert.filename is None

    def _route_decision(self, plan: _Plan, alert: Alert) -> ResponseDecision | None:
        """Spec 3.3 without the words: the same order as `_targets`, cached per target."""
        if plan.as_only:
            return None if self._execd_off_reason else self._decision(plan, _MANAGER, SERVER_ONLY)
        agent_id = alert.agent_id
        if plan.remote_agent and (
            agent_id == MANAGER_ID or (agent_id is None and alert.agent_name is None)
        ):
            return None if self._execd_off_reason else self._decision(plan, _MANAGER, SERVER_ONLY)
        if plan.all_agents:
            active = self._all_targets
            return self._decision(plan, _ALL, active) if active else None
        if plan.specific_agent:
            return self._decision(plan, _DEFINED, (plan.response.agent_target,))
        if agent_id is None:
            if self.agents is None:
                return None
            agent_id = self.agents.id_of(alert.agent_name or "")
            if agent_id is None:
                return None
        decision = plan.decisions.get(agent_id)
        return decision if decision is not None else self._decision(plan, agent_id, (agent_id,))

    @staticmethod
    def _decision(plan: _Plan, key: object, targets: tuple[str, ...]) -> ResponseDecision:
        decision = plan.decisions.get(key)
        if decision is None:
            reason = f"fires: bound to the rule; runs on {_target_words(targets)}"
            decision = ResponseDecision(plan.response, True, (reason,), targets)
            if len(plan.decisions) >= _ROUTED_LIMIT:
                plan.decisions.clear()
            plan.decisions[key] = decision
        return decision

    # ------------------------------------------------------------------ explain

    def decide(self, alert: Alert) -> AlertDecision:
        """Every response of the config, in file order, with the reasons for each."""
        binding = self._binding(alert)
        verdicts = dict(zip((id(plan) for plan in self._live), binding.verdicts, strict=True))
        decisions = []
        for plan in self._plans:
            if plan.never:
                decisions.append(ResponseDecision(plan.response, False, plan.never, ()))
                continue
            bound, binding_reasons = verdicts[id(plan)]
            if not bound:
                decisions.append(ResponseDecision(plan.response, False, binding_reasons, ()))
                continue
            decisions.append(self._explain_bound(plan, alert, binding_reasons))
        return AlertDecision(alert, tuple(decisions))

    def _explain_bound(
        self, plan: _Plan, alert: Alert, reasons_so_far: tuple[str, ...]
    ) -> ResponseDecision:
        reasons = list(reasons_so_far)
        blocked = self._explain_checks(plan, alert, reasons)
        if blocked:
            return ResponseDecision(plan.response, False, tuple(reasons), ())
        targets, route_reason, route_blocked = self._targets(plan, alert)
        reasons.append(route_reason)
        if route_blocked is not None:
            reasons.append(route_blocked)
            return ResponseDecision(plan.response, False, tuple(reasons), ())
        return ResponseDecision(plan.response, bool(targets), tuple(reasons), targets)

    def _explain_checks(self, plan: _Plan, alert: Alert, reasons: list[str]) -> bool:
        """Append the reasons of the input checks; True when they stop the response."""
        wazuh = self.flavour is Flavour.WAZUH
        command = plan.response.command or ""
        blocked = False
        if alert.dstuser is not None and (wazuh or plan.expects_user):
            if crafted_user(alert.dstuser):
                reasons.append(_crafted_reason("dstuser", alert.dstuser, wazuh))
                blocked = True
        elif plan.expects_user and not wazuh:
            reasons.append(f"skipped: command '{command}' expects a user and the alert has no "
                           "dstuser (ossec <expect>)")
            blocked = True
        if alert.srcip is not None and (wazuh or plan.expects_srcip):
            if crafted_ip(alert.srcip):
                reasons.append(_crafted_reason("srcip", alert.srcip, wazuh))
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
        return self._explain_white_list(plan, alert, reasons)

    def _explain_white_list(self, plan: _Plan, alert: Alert, reasons: list[str]) -> bool:
        if not self.whitelist:
            return False
        if self.flavour is Flavour.OSSEC and not plan.expects_srcip:
            reasons.append(f"white list not applied: command '{plan.response.command}' does "
                           "not expect srcip (ossec checks it only for those)")
            return False
        srcip = alert.srcip
        if srcip is None:
            reasons.append("white list not applied: the alert has no srcip (Wazuh checks the "
                           "white list against srcip only)")
            return False
        entry = self.whitelist.match(srcip)
        address = literal(strip_mapped(srcip))
        mapped = " (after removing '::ffff:')" if strip_mapped(srcip) != srcip else ""
        if entry is None:
            reasons.append(f"srcip {address}{mapped} is not white-listed")
            return False
        where = f"<white_list>{literal(entry.text)}</white_list> (line {entry.line})"
        if self.flavour is Flavour.OSSEC and entry.negated and entry.network is not None:
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
        scope = ("every response of the alert" if self.flavour is Flavour.WAZUH
                 else "the responses that expect srcip")
        reasons.append(f"skipped: srcip {address}{mapped} is {detail}; this stops {scope}")
        return True

    # ------------------------------------------------------------------ routing

    def _targets(
        self, plan: _Plan, alert: Alert
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
            return (SERVER,), reason, self._execd_off_reason
        manager_event = agent_id == MANAGER_ID or (agent_id is None and alert.agent_name is None)
        if flags & LocationFlag.REMOTE_AGENT and manager_event:
            whose = "agent 000" if agent_id == MANAGER_ID else "no agent"
            reason = f"{location}: the manager's own event ({whose}), so it runs on the manager"
            return (SERVER,), reason, self._execd_off_reason
        if flags & LocationFlag.ALL_AGENTS:
            return self._all_agents(location)
        if flags & LocationFlag.SPECIFIC_AGENT:
            target = response.agent_target
            reason = (f"{location}: runs on agent {target} "
                      f"(<agent_id>{literal(response.agent_id or '')}</agent_id>)")
            return (target,), reason, None
        if agent_id is not None:
            reason = f"{location}: runs on agent {literal(agent_id)}, where the event came from"
            return (agent_id,), reason, None
        return self._local_by_name(location, alert.agent_name or "")

    def _all_agents(self, location: str) -> tuple[tuple[str, ...], str, str | None]:
        if self.agents is None:
            reason = (f"{location}: every active agent, never the manager (no --agents list, "
                      "so the targets are reported as 'all')")
            return (ALL_AGENTS,), reason, None
        active = self.agents.active_ids
        reason = (f"{location}: every active agent, never the manager ({len(active)} of "
                  f"{len(self.agents.agents)} listed)")
        if not active:
            source = self.agents.source or "the agent list"
            return (), reason, f"not run: no agent in {source} is active"
        return active, reason, None

    def _local_by_name(
        self, location: str, name: str
    ) -> tuple[tuple[str, ...], str, str | None]:
        """`local` on an alerts.log record: the record names the agent but gives no id."""
        reason = f"{location}: runs on agent '{literal(name)}', where the event came from"
        agent_id = self.agents.id_of(name) if self.agents is not None else None
        if agent_id is None:
            return (), reason, ("not run: alerts.log names the agent but not its id; pass "
                                "--agents FILE listing it to route the response")
        return (agent_id,), f"{reason} (id {agent_id} from the agent list)", None

    # ------------------------------------------------------------------ binding

    def _plan(self, response: ActiveResponse) -> _Plan:
        command = self.config.command(response.command) if response.command else None
        regex = compile_osregex(response.rules_group) if response.rules_group is not None else None
        expect = command.expect if command is not None else ()
        flags = response.location_flags
        return _Plan(
            response=response,
            as_only=bool(flags & LocationFlag.AS_ONLY),
            remote_agent=bool(flags & LocationFlag.REMOTE_AGENT),
            all_agents=bool(flags & LocationFlag.ALL_AGENTS),
            specific_agent=bool(flags & LocationFlag.SPECIFIC_AGENT),
            never=_never_reasons(response, command is not None, regex),
            regex=regex,
            ids=frozenset(response.rules_ids),
            expects_srcip=_expects(expect, "srcip"),
            expects_user=_expects(expect, "user"),
            expects_filename=_expects(expect, "filename"),
        )

    def _bind(self, key: tuple[str, int, str]) -> _Binding:
        rule_id, level, group_string = key
        number = rule_number(rule_id)
        verdicts = tuple(
            _bind_one(plan, level, rule_id, number, group_string, self.flavour)
            for plan in self._live
        )
        bound = tuple(plan for plan, (hit, _) in zip(self._live, verdicts, strict=True) if hit)
        binding = _Binding(bound, verdicts)
        if len(self._bindings) >= _BINDINGS_LIMIT:
            self._bindings.clear()
        self._bindings[key] = binding
        return binding


def _bind_one(
    plan: _Plan, level: int, rule_id: str, number: int | None, group_string: str,
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
            reasons.append(f"rule {literal(rule_id)} is not in {ids_text} (read as {read})")
    verdict = "bound" if hit else "not bound"
    return hit, (f"{verdict}: " + "; ".join(reasons),)


def _never_reasons(
    response: ActiveResponse, command_known: bool, regex: OSRegex | None
) -> tuple[str, ...]:
    """Config-level facts that keep a response from ever firing; empty when it can fire.

    A block the loader dropped carries its reason (`skip_reason`); the others are found here.
    """
    if not response.kept or response.disabled:
        if response.skip_reason:
            return (f"never fires: {response.skip_reason}",)
        if response.disabled:
            return ("never fires: disabled (<disabled>yes</disabled>): Wazuh drops the block "
                    "at load",)
        if response.location_flags & LocationFlag.SPECIFIC_AGENT and response.agent_number == 0:
            return (f"never fires: defined-agent with agent id '{response.agent_id or ''}' = 0: "
                    "Wazuh drops the block (warning 1306)",)
        return ("never fires: the block was dropped at load",)
    if response.location_flags & LocationFlag.SPECIFIC_AGENT and response.agent_number == 0:
        return (f"never fires: defined-agent with agent id '{response.agent_id or ''}' = 0: "
                "Wazuh drops the block (warning 1306)",)
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


def _execd_off_reason(config: Config) -> str | None:
    """C31: the first `<disabled>` of the file switches the manager's execd off."""
    if not config.execd_disabled:
        return None
    first = next((r for r in config.responses if r.disabled), None)
    where = f" (line {first.line})" if first is not None else ""
    return ("not run: the manager's execd is off: the first <disabled> of the file is yes"
            f"{where}, so Wazuh's execd logs 'Active response disabled.' (1350) and runs "
            "nothing on the manager")


def _crafted_reason(field_name: str, value: str, wazuh: bool) -> str:
    if value.startswith("-") and (
        (_USER_OK if field_name == "dstuser" else _IP_OK)(value) is not None
    ):
        return (f"skipped: {field_name} '{literal(value)}' starts with '-': arconsole rejects it "
                "as crafted (stricter than Wazuh, whose check lets a leading '-' through, "
                "where it can be read as an option by the scripts' tools)")
    if field_name == "dstuser":
        warning = f"Invalid username '{literal(value)}'. Possible logging attack. (1272)"
    else:
        warning = f"Invalid IP Address '{literal(value)}'. Possible logging attack. (1271)"
    scope = "every response of the alert" if wazuh else "this response"
    return f"skipped: {field_name} looks crafted; Wazuh warns \"{warning}\" and skips {scope}"


def _target_words(targets: tuple[str, ...]) -> str:
    if targets == (SERVER,):
        return "the manager"
    if targets == (ALL_AGENTS,):
        return "every active agent"
    return "agent " + ", ".join(targets) if len(targets) == 1 else "agents " + ", ".join(targets)
