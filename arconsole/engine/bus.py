"""Fan-out of engine events to subscribers that must never slow the engine down.

Publishing never blocks: each subscriber has a bounded buffer, and when it is full the oldest
events are dropped and counted, so a console that falls behind shows "N alerts not shown"
instead of holding the engine back.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from arconsole.engine.events import AlertHandled, Event


class Subscription:
    def __init__(self, bus: EventBus, capacity: int, idle_alerts: bool = True) -> None:
        self._bus = bus
        # Whether it wants alerts that fire nothing (a log that drops them does not): when
        # no subscription does, they are not built at all (most of a quiet backlog).
        self.idle_alerts = idle_alerts
        self._events: deque[Event] = deque()
        self._capacity = capacity
        self._ready = asyncio.Event()
        self.dropped_alerts = 0
        self.dropped_other = 0

    def _push(self, event: Event) -> None:
        events = self._events
        if len(events) >= self._capacity:
            oldest = events.popleft()
            if isinstance(oldest, AlertHandled):
                self.dropped_alerts += 1
            else:
                self.dropped_other += 1
        elif not events:
            self._ready.set()  # only an empty buffer can have a reader waiting on it
        events.append(event)

    async def next_batch(self, max_events: int = 1000) -> list[Event]:
        """Wait for at least one event, then return up to `max_events` of them, oldest first."""
        while not self._events:
            self._ready.clear()
            await self._ready.wait()
        events = self._events
        if len(events) <= max_events:  # all of them (a logger keeping up): no pop each
            batch = list(events)
            events.clear()
            return batch
        return [events.popleft() for _ in range(max_events)]

    def drain(self) -> list[Event]:
        events = list(self._events)
        self._events.clear()
        return events

    def close(self) -> None:
        self._bus.unsubscribe(self)


class EventBus:
    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        # Read before building an event (a backlog builds a few per alert): attributes kept
        # up to date by subscribe/unsubscribe, not a property and a loop per event.
        self.has_subscribers = False
        self.wants_idle_alerts = False  # some subscription wants alerts that fire nothing
        # publish(event): gives the event to every subscription (the one subscription's own
        # push when there is one, as `arconsole run` has: no fan-out call per event).
        self.publish: Callable[[Event], None] = self._to_nobody

    def subscribe(self, capacity: int = 20_000, *, idle_alerts: bool = True) -> Subscription:
        """A new subscription; `idle_alerts=False` when it has no use for alerts that fire
        nothing (it may still get them, when another subscription wants them)."""
        subscription = Subscription(self, capacity, idle_alerts)
        self._subscriptions.append(subscription)
        self._rewire()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
        self._rewire()

    def _rewire(self) -> None:
        subscriptions = self._subscriptions
        self.has_subscribers = bool(subscriptions)
        self.wants_idle_alerts = any(s.idle_alerts for s in subscriptions)
        if not subscriptions:
            self.publish = self._to_nobody
        elif len(subscriptions) == 1:
            self.publish = subscriptions[0]._push
        else:
            self.publish = self._to_all

    def _to_all(self, event: Event) -> None:
        for subscription in self._subscriptions:
            subscription._push(event)

    def _to_nobody(self, event: Event) -> None:
        pass
