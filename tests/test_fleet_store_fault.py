"""A store fault while the fleet stage reads an agent's AR log alert is the store's fault: it is
told as one (the engine's store fault, retried until it clears), the alert is still counted and
decided like any other (not a bad input line), and the fleet row the line reports is applied
all the same (rows are written behind, to the rows log, and are there after a restart).

What is lost: the confirmation of the delivery the line answers, since the fault refused that
very write: its record stays `sent` (neither lost nor sent twice), and the unconfirmed sweep
reports it after the confirmation wait. Real engine, real SQLite state file whose write lock a
second connection holds (`BEGIN EXCLUSIVE`; SQLITE_BUSY past the busy timeout is a store fault
like a full disk), real datagram socket for Wazuh's queue, real script.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from arconsole.engine.clock import ManualClock
from arconsole.engine.fleet_store import FleetStore
from arconsole.engine.store import StateStore
from tests.engine_support import (
    T0,
    alert_line,
    command,
    make_home,
    recorder,
    records,
    response,
    wait_for,
)
from tests.fleet_support import (
    API_AGENTS,
    bind_queue,
    engine_fleet_store,
    fleet_engine,
    received,
    settle,
)
from tests.test_hostile_fleet import ar_alert

KEY = "198.51.100.7"


def home_with_ar_response(tmp_path: Path) -> Path:
    """Rule 5711 sends host-deny to agent 002; rule 651 (the agent's AR log line) runs a
    stateless server script, so that deciding the AR alert is seen to fire it."""
    home = make_home(
        tmp_path,
        [command("host-deny"), command("record", timeout_allowed=False)],
        [response("host-deny", location="defined-agent", rules_id="5711", timeout=30,
                  extra="<agent_id>002</agent_id>"),
         response("record", location="server", rules_id="651")],
        scripts={"record": recorder()},
    )
    (home / "agents.json").write_text(json.dumps(API_AGENTS))
    return home


async def test_a_busy_state_file_while_an_ar_line_confirms_is_a_store_fault_not_a_bad_line(
        tmp_path: Path) -> None:
    home = home_with_ar_response(tmp_path)
    queue = bind_queue(home)
    clock = ManualClock(T0)
    engine = await fleet_engine(home, clock)
    state_file = home / "var" / "arconsole" / "state.db"
    try:
        await engine.handle_line(alert_line("1.1", rule_id="5711", level=5, agent_id="001",
                                            srcip=KEY))
        await engine.drain()
        await settle(engine)
        assert len(received(queue)) == 1
        store = engine_fleet_store(engine)
        [sent] = store.deliveries("sent")
        assert (sent.agent, sent.key) == ("002", KEY)
        # Keep the test fast: the engine's own connection waits 50 ms, not 5 s, on the lock.
        engine.store._conn.execute("PRAGMA busy_timeout = 50")
        holder = sqlite3.connect(state_file, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        alerts_before = engine.stats.alerts
        try:
            await engine.handle_line(ar_alert("002", "active-response/bin/host-deny", KEY))
            await engine.drain()
            assert engine.store_fault is not None and "busy" in engine.store_fault.lower(), (
                engine.store_fault)
            assert engine.stats.input_errors == 0  # not a bad line
            assert engine.stats.alerts == alerts_before + 1  # counted as an alert
            # Decided like any other alert: rule 651's server response ran for it.
            assert [json.loads(r["stdin"])["parameters"]["alert"]["id"]
                    for r in records(home)] == ["1700000002.9"]
            # The row the line reports is in the fleet table all the same.
            assert list(engine.fleet.table.rows) == [("002", "host-deny", KEY)]
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        # The lock released: the store recovers by itself (its retry).
        clock.advance(1.0)
        await wait_for(lambda: engine.store_fault is None, 5.0)
    finally:
        await engine.stop()
        queue.close()
    # After a restart: the row is there. What the fault cost is that one confirmation: the
    # record is still `sent` (the unconfirmed sweep will say so after the confirmation
    # wait), neither lost nor duplicated.
    with StateStore.open(state_file) as state, FleetStore(state) as fleet:
        assert [(row.agent, row.program, row.key) for row in fleet.load_rows()] == [
            ("002", "host-deny", KEY)]
        assert [(r.id, r.state) for r in fleet.deliveries()] == [(sent.id, "sent")]
