"""The spool entry is the durable delivery record, and the rows log holds the fleet rows'
images; the state file indexes both lazily.

A burst of agent responses is written as spool entries only (no SQLite row on the way): the
tests check that the rows really are not there while the engine runs, that `blocks list` on a
state file no engine holds still shows the agent blocks those entries opened, that a restart
indexes them without sending anything twice, and that a torn tail (a crash mid-write) is cut
off so that later records follow whole entries.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from arconsole.commands.blocks_fleet import stored_fleet
from arconsole.engine.agent_spool import EntryWriter, read_entries, spool_path
from arconsole.engine.fleet_index import _memo_entries
from arconsole.engine.fleet_store import AgentBlock, FleetRow, FleetStore
from arconsole.engine.store import StateStore
from tests.engine_support import alert_line
from tests.fleet_support import (
    bind_queue,
    fleet_engine,
    fleet_home,
    queue_path,
    received,
    stored_deliveries,
)


def rows_in_state_file(path: Path) -> int:
    """What another connection sees committed in the delivery table."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM fleet_deliveries").fetchone()[0])
    finally:
        conn.close()


async def burst(home: Path, first: int, count: int) -> tuple[list[bytes], Path]:
    """`count` local responses for agent 001, sent to a bound queue; the datagrams."""
    queue = bind_queue(home)
    engine = await fleet_engine(home)
    try:
        indexed = rows_in_state_file(engine.store.path)  # what the start indexed
        for n in range(first, first + count):
            await engine.handle_line(alert_line(f"8.{n}", rule_id="5710", level=5,
                                                agent_id="001", srcip=f"198.51.100.{n}"))
        await engine.drain()
        assert engine.agent_delivery is not None
        await engine.agent_delivery.wait_idle()
        # entries only: no SQLite row on the way
        assert rows_in_state_file(engine.store.path) == indexed
        return received(queue), engine.store.path
    finally:
        await engine.stop()
        queue.close()
        queue_path(home).unlink()


async def test_entries_not_yet_indexed_are_listed_and_indexed_at_restart(tmp_path: Path) -> None:
    home = fleet_home(tmp_path)
    sent, state_path = await burst(home, 1, 5)
    assert len(sent) == 5

    looking = StateStore.open(state_path, lock=False)  # `blocks list`, no engine
    try:
        keys = sorted(str(row["key"]) for row in stored_fleet(looking))
    finally:
        looking.close()
    assert keys == sorted(f"001:firewall-drop-198.51.100.{n}" for n in range(1, 6))

    queue = bind_queue(home)
    engine = await fleet_engine(home)
    try:
        assert engine.agent_delivery is not None
        await engine.agent_delivery.wait_idle()
        assert received(queue) == []  # nothing sent twice
        records = stored_deliveries(engine.store)
        assert [(r.id, r.state, r.key) for r in records] == [
            (n, "sent", f"198.51.100.{n}") for n in range(1, 6)]
        assert [r.datagram for r in records] == sent
        assert len(engine.agent_delivery.blocks.blocks) == 5
    finally:
        await engine.stop()
        queue.close()
        queue_path(home).unlink()


async def test_a_torn_tail_is_cut_and_later_records_follow_whole_entries(tmp_path: Path) -> None:
    home = fleet_home(tmp_path)
    first, state_path = await burst(home, 1, 3)
    spool = spool_path(state_path)
    (head, datagram), _ = EntryWriter().entries(
        [("firewall-drop", "firewall-drop", "001", "198.51.100.99", b"x" * 100, "queued", "",
          1.0, 2.0, None)], 99)
    with spool.open("ab") as file:
        file.write(head + datagram[:40])  # a kill mid-write: the entry's datagram cut short
    later, state_path = await burst(home, 4, 2)
    assert len(later) == 2
    reopened = StateStore.open(state_path)  # writable: indexes what the run left
    try:
        records = stored_deliveries(reopened)
    finally:
        reopened.close()
    assert [(r.id, r.key, r.state) for r in records] == [
        (n, f"198.51.100.{n}", "sent") for n in range(1, 6)]
    assert [r.datagram for r in records] == first + later


