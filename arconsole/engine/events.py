"""Events the engine emits. Immutable, JSON-serialisable, no UI types.

The console (in-process or attached over the control socket) learns everything from these;
it never reads engine internals.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from arconsole.frozen import fast_init


@dataclass(frozen=True, slots=True)
class Event:
    kind: ClassVar[str] = "event"
    at: float

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind
        return data


@dataclass(frozen=True, slots=True)
class AlertHandled(Event):
    """An alert was read and decided. `fired` names the responses dispatched."""

    kind: ClassVar[str] = "alert"
    line: int
    alert_id: str
    rule_id: str
    level: int
    description: str
    agent_id: str | None
    agent_name: str | None
    srcip: str | None
    dstuser: str | None
    fired: tuple[str, ...]
    raw: str  # the alert JSON, as text (console shows it escaped)
    node: str = ""  # the engine that read it, set by a console attached to several


@dataclass(frozen=True, slots=True)
class InputError(Event):
    """A line that could not be read as an alert: counted and skipped."""

    kind: ClassVar[str] = "input-error"
    line: int
    error: str


@dataclass(frozen=True, slots=True)
class ScriptRan(Event):
    """A response script finished (add, delete or argv run), successfully or not."""

    kind: ClassVar[str] = "script"
    action: str  # add | delete | argv-add | argv-delete
    program: str
    key: str | None
    reply: str | None  # continue | abort | None
    returncode: int | None
    timed_out: bool
    ok: bool
    error: str | None
    stderr: str
    duration: float


@dataclass(frozen=True, slots=True)
class BlockChanged(Event):
    """A block was added, refreshed, extended, reversed or failed. `block` is Block.to_json()."""

    kind: ClassVar[str] = "block"
    # added | refreshed | extended | reversing | reversed | failed | untracked | restored
    change: str
    block: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Undelivered(Event):
    """A response routed to an agent: no transport is configured, so it is recorded only."""

    kind: ClassVar[str] = "undelivered"
    response: str
    target: str
    alert_id: str


@dataclass(frozen=True, slots=True)
class DeliveryChanged(Event):
    """A response for an agent moved on: queued, sent, confirmed, failed or unconfirmed."""

    kind: ClassVar[str] = "delivery"
    delivery_id: int
    response: str
    program: str
    agent: str
    key: str | None
    state: str
    reason: str


@dataclass(frozen=True, slots=True)
class FleetChanged(Event):
    """A fleet row (a block an agent reported in its AR log) changed. `row` is its JSON."""

    kind: ClassVar[str] = "fleet"
    change: str  # added | refreshed | lifted
    row: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConfigLoaded(Event):
    """A config was loaded (at start or by a reload). `summary` says what changed."""

    kind: ClassVar[str] = "config"
    generation: int
    path: str
    summary: str
    warnings: int


@dataclass(frozen=True, slots=True)
class ConfigRejected(Event):
    """A reload found errors: the last good config keeps running."""

    kind: ClassVar[str] = "config-rejected"
    path: str
    first_error: str  # PATH:LINE:COL: error: MESSAGE [CODE]
    errors: int


@dataclass(frozen=True, slots=True)
class Notice(Event):
    """A warning or information for the operator (untracked run, recovered state file...)."""

    kind: ClassVar[str] = "notice"
    level: str  # info | warning | error
    message: str


@dataclass(frozen=True, slots=True)
class StoreHealthChanged(Event):
    """The state file stopped or started taking writes again (the store fault, issue 11).

    `fault` says what failed while it fails, None once writes work again; `since` is when
    the fault began. The Notice published with it is the log line; this is the state the
    console shows as a banner until it clears.
    """

    kind: ClassVar[str] = "store-health"
    fault: str | None
    since: float | None


@dataclass(frozen=True, slots=True)
class BacklogProgress(Event):
    """Backlog progress while catching up on the alerts file."""

    kind: ClassVar[str] = "progress"
    done: int
    total: int


@dataclass(frozen=True, slots=True)
class OperatorAction(Event):
    """An operator's action and its outcome, as written to the audit log."""

    kind: ClassVar[str] = "operator"
    operator: str
    action: str
    target: str
    detail: str
    ok: bool


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        AlertHandled,
        InputError,
        ScriptRan,
        BlockChanged,
        Undelivered,
        DeliveryChanged,
        FleetChanged,
        ConfigLoaded,
        ConfigRejected,
        Notice,
        StoreHealthChanged,
        BacklogProgress,
        OperatorAction,
    )
}

_ALL_EVENT_TYPES: tuple[type[Event], ...] = (Event, *EVENT_TYPES.values())
for _event_type in _ALL_EVENT_TYPES:
    fast_init(_event_type)  # a backlog builds two or three events per alert


def event_from_json(data: dict[str, Any]) -> Event:
    """Rebuild an event received over the control socket."""
    payload = dict(data)
    cls = EVENT_TYPES[payload.pop("kind")]
    if "fired" in payload:
        payload["fired"] = tuple(payload["fired"])
    return cls(**payload)
