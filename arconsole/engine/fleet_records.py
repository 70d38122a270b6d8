"""The fleet's record types and their conversions to and from table rows.

`DeliveryRecord` (one (response, agent) message and its state), `AgentBlock` (a block
arconsole times on an agent), `FleetRow` (a block as the agent's own log reported it, fleet.md
F2, F3) and `NewRecord` (what `FleetStore.append` takes). Plain values: no SQL, no files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

from arconsole.engine.fleet_rowlog import RowImage

DELIVERY_STATES = ("queued", "sending", "sent", "confirmed", "failed", "unconfirmed")


@dataclass(slots=True)
class DeliveryRecord:
    id: int
    response: str
    program: str
    agent: str
    key: str | None
    datagram: bytes | None
    state: str
    reason: str
    queued_at: float
    deadline: float
    sent_at: float | None
    tries: int

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id, "response": self.response, "program": self.program,
            "agent": self.agent, "key": self.key, "state": self.state, "reason": self.reason,
            "queued_at": self.queued_at, "sent_at": self.sent_at, "tries": self.tries,
        }


class AgentBlock(msgspec.Struct, gc=False):
    """A block arconsole holds on an agent: it owns the timer (the agent's run had timeout 0).
    (A msgspec Struct the collector does not track: a burst opens thousands, each built in C
    on the delivery's hot path; all its fields are plain values.)"""

    agent: str
    program: str
    key: str
    response: str
    message: bytes  # the ad-hoc add, sent again when the agent restarts
    flags: str
    timeout: int
    started_at: float
    expires_at: float

    @property
    def row_key(self) -> str:
        return f"{self.agent}:{self.program}-{self.key}"


# A record handed to `FleetStore.append`: (response, program, agent, key, datagram, state,
# reason, queued_at, deadline, the agent block it opens or None). A tuple: one per response.
NewRecord = tuple[str, str, str, "str | None", "bytes | None", str, str, float, float,
                  "AgentBlock | None"]


class FleetRow(msgspec.Struct, gc=False):
    """One (agent, program, key) as the agent's own log reported it. (A msgspec Struct the
    garbage collector does not track: a burst makes thousands, all of plain values.)"""

    agent: str
    program: str
    key: str
    agent_name: str = ""
    active: bool = True
    first_added: float | None = None
    last_added: float | None = None
    lifted_at: float | None = None
    adds: int = 0
    timeout_min: int | None = None  # None: no response of the config binds the trigger
    timeout_max: int | None = None
    responses: str = ""  # names of the binding responses, comma separated
    trigger_rule: str = ""
    trigger_description: str = ""
    trigger_timestamp: str = ""
    last_rule: str = ""

    @property
    def row_key(self) -> str:
        """How operators name it: `AGENT:program-key` (issue 14 item 4)."""
        return f"{self.agent}:{self.program}-{self.key}"


def message_of(datagram: bytes) -> bytes:
    """The JSON of a format-C datagram: `(local_source) [] NNS 001 <json>` + NUL."""
    return datagram.split(b" ", 4)[4].removesuffix(b"\0")


def fleet_row(row: tuple[object, ...]) -> FleetRow:
    """A `fleet_rows` row (or a rows-log image), in its column order, as a `FleetRow`."""
    values = list(row)
    values[4] = bool(values[4])
    return FleetRow(*values)  # type: ignore[arg-type]


def row_images(rows: Iterable[FleetRow]) -> list[RowImage]:
    """The rows as images in `fleet_rows`' column order (the rows log's and the table's):
    `FleetRow` declares its fields in that order (a test holds them equal)."""
    astuple = msgspec.structs.astuple
    return [astuple(row) for row in rows]