def test_a_damaged_entry_stops_the_reading() -> None:
    block = AgentBlock("001", "firewall-drop", "k", "r", b"", "NRN", 600, 1.0, 601.0)
    chunks, heads_at = EntryWriter().entries(
        [("r", "firewall-drop", "001", f"k{n}", datagram, "queued", "", 1.0, 2.0, block)
         for n, datagram in ((1, b"abc"), (2, b"def"))], 1)
    assert heads_at == [0, 2]
    heads = [chunks[0], chunks[2]]
    data = b"".join(chunks)
    entries, stop = read_entries(data, 40)
    assert [(e.id, e.key, e.flags, e.block_timeout) for e in entries] == [
        (1, "k1", "NRN", 600), (2, "k2", "NRN", 600)]
    assert [data[e.datagram_offset - 40:][:e.datagram_length] for e in entries] == [
        b"abc", b"def"]
    assert stop == 40 + len(data)
    damaged = bytearray(data)
    damaged[len(heads[0]) + 3 + len(heads[1]) - 2] ^= 1  # a byte of entry 2's key
    entries, stop = read_entries(bytes(damaged), 40)
    assert [e.id for e in entries] == [1] and stop == 40 + len(heads[0]) + 3
    assert read_entries(b"\0" * 200, 40) == ([], 40)  # a zero-filled tail


def test_fleet_rows_go_through_their_log_and_survive_a_torn_tail(tmp_path: Path) -> None:
    """Fleet rows are appended to the rows log, not written to the state file one by one;
    a reader still lists them; the next open indexes them (the last image of a row wins),
    ignores a torn tail and starts the log afresh."""
    from arconsole.alerts.jsonreader import decode_alert_line
    from arconsole.engine.fleet_rowlog import rows_log_path
    from arconsole.engine.fleet_table import FleetTable, read_ar_log_alert
    from tests.engine_support import response
    from tests.test_fleet_table import SAMPLE, decider_for, variant

    if not SAMPLE.exists():
        pytest.skip("../shared/fixtures/real is absent")
    decider = decider_for(tmp_path, [response("firewall-drop", rules_id="5710", timeout=600)])
    state_path = tmp_path / "state.db"
    store = StateStore.open(state_path)
    try:
        fleet = FleetStore(store)
        table = FleetTable(fleet)
        for timestamp in ("2026-05-03T05:25:00.000+0000", "2026-05-03T05:26:00.000+0000"):
            entry = read_ar_log_alert(decode_alert_line(variant(
                "651", command_word="add", program="firewall-drop", timestamp=timestamp)), 0.0)
            assert entry is not None
            table.apply(entry, decider.bound_responses)
        conn = sqlite3.connect(f"file:{state_path}?mode=ro", uri=True)
        try:
            assert conn.execute("SELECT count(*) FROM fleet_rows").fetchone()[0] == 0
        finally:
            conn.close()
        looking = StateStore.open(state_path, lock=False)
        try:
            listed = [(row["key"], row["state"]) for row in stored_fleet(looking)]
        finally:
            looking.close()
        # (overdue by now: the sample is from May; a lifted row would not be listed)
        assert listed == [("001:firewall-drop-192.168.2.65", "overdue")]
    finally:
        fleet.close()
        store.close()
    log = rows_log_path(state_path)
    with log.open("ab") as file:
        file.write(b"\x30\0\0\0\1\2\3\4{\"torn")  # a crash mid-append
    store = StateStore.open(state_path)
    try:
        with FleetStore(store) as fleet:
            rows = fleet.load_rows()
        assert [(r.row_key, r.adds, r.active) for r in rows] == [
            ("001:firewall-drop-192.168.2.65", 2, True)]
        count = store._conn.execute("SELECT count(*) FROM fleet_rows").fetchone()[0]
        assert count == 1
    finally:
        store.close()
    assert log.stat().st_size == 40  # indexed, and started afresh


