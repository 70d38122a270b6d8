"""After a crash, the sender's mark file decides what was sent, to the datagram.

The crash is staged exactly: five agent responses are recorded while remoted's socket is missing
(nothing can leave), the engine stops, and the mark file is written as a `kill -9` would have
left it: records 1-2 handed to the kernel, record 3 between the `intent` store and the kernel's
answer. The next engine, with the socket present, must send 4 and 5 only, in order, count 1-2
as `sent`, and never send 3 again: 3 counts as sent, in doubt. The agent's own log line for
it (rule 651, program and key) confirms it like any other; with no line within the
confirmation wait it is reported `unconfirmed`, its reason saying it may never have left.

What remains, exactly (no sender can close it: the kernel's `send` and the note after it are
two steps): when a kill lands between the `intent` note and the kernel taking the datagram,
that one response never left and is never sent; it is reported `unconfirmed` (not silently
lost) once the wait passes without its log line. A line for the same agent, program and key
from another delivery (Wazuh's own response for that address, say) would confirm it too: the
log line names no delivery. After a power cut (the mark file is not fsync'd) the state file's
per-batch watermark is what is left: at most one batch may go twice. A mark file of another
state file is not believed; the datagrams themselves live in the spool file.
"""

from __future__ import annotations

import json
from pathlib import Path

from arconsole.engine.agent_delivery import CONFIRM_WAIT
from arconsole.engine.agent_sendmark import SendMark, mark_path, read_mark
from arconsole.engine.agent_spool import spool_path
from arconsole.engine.clock import ManualClock
from arconsole.engine.fleet_store import IN_DOUBT
from tests.engine_support import T0, alert_line
from tests.fleet_support import (
    bind_queue,
    fleet_engine,
    fleet_home,
    queue_path,
    received,
    stored_deliveries,
)
from tests.test_fleet_agent_blocks import ar_651


async def record_five_unsent(home: Path) -> tuple[list[bytes], Path, str]:
    """Five `local` responses for agent 001, recorded with no socket to send them to."""
    engine = await fleet_engine(home)
    try:
        lines = [alert_line(f"7.{n}", rule_id="5710", level=5, agent_id="001",
                            srcip=f"203.0.113.{n}") for n in range(1, 6)]
        for line in lines:
            await engine.handle_line(line)
        await engine.drain()
        records = stored_deliveries(engine.store)
        assert [r.state for r in records] == ["queued"] * 5
        assert [r.id for r in records] == [1, 2, 3, 4, 5]
        datagrams = [r.datagram or b"" for r in records]
        assert all(datagrams) and spool_path(engine.store.path).stat().st_size > 0
        assert engine.agent_delivery is not None and engine.agent_delivery.store is not None
        return datagrams, engine.store.path, engine.agent_delivery.store.db_id()
    finally:
        await engine.stop()


async def test_a_crash_mid_send_leaves_one_record_unknown_and_resends_only_the_rest(
    tmp_path: Path,
) -> None:
    home = fleet_home(tmp_path)
    datagrams, state_path, db_id = await record_five_unsent(home)
    mark = SendMark(mark_path(state_path), db_id, 0)
    for record_id in (1, 2):
        mark.intend(record_id)
        mark.done(record_id)
    mark.intend(3)  # killed here: did record 3 reach the kernel? Nobody can know.
    mark.close()
    assert read_mark(mark_path(state_path), db_id) is not None

    queue = bind_queue(home)
    engine = await fleet_engine(home)
    try:
        delivery = engine.agent_delivery
        assert delivery is not None
        await delivery.wait_idle()
        assert received(queue) == datagrams[3:]  # 4 and 5, once each, in order
        records = stored_deliveries(engine.store)
        assert [r.state for r in records] == ["sent"] * 5
        assert records[2].reason == IN_DOUBT
        assert [r.reason for r in records[:2] + records[3:]] == [""] * 4
        assert all(r.tries == 1 for r in records)
        left = read_mark(mark_path(state_path), db_id)
        assert left is not None and left.sent == 5 and left.uncertain is None
        # The agent's execd ran it and logged it: the line resolves the doubt.
        await engine.handle_line(ar_651("001", "203.0.113.3"))
        await engine.drain()
        records = stored_deliveries(engine.store)
        assert [r.state for r in records] == ["sent", "sent", "confirmed", "sent", "sent"]
        delivery.sweep_unconfirmed()  # the wait has not passed: nothing else changes
        assert [r.state for r in stored_deliveries(engine.store)] == [
            "sent", "sent", "confirmed", "sent", "sent"]
    finally:
        await engine.stop()
        queue.close()

    # And once more: nothing is left to send, nothing is sent again.
    queue_path(home).unlink()
    queue = bind_queue(home)
    engine = await fleet_engine(home)
    try:
        assert engine.agent_delivery is not None
        await engine.agent_delivery.wait_idle()
        states = [r.state for r in stored_deliveries(engine.store)]
        assert states == ["sent", "sent", "confirmed", "sent", "sent"]
    finally:
        await engine.stop()
    assert received(queue) == []
    queue.close()


