"""From engine events to screen updates, without ever holding the engine back.

The engine publishes into a bounded subscription (`EngineLink.events()`); the bridge drains
it as fast as it comes and only *accumulates*: alerts into a bounded buffer (the oldest are
dropped and counted when the screen falls behind), block changes coalesced per key (only
the latest state of a block matters to the table), other events in order, also bounded.
The console takes the accumulated batch when it is ready to draw, at most a few times a
second, so the cost of drawing is independent of the alert rate.

Nothing here imports Textual: the bridge is tested (and benchmarked) on its own.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from arconsole.engine.events import AlertHandled, BlockChanged, Event
from arconsole.engine.link import EngineLink


@dataclass(slots=True)
class BridgeBatch:
    """What happened since the last take, ready to draw."""

    alerts: list[AlertHandled] = field(default_factory=list)  # oldest first
    alerts_seen: int = 0  # alerts received in this batch, shown or not
    alerts_not_shown: int = 0  # dropped here because the screen fell behind
    blocks: dict[str, BlockChanged] = field(default_factory=dict)  # latest change per key
    events: list[Event] = field(default_factory=list)  # non-alert events, oldest first
    events_not_shown: int = 0

    @property
    def empty(self) -> bool:
        return not (self.alerts_seen or self.blocks or self.events or self.events_not_shown)


class EventBridge:
    """Accumulates engine events between two screen updates."""

    def __init__(self, *, alert_capacity: int = 2_000, event_capacity: int = 5_000) -> None:
        self._alerts: deque[AlertHandled] = deque(maxlen=alert_capacity)
        self._events: deque[Event] = deque(maxlen=event_capacity)
        self._blocks: dict[str, BlockChanged] = {}
        self._alerts_seen = 0
        self._alerts_dropped = 0
        self._events_dropped = 0
        self.alerts_total = 0  # every alert ever received, for rates
        self.alerts_not_shown_total = 0  # every alert dropped here, ever
        self.ended = False  # the event stream ended (attached engine stopped)

    @property
    def pending_alerts(self) -> int:
        """Alerts received since the last take."""
        return self._alerts_seen

    @property
    def dirty(self) -> bool:
        return bool(self._alerts_seen or self._blocks or self._events or self._events_dropped)

    def absorb(self, events: Iterable[Event]) -> None:
        alerts = self._alerts
        for event in events:
            if isinstance(event, AlertHandled):
                self._alerts_seen += 1
                if len(alerts) == alerts.maxlen:
                    self._alerts_dropped += 1
                alerts.append(event)
                continue
            if isinstance(event, BlockChanged):
                key = str(event.block.get("key"))
                self._blocks[key] = event
            if len(self._events) == self._events.maxlen:
                self._events_dropped += 1
            self._events.append(event)

    def take(self) -> BridgeBatch:
        batch = BridgeBatch(
            alerts=list(self._alerts),
            alerts_seen=self._alerts_seen,
            alerts_not_shown=self._alerts_dropped,
            blocks=self._blocks,
            events=list(self._events),
            events_not_shown=self._events_dropped,
        )
        self.alerts_total += self._alerts_seen
        self.alerts_not_shown_total += self._alerts_dropped
        self._alerts.clear()
        self._events.clear()
        self._blocks = {}
        self._alerts_seen = self._alerts_dropped = self._events_dropped = 0
        return batch

    async def pump(self, link: EngineLink, wake: Callable[[], None]) -> None:
        """Drain the link until its stream ends; `wake` is called when a batch is waiting.

        `wake` must be cheap and idempotent: it is called after every engine batch, and the
        console coalesces the calls into one redraw.
        """
        async for batch in link.events():
            self.absorb(batch)
            wake()
        self.ended = True
        wake()
