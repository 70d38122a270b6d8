"""Which responses an alert fires, and why (spec 3.3, 4, 5, 6).

Wazuh binds responses to rules once, when rules load (5.1); arconsole binds them once per
distinct (rule id, level, group string) and caches the result. In Wazuh, routing depends only
on the alert's agent, so what fires is also kept by (rule id, level, group string, agent): the
per-alert work is one lookup, then (only when something fires) the alert-wide checks, each
remembered per value. The checks, in Wazuh's order:

1. input sanity (6.1): a crafted `dstuser` or `srcip` skips the response (wazuh: every
   response of the alert; ossec: the responses whose command expects that field);
2. ossec only: the `expect` gate (a response expecting srcip/user/filename needs it);
3. the white list (4): in wazuh any srcip hit stops every response of the alert; in ossec only
   the responses that expect srcip;
4. routing (3.3): `server`, `local`, `defined-agent`, `all`, in Wazuh's priority order.

arconsole is stricter than Wazuh in one place (scenarios Part E, D1/D2): a srcip or dstuser that
starts with `-` is rejected as crafted too (Wazuh's regexes let `-rf` through).

`Decider.fired` is the engine's hot path and returns only what fires; `Decider.decide` explains
every `<active-response>` of the config, in file order, for `arconsole explain`
(`decide_explain`). Beside it: `decision` (what deciding yields, the input checks), `binding`
(which responses a rule binds).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from arconsole.alerts.model import Alert
from arconsole.config.model import ActiveResponse, Config, Flavour
from arconsole.engine.agents import MANAGER_ID, AgentDirectory
from arconsole.engine.binding import (
    Binding,
    Plan,
    bind_one,
    execd_off_reason,
    make_plan,
    rule_number,
)
from arconsole.engine.decide_explain import ExplainContext, explain_bound
from arconsole.engine.decision import (
    ALL_AGENTS,
    SERVER,
    SERVER_ONLY,
    AlertDecision,
    ResponseDecision,
    crafted_ip,
    crafted_user,
    host_name,
    target_words,
)
from arconsole.engine.whitelist import WhiteList

__all__ = [
    "ALL_AGENTS", "SERVER", "AlertDecision", "Decider", "ResponseDecision", "crafted_ip",
    "crafted_user", "rule_number",
]

_BINDINGS_LIMIT = 65536  # distinct (rule, level, groups) remembered before starting over
# (rule id, level, group string, agent) firing sets remembered; past it the older half goes
# (a fleet of thousands of agents times the rules that fire keeps its working set)
_ROUTED_BY_AGENT_LIMIT = 1 << 18
_ROUTED_LIMIT = 4096  # firing decisions remembered per response (one per target agent)
_VERDICTS_LIMIT = 65536  # srcip and dstuser verdicts remembered before starting over
# Keys of the cached decisions whose targets do not depend on the alert (never an agent id).
_MANAGER, _ALL, _DEFINED = object(), object(), object()
_IP_CRAFTED = 2  # a srcip verdict: refused as crafted (1: white-listed, 0: neither)


class Decider:
    """Decisions for one loaded config (and, for `location=all`, one agent directory)."""

    def __init__(self, config: Config, agents: AgentDirectory | None = None, *,
                 crafted_srcip: Callable[[Alert], None] | None = None,
                 crafted_dstuser: Callable[[Alert], None] | None = None) -> None:
        self.config = config
        # Told of each alert whose responses a crafted srcip or dstuser stopped (crafted_tell).
        self._crafted_srcip = crafted_srcip
        self._crafted_dstuser = crafted_dstuser
        self.agents = agents
        self.flavour = config.flavour
        self.whitelist = WhiteList(config.white_list, config.flavour)
        self._wazuh = config.flavour is Flavour.WAZUH
        self._has_white_list = bool(self.whitelist)
        self._execd_off_reason = execd_off_reason(config)
        # Where `location=all` goes: ("all",) without an agent list, else the active agents.
        self._all_targets: tuple[str, ...] = (
            (ALL_AGENTS,) if agents is None else agents.active_ids
        )
        self._plans = tuple(make_plan(config, response) for response in config.responses)
        self._live = tuple(plan for plan in self._plans if not plan.never)
        self._bindings: dict[tuple[str, int, str], Binding] = {}
        # Wazuh: (rule id, level, group string, agent id or (None, agent name)) -> what fires.
        self._routed: dict[tuple[str, int, str, object], tuple[ResponseDecision, ...]] = {}
        # Wazuh's alert-wide refusals by value: crafted or white-listed srcip, crafted user.
        self._ip_refused: dict[str, int] = {}  # 0, 1 or _IP_CRAFTED
        self._user_refused: dict[str, int] = {}
        self._explaining = ExplainContext(
            self.flavour, self.whitelist, agents, self._execd_off_reason)

    @staticmethod
    def _remember(verdicts: dict[str, int], value: str, refused: int) -> int:
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
        # agent: one lookup by both (a few dozen rules, a few hundred agents).
        agent_id = alert.agent_id
        routed = self._routed.get((alert.rule_id, alert.level, alert.group_string,
                                   agent_id if agent_id is not None else (None, alert.agent_name)))
        if routed is None:
            routed = self._route_all(alert, self._binding(alert))
        if not routed:
            return routed  # nothing to check: most alerts of a quiet rule end here
        # The input checks and the white list hold for every response of the alert. Their
        # verdicts are remembered per value: a few addresses and users make most alerts.
        # Wazuh checks both fields (and warns for each) before it skips the responses.
        dstuser = alert.dstuser
        user_crafted = False
        if dstuser is not None:
            refused = self._user_refused.get(dstuser)
            if refused is None:
                refused = self._remember(self._user_refused, dstuser, crafted_user(dstuser))
            if refused:
                if self._crafted_dstuser is not None:
                    self._crafted_dstuser(alert)
                user_crafted = True
        srcip = alert.srcip
        if srcip is not None:
            refused = self._ip_refused.get(srcip)
            if refused is None:
                verdict = _IP_CRAFTED if crafted_ip(srcip) else int(
                    self._has_white_list and self.whitelist.match_address(srcip) is not None)
                refused = self._remember(self._ip_refused, srcip, verdict)
            if refused:
                if refused == _IP_CRAFTED and self._crafted_srcip is not None:
                    self._crafted_srcip(alert)
                return ()
        return () if user_crafted else routed

    def _route_all(self, alert: Alert, binding: Binding) -> tuple[ResponseDecision, ...]:
        """The firing decisions of the responses bound to the alert's rule, routed for its
        agent (Wazuh: no per-response check depends on anything else), remembered."""
        routed = tuple(
            decision for plan in binding.bound
            if (decision := self._route_decision(plan, alert)) is not None
        )
        agent_id = alert.agent_id
        routes = self._routed
        if len(routes) >= _ROUTED_BY_AGENT_LIMIT:
            for key in list(itertools.islice(routes, _ROUTED_BY_AGENT_LIMIT // 2)):
                del routes[key]  # the oldest half (a dict keeps insertion order)
        routes[(alert.rule_id, alert.level, alert.group_string,
                agent_id if agent_id is not None else (None, alert.agent_name))] = routed
        return routed

    def _ossec_fired(self, alert: Alert) -> tuple[ResponseDecision, ...]:
        """OSSEC: the input checks and the white list hold per response (its `expect`)."""
        return tuple(
            decision for plan in self._binding(alert).bound
            if not self._ossec_blocked(plan, alert)
            and (decision := self._route_decision(plan, alert)) is not None
        )

    def _binding(self, alert: Alert) -> Binding:
        key = (alert.rule_id, alert.level, alert.group_string)
        binding = self._bindings.get(key)
        return binding if binding is not None else self._bind(key)

    def bound_responses(self, alert: Alert) -> tuple[ActiveResponse, ...]:
        """The responses bound to the alert's rule (5.x), before any alert-time check: what
        an agent's execd was told to run for it (the fleet table's expected end)."""
        return tuple(plan.response for plan in self._binding(alert).bound)

    def _ossec_blocked(self, plan: Plan, alert: Alert) -> bool:
        # OSSEC checks the user, then the srcip (warning for each), then the filename.
        blocked = False
        if plan.expects_user:
            dstuser = alert.dstuser
            if dstuser is None:
                blocked = True
            elif crafted_user(dstuser):
                if self._crafted_dstuser is not None:
                    self._crafted_dstuser(alert)
                blocked = True
        if plan.expects_srcip:
            srcip = alert.srcip
            if srcip is None:
                return True
            if crafted_ip(srcip) or host_name(srcip):
                if self._crafted_srcip is not None:
                    self._crafted_srcip(alert)
                return True
            if blocked:
                return True
            if self.whitelist and self.whitelist.match_address(srcip) is not None:
                return True
        return blocked or (plan.expects_filename and alert.filename is None)

    def _route_decision(self, plan: Plan, alert: Alert) -> ResponseDecision | None:
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
            return self._decision(plan, _DEFINED, (plan.defined_target,))
        if agent_id is None:
            if self.agents is None:
                return None
            agent_id = self.agents.id_of(alert.agent_name or "")
            if agent_id is None:
                return None
        decision = plan.decisions.get(agent_id)
        return decision if decision is not None else self._decision(plan, agent_id, (agent_id,))

    @staticmethod
    def _decision(plan: Plan, key: object, targets: tuple[str, ...]) -> ResponseDecision:
        decision = plan.decisions.get(key)
        if decision is None:
            reason = f"fires: bound to the rule; runs on {target_words(targets)}"
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
            decisions.append(explain_bound(self._explaining, plan, alert, binding_reasons))
        return AlertDecision(alert, tuple(decisions))

    # ------------------------------------------------------------------ binding

    def _bind(self, key: tuple[str, int, str]) -> Binding:
        rule_id, level, group_string = key
        number = rule_number(rule_id)
        verdicts = tuple(
            bind_one(plan, level, rule_id, number, group_string, self.flavour)
            for plan in self._live
        )
        bound = tuple(plan for plan, (hit, _) in zip(self._live, verdicts, strict=True) if hit)
        binding = Binding(bound, verdicts)
        if len(self._bindings) >= _BINDINGS_LIMIT:
            self._bindings.clear()
        self._bindings[key] = binding
        return binding