@pytest.mark.parametrize("burst", [12, 13])
async def test_a_burst_beyond_the_memory_limit_is_read_back_from_the_spool(
    tmp_path: Path, burst: int,
) -> None:
    """More responses in one turn than the sender holds in memory: the rest are read back
    from the spool, failed entries (agent 004, older than 4.2) skipped, every datagram sent
    once and in order. Beyond the 3 in memory the spool holds 5 queued entries (12), or 6:
    its last read-back ends exactly at the spool's end (13)."""
    from arconsole.alerts.jsonreader import decode_alert_line

    home = fleet_home(tmp_path)
    queue = bind_queue(home)
    engine = await fleet_engine(home)
    try:
        delivery = engine.agent_delivery
        assert delivery is not None and engine.config is not None
        delivery._memory_limit = 3
        response = engine.config.responses[0]
        agents = ["001" if n % 3 else "004" for n in range(1, burst + 1)]
        for n, agent in enumerate(agents, 1):
            alert = decode_alert_line(alert_line(f"9.{n}", rule_id="5710", level=5,
                                                 agent_id=agent, srcip=f"198.51.100.{n}"))
            delivery.deliver(response, agent, alert, 1_700_000_000.0)
        await delivery.wait_idle()
        records = stored_deliveries(engine.store)
        assert [(r.agent, r.state) for r in records] == [
            (agent, "sent" if agent == "001" else "failed") for agent in agents]
        assert received(queue) == [r.datagram for r in records if r.agent == "001"]
    finally:
        await engine.stop()
        queue.close()


async def test_the_index_from_memory_equals_the_index_read_back_from_the_spool(
    tmp_path: Path,
) -> None:
    """The engine's own store indexes what it appended from memory; any other store reads
    the entries back: both give the very same rows."""
    home = fleet_home(tmp_path)
    queue = bind_queue(home)
    engine = await fleet_engine(home)
    try:
        for n in range(1, 7):
            await engine.handle_line(alert_line(f"6.{n}", rule_id="5710", level=5,
                                                agent_id="001" if n % 2 else "004",
                                                srcip=f"198.51.100.{n}"))
        await engine.drain()
        delivery = engine.agent_delivery
        assert delivery is not None and delivery.store is not None
        await delivery.wait_idle()
        conn = engine.store._conn
        start = conn.execute("SELECT upto FROM fleet_spool_index").fetchone()[0]
        assert delivery.store._memo  # what the next catch-up will index from memory
        spool = delivery.store.spool()
        assert spool is not None  # the very entries the spool holds, every field
        assert _memo_entries(delivery.store._memo) == spool.entries(start)[0]
        assert delivery.store.catch_up() == 6
        tables = ("SELECT * FROM fleet_deliveries ORDER BY id",
                  "SELECT * FROM fleet_agent_blocks ORDER BY agent, program, key")
        from_memory = [conn.execute(query).fetchall() for query in tables]
        with engine.store.transaction():
            conn.execute("DELETE FROM fleet_deliveries")
            conn.execute("DELETE FROM fleet_agent_blocks")
            conn.execute("UPDATE fleet_spool_index SET upto = ?", (start,))
        FleetStore(engine.store).close()  # another store: reads the entries back
        assert [conn.execute(query).fetchall() for query in tables] == from_memory
        assert len(from_memory[0]) == 6 and len(from_memory[1]) == 3  # 004: failed, no block
    finally:
        await engine.stop()
        queue.close()


def open_files_named(*suffixes: str) -> list[str]:
    """This process's open files whose path ends with one of `suffixes`."""
    found = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:  # closed while listing (the listing's own descriptor)
            continue
        if target.endswith(suffixes):
            found.append(target)
    return found


