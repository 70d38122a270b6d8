"""What a firing response would really do, for `explain` and the console's alert detail: run
on the manager, not be delivered to an agent (no agent transport), or start a stock script
that stops at once because the alert lacks the field it keys on.

Wazuh's decision ("fires") is kept as it is; this adds what would follow from it. The stock
scripts and their keys are Wazuh's (spec 8.3): the address scripts read
`data.win.eventdata.ipAddress`, then `destinationIp`, then `data.srcip`, and need a numeric
address; `disable-account` needs a `dstuser` that `is_valid_username` accepts. The alert is
read here by the stock scripts' own reader (`arconsole.scripts.protocol`), so explain and the
scripts cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from arconsole.alerts.model import Alert
from arconsole.engine.decide import ResponseDecision
from arconsole.safetext import literal
from arconsole.scripts.protocol import JsonObject, Message

WOULD_RUN = "would-run"
NOT_DELIVERED = "not-delivered"
SCRIPT_REFUSES = "script-refuses"
SKIPPED = "skipped"  # the response does not fire
WOULD_DELIVER = "would-deliver"  # (the console, with a transport) sent through the queue
MIXED = "mixed"  # a response with several targets and different outcomes

# Wazuh's shipped scripts by the key they act on (spec 8.3, "Keys per shipped script").
ADDRESS_SCRIPTS = frozenset({
    "firewall-drop", "host-deny", "route-null", "firewalld-drop", "ip-customblock", "netsh",
    "ipfw", "npf", "pf",
})
USER_SCRIPTS = frozenset({"disable-account"})
# Without a transport arconsole runs responses on the manager only; `run` has one for agents.
NO_TRANSPORT = ("no agent transport configured (arconsole run --agent-transport wazuh-queue "
                "delivers to agents)")


@dataclass(frozen=True, slots=True)
class Delivery:
    """One target of a firing response and what would happen there."""

    target: str  # "server" for the manager, an agent id, or "all"
    outcome: str  # WOULD_RUN, NOT_DELIVERED or SCRIPT_REFUSES
    detail: str  # one sentence for people

    def to_json(self) -> dict[str, str]:
        return {"target": self.target, "outcome": self.outcome, "detail": self.detail}


def deliveries(decision: ResponseDecision, alert: Alert, *,
               transport: bool = False) -> tuple[Delivery, ...]:
    """What would happen at every target of `decision`; empty when it does not fire.
    `transport`: the engine delivers to agents (--agent-transport wazuh-queue)."""
    if not decision.fires:
        return ()
    response = decision.response
    executable = response.executable or response.command or "?"
    refusal = key_refusal(executable, alert)
    found: list[Delivery] = []
    for target in decision.targets:
        if target == "server":
            if refusal is not None:
                found.append(Delivery(target, SCRIPT_REFUSES, refusal))
            else:
                found.append(Delivery(target, WOULD_RUN, "would run active-response/bin/"
                                      f"{literal(executable)} on the manager"))
        else:
            where = "every active agent" if target == "all" else f"agent {literal(target)}"
            if transport:
                detail = (f"goes to {where} through the manager's queue (wazuh-remoted "
                          "forwards it; whether it left, was confirmed or failed: the blocks "
                          "pane's DELIVERY column)")
                if refusal is not None:
                    detail += f"; there, {refusal.removeprefix('fires, but ')}"
                found.append(Delivery(target, WOULD_DELIVER, detail))
                continue
            detail = f"not delivered to {where}: {NO_TRANSPORT}"
            if refusal is not None:
                detail += f"; even there, {refusal.removeprefix('fires, but ')}"
            found.append(Delivery(target, NOT_DELIVERED, detail))
    return tuple(found)


def summary(found: Sequence[Delivery]) -> str:
    """One outcome for the whole response: SKIPPED, MIXED or the outcome all targets share."""
    outcomes = {delivery.outcome for delivery in found}
    if not outcomes:
        return SKIPPED
    return outcomes.pop() if len(outcomes) == 1 else MIXED


def key_refusal(executable: str, alert: Alert) -> str | None:
    """`fires, but firewall-drop needs srcip and this alert has none` when a stock script
    would stop at once for lack of its key; None when it has it, or is not a stock script."""
    name = executable.removesuffix(".sh")  # OSSEC ships firewall-drop.sh and friends
    if name not in ADDRESS_SCRIPTS and name not in USER_SCRIPTS:
        return None
    message = _as_script_message(alert)
    shown = literal(name)
    if name in ADDRESS_SCRIPTS:
        if message is not None and message.srcip() is not None:
            return None
        present = _address_candidate(message)
        if present is None:
            return f"fires, but {shown} needs srcip and this alert has none"
        return (f"fires, but {shown} needs srcip as a numeric address and this alert's is "
                f"'{literal(present)}'")
    if message is not None and message.dstuser() is not None:
        return None
    if alert.dstuser is None:
        return f"fires, but {shown} needs dstuser and this alert has none"
    return (f"fires, but {shown} refuses dstuser '{literal(alert.dstuser)}' (the script's "
            "username check: never root, no leading -, + or ~, no spaces, ':', ',', '/', '\\' "
            "or '..')")


def _as_script_message(alert: Alert) -> Message | None:
    """The add message execd would send for `alert`, read as the stock scripts read it."""
    raw = alert.raw.decode("utf-8", "replace")
    text = ('{"version":1,"origin":{"name":"explain","module":"wazuh-execd"},"command":"add",'
            f'"parameters":{{"extra_args":[],"alert":{raw},"program":"explain"}}}}')
    return Message.parse(text)


def _address_candidate(message: Message | None) -> str | None:
    """The field the address scripts would take, present but perhaps not an address."""
    data = message.data if message is not None else None
    if data is None:
        return None
    win = data.get_object("win")
    eventdata = win.get_object("eventdata") if isinstance(win, JsonObject) else None
    for source, name in ((eventdata, "ipAddress"), (eventdata, "destinationIp"),
                         (data, "srcip")):
        if source is not None and (value := source.get_string(name)) is not None:
            return value
    return None
