"""The fleet stage: AR log alerts from the followed stream become fleet rows and confirmations.

The intake hands every alert here before deciding it; an agent's AR log alert (fleet.md F2)
updates the fleet table, confirms the deliveries it answers, and is then decided like any
other alert (it fires a response only where one binds it explicitly, as in Wazuh). Only an
AR log alert whose fleet keys cannot be read (ambiguous, nested too deep) is a bad line.

Wazuh's `ar_log_json`/`ar_log` decoders know an AR log line by its text alone, and a syslog
line is decoded after its header: anyone who can log a line of their own on an agent
(`logger`) raises rules 650-658 with the content they like. Only an alert read from an agent's
active-responses.log (`location`, in any install folder) is one: any other is kept out of the
fleet (`from_ar_log`): it adds no row, lifts none and confirms no delivery, is counted
(`status` fleet.refused_not_ar_log) and told at most every ten minutes, and is still decided
like any other alert, as Wazuh decides it.

`double_delivery_warning` (given at start with a transport) is re-exported from the config
layer, where `arconsole check` gives the same warning.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import msgspec

from arconsole.alerts.model import TOO_DEEP, Alert, AlertError
from arconsole.config.double_delivery import (
    double_delivery_warning as double_delivery_warning,
)
from arconsole.engine.agent_blocks import AGENT_STARTED_RULES
from arconsole.engine.agent_delivery import WazuhQueueDelivery
from arconsole.engine.agent_messages import (
    REVERSE_SCRIPT,
    is_agent_id,
    reverse_json,
    reverse_refusal,
)
from arconsole.engine.context import EngineContext
from arconsole.engine.decide import Decider
from arconsole.engine.events import FleetChanged
from arconsole.engine.fleet_bounds import PER_AGENT_ACTIVE, TOTAL_ACTIVE
from arconsole.engine.fleet_store import AgentBlock, FleetRow, FleetStore
from arconsole.engine.fleet_table import (
    AR_GROUP,
    AR_RULE_IDS,
    AmbiguousRowKey,
    ArLogEntry,
    FleetTable,
    consequence,
    describe_end,
    expected_end,
    read_ar_entry,
    row_state,
)
from arconsole.engine.model import ActionResult
from arconsole.engine.store import StoreWriteError
from arconsole.safetext import literal

AR_LOG_NAME = "active-responses.log"  # where execd's scripts log, on every agent
_WINDOWS_DRIVE = re.compile(r"[A-Za-z]:")
FORGED_TELL_EVERY = 600.0  # a stream of forged AR lines is one warning per ten minutes


def from_ar_log(location: str | None) -> bool:
    """The alert was read from an agent's active-responses.log (any folder, any system).

    The file's name decides (a folder path is the install's, whatever it is). A Windows
    agent's location (`active-response\\active-responses.log`, or with a drive) names it on
    a file system where case does not matter; elsewhere the name is exact."""
    if not location:
        return False
    if "\\" in location or _WINDOWS_DRIVE.match(location):
        return re.split(r"[/\\]", location)[-1].lower() == AR_LOG_NAME
    return location.rpartition("/")[2] == AR_LOG_NAME


class FleetStage:
    def __init__(
        self, context: EngineContext, decider: Callable[[], Decider | None],
        delivery: WazuhQueueDelivery | None,
    ) -> None:
        self._context = context
        self._decider = decider
        self.delivery = delivery
        self.table = FleetTable(tell=self._tell)
        self.updates = 0
        self.refused_not_ar_log = 0  # AR log alerts read from elsewhere: kept out of the fleet
        self._forged_told_at = -float("inf")

    def attach(self, store: FleetStore, *, per_agent: int = PER_AGENT_ACTIVE,
               total: int = TOTAL_ACTIVE) -> None:
        """At start: the rows saved by the last run (caps on active rows: fleet_bounds)."""
        self.table = FleetTable(store, write_behind=True, per_agent=per_agent, total=total,
                                tell=self._tell)

    def _tell(self, message: str) -> None:
        self._context.notice("warning", message)

    def counts(self) -> dict[str, int]:
        """The table's size and what bounds it, for `status` (`fleet`)."""
        return {"rows": len(self.table.rows), **self.table.bounds.counts(),
                "refused_not_ar_log": self.refused_not_ar_log}

    def flush(self) -> None:
        self.table.flush()

    def observe(self, alert: Alert, received_at: float) -> None:
        """An alert before it is decided; `AlertError` for an AR line whose fleet keys cannot
        be read (the intake counts and skips it as a bad line)."""
        if alert.rule_id in AGENT_STARTED_RULES and self.delivery is not None:
            if alert.agent_id and not alert.from_manager:
                self.delivery.blocks.agent_started(alert.agent_id)
            return
        if alert.rule_id not in AR_RULE_IDS or AR_GROUP not in alert.groups:
            return
        if not from_ar_log(alert.location):
            self._refuse_forged(alert)
            return
        try:
            entry = read_ar_entry(alert, received_at)
        except RecursionError:  # the fleet's decoders start deeper than the intake's
            raise AlertError(TOO_DEEP) from None
        if entry is None:
            return
        refused: StoreWriteError | None = None
        if entry.command == "add" and self.delivery is not None:
            try:
                self.delivery.confirm(entry.agent, entry.program, entry.key)
            except StoreWriteError as error:  # the row is still the agent's word: applied
                refused = error
        self._apply(entry, received_at)
        if refused is not None:
            raise refused  # the store fault, told by the intake; the alert is still decided

    def _apply(self, entry: ArLogEntry, received_at: float) -> None:
        """The AR log line's row in the fleet table, told to the console (the rows are
        written behind, to the rows log: the state file's lock does not hold them up)."""
        decider = self._decider()
        told = self._context.bus.has_subscribers
        was_active = False
        if told:
            before = self.table.get(entry.agent, entry.program, entry.key)
            was_active = before.active if before is not None else False
        row = self.table.apply(entry, decider.bound_responses if decider else None)
        if row is None:
            return
        self.updates += 1
        if told:
            change = "lifted" if not row.active else ("refreshed" if was_active else "added")
            self._context.bus.publish(FleetChanged(
                at=received_at, change=change, row=row_json(row, self._context.clock.now())))


    def _refuse_forged(self, alert: Alert) -> None:
        """An AR log alert read from another log: counted, told at most every ten minutes,
        not applied (the intake still decides it)."""
        self.refused_not_ar_log += 1
        now = self._context.clock.now()
        if now < self._forged_told_at + FORGED_TELL_EVERY:
            return
        self._forged_told_at = now
        self._tell(
            f"fleet table: an active-response log alert (rule {literal(alert.rule_id)}, agent "
            f"{literal(alert.agent_id or '')}) read from {literal(alert.location or '')}, not "
            f"an agent's {AR_LOG_NAME}: a line logged as an AR log line elsewhere, not applied "
            "to the fleet (decided like any other alert); "
            f"{self.refused_not_ar_log:,} refused so far (status: fleet.refused_not_ar_log), "
            "told at most every ten minutes")

    def reverse_on_agent(self, key: str, operator: str) -> ActionResult | None:
        """`blocks reverse AGENT:program-key`: arconsole's own agent block is reversed now
        (its timer dropped); a block Wazuh's execd holds gets its delete run on the agent, and
        the answer says what the agent's own timer still does (fleet.md F3)."""
        agent, colon, _ = key.partition(":")
        if not colon or not is_agent_id(agent):
            return None
        delivery = self.delivery
        ident = delivery.blocks.find(key) if delivery is not None else None
        if delivery is not None and ident is not None:
            delivery.blocks.reverse(ident, f"reversed by {operator}")
            return ActionResult(True, "reverse", key,
                                f"!{REVERSE_SCRIPT} sent to agent {agent}")
        try:
            row = self.table.find(key)
        except AmbiguousRowKey as error:
            return ActionResult(False, "reverse", key, str(error))
        if row is None or not row.active:
            return None
        refusal = reverse_refusal(row.program, row.key)
        if refusal is not None:  # sending it would be reported "sent" and change nothing
            return ActionResult(False, "reverse", key, f"not sent: {refusal}")
        if delivery is None:
            return ActionResult(False, "reverse", key, "no agent transport "
                                "(--agent-transport wazuh-queue) to reach the agent")
        config = self._context.current_config
        delivery.send_message(f"reverse {row.program}", REVERSE_SCRIPT, row.agent, row.key,
                              reverse_json(node_name=config.node_name, program=row.program,
                                           key=row.key))
        return ActionResult(True, "reverse", key,
                            f"!{REVERSE_SCRIPT} sent to agent {agent}; {consequence(row)}")


    def listing(self) -> list[dict[str, object]]:
        """What `blocks list` shows besides the server's blocks: arconsole's agent blocks and
        the rows the agents reported (Wazuh's own blocks with the consequence of F3)."""
        now = self._context.clock.now()
        delivery = self.delivery
        listing = fleet_listing(self.table.rows.values(),
                                delivery.blocks.blocks.values() if delivery else (), now)
        for entry in listing:  # what the console's TARGET and DELIVERY columns show
            agent, program, target = (str(entry[k]) for k in ("agent", "program", "target"))
            if entry["owner"] == "arconsole" and delivery is not None:
                entry["delivery"] = delivery.delivery_state(agent, program, target)
                entry["agent_name"] = delivery.agent_name(agent)
            else:
                entry["delivery"] = "observed"
                row = self.table.get(agent, program, target)
                entry["agent_name"] = row.agent_name if row is not None else ""
        return listing


