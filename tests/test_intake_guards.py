"""The intake's two outer guards, reached through the real engine and its real follower.

`Intake._decide` turns anything `Decider.fired` raises into a counted bad line, and
`Intake._deliver` turns anything an agent transport's `deliver` raises into a counted
undelivered response with an error notice: neither may stall the follower (started again at
the very line that raises, it would raise again for good) nor cost the alert's other
responses or the alerts after it. No real input reaches either guard today (the red team's
fixes bounded what used to raise: 5,000-digit rule ids and agent ids, deep nesting), so each
test injects a failing component, named as such, into a real engine following a real file,
and asserts the counted outcome and that nothing else is lost: the other alerts ran, the
alert's other response ran, and the read position was committed past every line.
"""

from __future__ import annotations

import json
from pathlib import Path

from arconsole.alerts.model import Alert
from arconsole.config.model import ActiveResponse
from arconsole.engine.clock import ManualClock
from arconsole.engine.decide import Decider, ResponseDecision
from arconsole.engine.delivery import AgentDelivery
from arconsole.engine.engine import Engine
from arconsole.engine.events import InputError, Notice
from tests.engine_support import (
    T0,
    alert_line,
    command,
    make_home,
    new_engine,
    recorder,
    records,
    response,
    wait_for,
)


class InjectedFailingDecider(Decider):
    """Test only: a real Decider whose `fired` raises for one alert id."""

    failing_alert = "1.2"

    def fired(self, alert: Alert) -> tuple[ResponseDecision, ...]:
        if alert.alert_id == self.failing_alert:
            raise RuntimeError("injected failure in fired")
        return super().fired(alert)


class InjectedFailingDelivery:
    """Test only: the engine's own agent transport, except that it raises for one agent."""

    failing_agent = "002"

    def __init__(self, real: AgentDelivery) -> None:
        self.real = real

    def deliver(self, response: ActiveResponse, target: str, alert: Alert,
                received_at: float) -> None:
        if target == self.failing_agent:
            raise RuntimeError("injected failure in deliver")
        self.real.deliver(response, target, alert, received_at)


def alerts_json(home: Path) -> Path:
    return home / "logs" / "alerts" / "alerts.json"


async def following(home: Path) -> Engine:
    alerts_json(home).write_bytes(b"")
    engine = new_engine(home, ManualClock(T0))
    await engine.start()  # follows alerts.json from its (empty) start
    return engine


def committed_offset(engine: Engine, home: Path) -> int:
    position = engine.store.load_position(str(alerts_json(home)))
    return -1 if position is None else position.offset


async def test_a_raise_in_fired_is_a_counted_bad_line_and_the_follower_goes_on(
    tmp_path: Path
) -> None:
    home = make_home(tmp_path, [command("rec")], [response("rec", location="server", level=5)],
                     {"rec": recorder()})
    engine = await following(home)
    subscription = engine.bus.subscribe()
    engine.intake.decider = InjectedFailingDecider(engine.intake.decider.config)
    try:
        lines = [alert_line(f"1.{n}", srcip=f"203.0.113.{n}") for n in (1, 2, 3)]
        with alerts_json(home).open("ab") as out:
            out.write(b"".join(line + b"\n" for line in lines))
        size = alerts_json(home).stat().st_size
        await wait_for(lambda: engine.stats.alerts == 3 and len(records(home)) == 2)
        await engine.drain()
        engine.intake.commit_position(force=True)
        assert engine.stats.input_errors == 1
        errors = [e for e in subscription.drain() if isinstance(e, InputError)]
        assert [(e.line, e.error) for e in errors] == [
            (2, "the engine could not handle it (RuntimeError: injected failure in fired)")]
        ran = [json.loads(r["stdin"])["parameters"]["alert"]["id"] for r in records(home)]
        assert sorted(ran) == ["1.1", "1.3"]
        assert committed_offset(engine, home) == size  # past the bad line: nothing re-read
    finally:
        await engine.stop()


async def test_a_raise_in_deliver_costs_that_delivery_only(tmp_path: Path) -> None:
    home = make_home(tmp_path, [command("rec")],
                     [response("rec", location="server", level=5),
                      response("rec", location="local", level=5, timeout=600)],
                     {"rec": recorder()})
    engine = await following(home)
    subscription = engine.bus.subscribe()
    engine.intake.delivery = InjectedFailingDelivery(engine.intake.delivery)
    try:
        # The failing alert's id is long (alert text): the notice cuts it.
        ids = ["1.1", "1.2" + "2" * 300, "1.3"]
        lines = [alert_line(alert_id, agent_id=f"00{n}", srcip=f"203.0.113.{n}")
                 for n, alert_id in enumerate(ids, 1)]
        with alerts_json(home).open("ab") as out:
            out.write(b"".join(line + b"\n" for line in lines))
        size = alerts_json(home).stat().st_size
        await wait_for(lambda: engine.stats.alerts == 3 and len(records(home)) == 3)
        await engine.drain()
        engine.intake.commit_position(force=True)
        # Each alert's server response ran, the failing alert's too.
        ran = [json.loads(r["stdin"])["parameters"]["alert"]["id"] for r in records(home)]
        assert sorted(ran) == sorted(ids)
        # Three agent responses undelivered: two by the (real) transport, one by the guard.
        assert engine.stats.undelivered == 3 and engine.stats.input_errors == 0
        notices = [e.message for e in subscription.drain()
                   if isinstance(e, Notice) and e.level == "error"]
        assert notices == [f"rec600 for agent 002 (alert {ids[1][:64]}) not delivered: "
                           "RuntimeError: injected failure in deliver"]
        assert committed_offset(engine, home) == size
    finally:
        await engine.stop()