async def test_the_engine_lets_go_of_the_spool_and_the_rows_log_when_it_stops(
        tmp_path: Path) -> None:
    """`FleetStore.close()`: the engine's stop closes the files beside the state file (they
    stayed open before, until the collector found the store), and a closed store refuses
    to record instead of quietly writing rows into the state file."""
    home = fleet_home(tmp_path)
    engine = await fleet_engine(home)
    try:
        assert sorted(open_files_named(".fleet-spool", ".fleet-rows")) == sorted(
            [str(spool_path(engine.store.path)), str(engine.store.path) + ".fleet-rows"])
        fleet = engine.agent_delivery.store if engine.agent_delivery is not None else None
        assert fleet is not None
    finally:
        await engine.stop()
    assert open_files_named(".fleet-spool", ".fleet-rows") == []
    with pytest.raises(ValueError, match="closed"):
        fleet.append([("r", "firewall-drop", "001", "192.0.2.1", b"x\0", "queued", "", 0.0,
                       1.0, None)])
    with pytest.raises(ValueError, match="closed"):
        fleet.save_rows([])
    fleet.close()  # twice: harmless

    store = StateStore.open(engine.store.path)
    try:
        with FleetStore(store) as reader:
            assert [r.state for r in reader.deliveries()] == []
            assert len(open_files_named(".fleet-spool")) == 1
        assert open_files_named(".fleet-spool", ".fleet-rows") == []
    finally:
        store.close()


async def test_what_remoted_could_not_take_is_recorded_failed_with_its_reason(
        tmp_path: Path) -> None:
    """The per-response plan and the per-agent memo (headers, versions) still refuse what
    they refused one by one: an agent id remoted's header cannot carry (it is alert text), an
    alert too long for one datagram, a NUL byte in the alert; a good record beside them
    goes out, and a refused agent id stays refused when asked again (the memo)."""
    import msgspec

    from arconsole.alerts.jsonreader import decode_alert_line
    from arconsole.alerts.model import Alert

    home = fleet_home(tmp_path)
    queue = bind_queue(home)
    engine = await fleet_engine(home)
    try:
        delivery = engine.agent_delivery
        assert delivery is not None and engine.config is not None
        response = engine.config.responses[0]

        def alert(n: int, agent: str = "001") -> Alert:
            return decode_alert_line(alert_line(f"6.{n}", rule_id="5710", level=5,
                                                agent_id=agent, srcip=f"198.51.100.{n}"))

        good = alert(1)
        huge = alert(2)
        huge = msgspec.structs.replace(huge, raw=huge.raw[:-1] + b',"pad":"'
                                       + b"x" * 70000 + b'"}')
        nul = alert(3)
        nul = msgspec.structs.replace(nul, raw=nul.raw.replace(b"198.51", b"19\0.51"))
        for agent, item in (("12a", alert(4, "12a")), ("001", huge), ("001", nul),
                            ("001", good), ("12a", alert(5, "12a"))):
            delivery.deliver(response, agent, item, 1_700_000_000.0)
        await delivery.wait_idle()
        records = stored_deliveries(engine.store)
        assert [(r.agent, r.state) for r in records] == [
            ("12a", "failed"), ("001", "failed"), ("001", "failed"), ("001", "sent"),
            ("12a", "failed")]
        assert "bad header" in records[0].reason and "bad header" in records[4].reason
        assert "longer than remoted reads (65536)" in records[1].reason
        assert records[2].reason == "the message holds a NUL byte"
        assert received(queue) == [records[3].datagram]
    finally:
        await engine.stop()
        queue.close()


def test_a_turn_of_more_buffers_than_one_gathered_write_takes_lands_whole_in_order(
        tmp_path: Path) -> None:
    """Past IOV_MAX (1,024) buffers a turn is written in several gathered writes: every
    buffer at the offset `append` returned, none lost between two writes."""
    from arconsole.engine.agent_spool import Spool

    spool = Spool(tmp_path / "s.fleet-spool", "d" * 32, writable=True)
    try:
        first = [bytes([n % 251]) * (1 + n % 37) for n in range(10)]
        spool.append(first)
        buffers = [bytes([n % 251]) * (1 + (n * 7) % 1500) for n in range(2500)]
        offsets = spool.append(buffers)
        assert len(offsets) == len(buffers)
        assert [spool.read(at, len(b)) for at, b in zip(offsets, buffers, strict=True)] == buffers
        assert spool.end() == offsets[-1] + len(buffers[-1])
    finally:
        spool.close()


