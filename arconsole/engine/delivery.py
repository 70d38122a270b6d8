"""Delivery: what happens to a response routed to an agent (`local` on an agent, a
`defined-agent`, `all`). Without an agent transport it is recorded as not delivered, with
the reason, and counted; a transport stage takes its place when one is configured."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

from arconsole.alerts.model import Alert
from arconsole.config.model import ActiveResponse
from arconsole.engine.context import EngineContext
from arconsole.engine.events import Undelivered


class AgentDelivery(Protocol):
    def deliver(
        self, response: ActiveResponse, target: str, alert: Alert, received_at: float
    ) -> Awaitable[None] | None:
        """Record at once, and return the work still to do (its read position waits for it)."""
        ...


class NoTransport:
    """No agent transport configured: every agent response is reported undelivered."""

    def __init__(self, context: EngineContext) -> None:
        self._context = context

    def deliver(
        self, response: ActiveResponse, target: str, alert: Alert, received_at: float
    ) -> Awaitable[None] | None:
        context = self._context
        context.stats.undelivered += 1
        if context.bus.has_subscribers:
            context.bus.publish(Undelivered(received_at, response.name, target, alert.alert_id))
        return None