def fleet_listing(rows: Iterable[FleetRow], blocks: Iterable[AgentBlock],
                  now: float) -> list[dict[str, object]]:
    ours = {block.row_key for block in blocks}
    listing: list[dict[str, object]] = [
        {"key": block.row_key, "agent": block.agent, "program": block.program,
         "target": block.key, "owner": "arconsole", "state": "active",
         "started_at": block.started_at, "expires_at": block.expires_at,
         "timeout": block.timeout, "response": block.response, "note": "arconsole's timer"}
        for block in blocks
    ]
    for row in rows:
        if row.row_key in ours or not row.active:
            continue
        data = row_json(row, now)
        end = expected_end(row)
        listing.append({"key": row.row_key, "agent": row.agent, "program": row.program,
                        "target": row.key, "owner": "agent execd", "state": data["state"],
                        "expected_end": data["expected_end"], "note": consequence(row),
                        "started_at": row.last_added or 0.0,
                        "expires_at": end[1] if end is not None else 0.0,
                        "timeout": row.timeout_max or 0, "response": row.responses,
                        "rule_id": row.trigger_rule})
    return listing


def row_json(row: FleetRow, now: float) -> dict[str, object]:
    data: dict[str, object] = msgspec.structs.asdict(row)
    data["row_key"] = row.row_key
    data["state"] = row_state(row, now)
    data["expected_end"] = describe_end(row)
    return data