def test_the_rows_log_holds_a_turn_per_entry_and_reads_older_single_row_entries() -> None:
    """A turn's rows are one entry (one encode, one CRC); entries of one row each, as an
    older arconsole wrote them, are read as well; a row's image is its fields in the state
    file's column order."""
    import zlib

    import msgspec

    from arconsole.engine.fleet_records import FleetRow, fleet_row, row_images
    from arconsole.engine.fleet_rowlog import decode_rows, encode_rows
    from arconsole.engine.fleet_schema import ROW_COLUMNS

    assert FleetRow.__struct_fields__ == tuple(ROW_COLUMNS.split(", "))
    rows = [FleetRow("001", "firewall-drop", f"198.51.100.{n}", "web", n % 2 == 0, 1.0, 2.0,
                     None if n % 2 == 0 else 3.0, n, 600, 660, "firewall-drop", "5710",
                     "sshd", "2026-05-03T05:23:56.662+0000", "651") for n in range(3)]
    images = row_images(rows)
    turn = encode_rows(images)
    old = b"".join(len(p).to_bytes(4, "little") + zlib.crc32(p).to_bytes(4, "little") + p
                   for p in (msgspec.json.encode(image) for image in images))
    read, used = decode_rows(turn + old)
    assert used == len(turn) + len(old)
    assert [fleet_row(image) for image in read] == rows + rows
    read, used = decode_rows(turn[:-1] + old)  # a torn turn: nothing after it is trusted
    assert (read, used) == ([], 0)


def test_the_rows_log_is_folded_into_the_state_file_past_its_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past `ROWS_LOG_LIMIT` unindexed bytes the log is indexed into `fleet_rows` and started
    afresh (the size read from the log itself, the index's own offset never drifting from
    its start); below it, rows wait in the log."""
    from arconsole.engine import fleet_store
    from arconsole.engine.fleet_records import FleetRow
    from arconsole.engine.fleet_rowlog import rows_log_path

    monkeypatch.setattr(fleet_store, "ROWS_LOG_LIMIT", 2000)
    state_path = tmp_path / "state.db"
    store = StateStore.open(state_path)
    log = rows_log_path(state_path)
    try:
        fleet = FleetStore(store)
        header = log.stat().st_size

        def in_state_file() -> int:
            return int(store._conn.execute("SELECT count(*) FROM fleet_rows").fetchone()[0])

        folds = 0
        for n in range(40):
            fleet.save_rows([FleetRow("001", "firewall-drop", f"198.51.100.{n}", "web")])
            if log.stat().st_size == header:
                folds += 1
                assert in_state_file() == n + 1
            else:
                assert log.stat().st_size - header <= 2000 + 200
        assert folds >= 2
        assert len(fleet.load_rows()) == 40  # (listing folds the rest in)
        fleet.close()
    finally:
        store.close()


def test_an_empty_turn_of_rows_costs_no_later_row(tmp_path: Path) -> None:
    """Saving no rows writes nothing: an empty entry in the rows log would read as the end of
    its readable part, and the rows after it would be lost at the next reading."""
    state_path = tmp_path / "state.db"
    store = StateStore.open(state_path)
    try:
        fleet = FleetStore(store)
        fleet.save_rows([])
        fleet.save_rows([FleetRow("001", "firewall-drop", "198.51.100.1", "web")])
        fleet.close()
    finally:
        store.close()
    store = StateStore.open(state_path)
    try:
        with FleetStore(store) as reader:
            assert [row.key for row in reader.load_rows()] == ["198.51.100.1"]
    finally:
        store.close()