async def test_a_record_in_doubt_that_no_log_line_confirms_is_reported_unconfirmed(
    tmp_path: Path,
) -> None:
    """Killed between `intent` and `sent` for record 3, and record 3 never reached the agent
    (or the agent never logged it): after the confirmation wait it is `unconfirmed`, its
    reason keeping why it was in doubt; it is still never sent again."""
    home = fleet_home(tmp_path)
    datagrams, state_path, db_id = await record_five_unsent(home)
    mark = SendMark(mark_path(state_path), db_id, 0)
    for record_id in (1, 2):
        mark.intend(record_id)
        mark.done(record_id)
    mark.intend(3)
    mark.close()

    queue = bind_queue(home)
    clock = ManualClock(T0)
    engine = await fleet_engine(home, clock)
    try:
        delivery = engine.agent_delivery
        assert delivery is not None
        await delivery.wait_idle()
        assert received(queue) == datagrams[3:]
        for line in (ar_651("001", "203.0.113.4"), ar_651("001", "203.0.113.5")):
            await engine.handle_line(line)  # 4 and 5 are logged by the agent; 3 never is
        await engine.drain()
        clock.advance(CONFIRM_WAIT - 1)
        delivery.sweep_unconfirmed()
        records = stored_deliveries(engine.store)
        assert [r.state for r in records] == ["sent", "sent", "sent", "confirmed", "confirmed"]
        clock.advance(2)
        delivery.sweep_unconfirmed()
        records = stored_deliveries(engine.store)
        assert [r.state for r in records] == [
            "unconfirmed", "unconfirmed", "unconfirmed", "confirmed", "confirmed"]
        assert records[2].reason.startswith(IN_DOUBT + "; no active-response log line")
        assert records[0].reason.startswith("no active-response log line")
    finally:
        await engine.stop()
    assert received(queue) == []  # 3 never went out again
    queue.close()


async def test_a_mark_file_of_another_state_file_is_not_believed(tmp_path: Path) -> None:
    home = fleet_home(tmp_path)
    datagrams, state_path, _ = await record_five_unsent(home)
    foreign = SendMark(mark_path(state_path), "0" * 32, 0)
    foreign.intend(5)
    foreign.done(5)
    foreign.close()
    queue = bind_queue(home)
    engine = await fleet_engine(home)
    try:
        assert engine.agent_delivery is not None
        await engine.agent_delivery.wait_idle()
        assert received(queue) == datagrams  # all five: none of them had left
        assert [r.state for r in stored_deliveries(engine.store)] == ["sent"] * 5
    finally:
        await engine.stop()
        queue.close()


async def test_records_from_before_the_spool_keep_their_datagram_in_the_state_file(
    tmp_path: Path,
) -> None:
    """A record written by an older arconsole (datagram in the row, no spool columns used) is
    still sent after the upgrade."""
    home = fleet_home(tmp_path)
    datagrams, state_path, _ = await record_five_unsent(home)
    engine = await fleet_engine(home)  # no socket yet: nothing leaves
    try:
        with engine.store.transaction():
            engine.store._conn.execute(
                "UPDATE fleet_deliveries SET datagram = ?, spool_offset = NULL, "
                "spool_length = NULL WHERE id = 1", (datagrams[0],))
    finally:
        await engine.stop()
    spool_path(state_path).write_bytes(b"")  # the spool lost: records 2-5 cannot be sent
    queue = bind_queue(home)
    engine = await fleet_engine(home)
    try:
        assert engine.agent_delivery is not None
        await engine.agent_delivery.wait_idle()
        assert received(queue) == datagrams[:1]
        records = stored_deliveries(engine.store)
        assert [r.state for r in records] == ["sent"] + ["failed"] * 4
        assert all("missing from the delivery spool" in r.reason for r in records[1:])
        assert json.loads(datagrams[0].split(b" ", 4)[4][:-1])["command"] == "!firewall-drop"
    finally:
        await engine.stop()
        queue.close()


OLD_DELIVERIES = """CREATE TABLE fleet_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, response TEXT NOT NULL, program TEXT NOT NULL,
    agent TEXT NOT NULL, key TEXT, datagram BLOB,
    state TEXT NOT NULL CHECK (state IN
        ('queued', 'sending', 'sent', 'confirmed', 'failed', 'unconfirmed')),
    reason TEXT NOT NULL DEFAULT '', queued_at REAL NOT NULL, deadline REAL NOT NULL,
    sent_at REAL, tries INTEGER NOT NULL DEFAULT 0, updated_at REAL NOT NULL)"""


async def test_a_state_file_of_the_previous_arconsole_reads_and_upgrades(tmp_path: Path) -> None:
    """Delivery records as the previous arconsole wrote them (datagram in the row, `sent`
    and `sending` marked per record, no watermark table): `blocks list` reads them without
    taking the file, and an engine upgrades it, settles the interrupted one and sends the
    queued one."""
    import sqlite3

    from arconsole.engine.store import StateStore

    home = fleet_home(tmp_path)
    datagrams, state_path, _ = await record_five_unsent(home)
    for sidecar in (spool_path(state_path), mark_path(state_path)):
        sidecar.unlink()
    conn = sqlite3.connect(state_path)
    conn.executescript("DROP TABLE fleet_deliveries; DROP TABLE fleet_sent_batches;")
    conn.execute(OLD_DELIVERIES)
    conn.execute("CREATE INDEX fleet_deliveries_state ON fleet_deliveries (state, id)")
    conn.executemany(
        "INSERT INTO fleet_deliveries (response, program, agent, key, datagram, state, "
        "queued_at, deadline, sent_at, tries, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        [("firewall-drop", "firewall-drop", "001", f"203.0.113.{n}", datagrams[n - 1], state,
          1.0, 9e12, 2.0 if state == "sent" else None, 1 if state != "queued" else 0, 2.0)
         for n, state in ((1, "sent"), (2, "sending"), (3, "queued"))])
    conn.commit()
    conn.close()

    looking = StateStore.open(state_path, lock=False)
    try:
        old = stored_deliveries(looking)
    finally:
        looking.close()
    assert [(r.state, r.datagram) for r in old] == [
        ("sent", datagrams[0]), ("sending", datagrams[1]), ("queued", datagrams[2])]

    queue = bind_queue(home)
    engine = await fleet_engine(home)
    try:
        assert engine.agent_delivery is not None
        await engine.agent_delivery.wait_idle()
        assert received(queue) == [datagrams[2]]  # only the one never handed over
        records = stored_deliveries(engine.store)
        assert [r.state for r in records] == ["sent", "unconfirmed", "sent"]
        assert records[0].sent_at == 2.0 and records[2].sent_at is not None
        indexes = {row[0] for row in engine.store._conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "fleet_deliveries_state" not in indexes
    finally:
        await engine.stop()
        queue.close()


async def test_a_block_whose_message_was_lost_with_the_spool_is_not_sent_empty(
    tmp_path: Path,
) -> None:
    """Agent blocks keep their message as their delivery's datagram (not twice in the state
    file): with the spool gone, an agent's restart cannot send them again, and says so
    instead of sending an empty message."""
    home = fleet_home(tmp_path)
    _, state_path, _ = await record_five_unsent(home)
    spool_path(state_path).unlink()
    queue = bind_queue(home)
    engine = await fleet_engine(home)
    try:
        assert engine.agent_delivery is not None
        await engine.agent_delivery.wait_idle()
        assert received(queue) == []  # the five records failed: their bytes are gone
        await engine.handle_line(alert_line("7.9", rule_id="503", level=3, agent_id="001",
                                            srcip=None, groups=["ossec"]))
        await engine.drain()
        await engine.agent_delivery.wait_idle()
        assert received(queue) == []
        said = [e.message for e in engine.store.list_events()]
        assert sum("its message is lost" in m for m in said) == 5
    finally:
        await engine.stop()
        queue.close()
