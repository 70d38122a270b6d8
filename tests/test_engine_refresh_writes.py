"""A refresh of a block in force (execd's `abort`, most triggers of a backlog) is copied and
stored cheaply, and changes nothing that is kept: `Block.refreshed` is `with_`, the narrow
UPDATE of its columns leaves the row a whole rewrite leaves, the group commit writes a row
whole when it must, and a dry-run replay leaves every block row exactly as the book holds it."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arconsole.engine.events import BlockChanged, ScriptRan
from arconsole.engine.group_commit import GroupCommit
from arconsole.engine.messages import ExecdMessage
from arconsole.engine.model import Block, Protocol
from arconsole.engine.store import StateStore
from arconsole.engine.store_schema import SELECT_BLOCKS, row_block
from arconsole.frozen import fast_copy_with
from tests.test_engine_batched_writes import backlog_home, blocks, replay

refreshes = st.tuples(st.floats(allow_nan=False), st.integers(0, 2**31), st.integers(0, 100))


def sample_block(key: str = "firewall-drop-10.0.0.1", **changes: object) -> Block:
    block = Block(key=key, command="firewall-drop", name="firewall-drop600",
                  executable="firewall-drop", protocol=Protocol.JSON, target="server",
                  srcip="10.0.0.1", user=None, started_at=1.0, timeout=600, offences=1,
                  delete_message=b'{"command":"delete"}', restored=True)
    return block.with_(**changes)


@given(block=blocks, change=refreshes)
def test_refreshed_is_with_the_refresh_fields(block: Block, change: tuple[float, int, int]
                                              ) -> None:
    started_at, timeout, offences = change
    copy = block.refreshed(started_at, timeout, offences)
    assert copy == block.with_(started_at=started_at, timeout=timeout, offences=offences,
                               restored=False)
    assert type(copy) is Block and copy is not block
    with pytest.raises(dataclasses.FrozenInstanceError):
        copy.timeout = 1  # type: ignore[misc]


def test_fast_copy_with_refuses_unknown_fields_and_unslotted_classes() -> None:
    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        value: int

    with pytest.raises(TypeError, match="no field"):
        fast_copy_with(Block, "timeout", "colour")
    with pytest.raises(TypeError, match="not a slot"):
        fast_copy_with(NoSlots, "value")


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(saved=st.lists(blocks, max_size=15), picks=st.lists(st.integers(0, 14), max_size=10),
       change=refreshes, missing=st.booleans())
def test_a_narrow_refresh_leaves_what_a_whole_rewrite_leaves(
    tmp_path: Path, saved: list[Block], picks: list[int], change: tuple[float, int, int],
    missing: bool,
) -> None:
    suffix = len(list(tmp_path.iterdir()))
    latest = list({block.key: block for block in saved}.values())
    refreshed = {latest[i].key: latest[i].refreshed(*change) for i in picks if i < len(latest)}
    if missing:  # a row that is not there is not created by a refresh
        refreshed["no-such-row"] = sample_block("no-such-row").refreshed(*change)
    with StateStore.open(tmp_path / f"whole-{suffix}.db") as whole, \
            StateStore.open(tmp_path / f"narrow-{suffix}.db") as narrow:
        whole.save_blocks(latest)
        narrow.save_blocks(latest)
        whole.save_blocks([block for key, block in refreshed.items() if key != "no-such-row"])
        changed = narrow.refresh_blocks(list(refreshed.values()))
        assert changed == len(refreshed) - missing
        by_key = sorted(whole.load_blocks(), key=lambda b: b.key)
        assert sorted(narrow.load_blocks(), key=lambda b: b.key) == by_key


def test_a_refresh_writes_only_its_columns(tmp_path: Path) -> None:
    with StateStore.open(tmp_path / "state.db") as store:
        store.save_block(sample_block())
        # The book's copy differs elsewhere (it never does; this shows what is written).
        other = sample_block(delete_message=b"other", name="other").refreshed(9.0, 1200, 2)
        assert store.refresh_blocks([other]) == 1
        assert store.get_block(other.key) == sample_block().refreshed(9.0, 1200, 2)


async def test_the_group_commit_writes_a_refreshed_row_whole_when_it_must(
    tmp_path: Path,
) -> None:
    store = StateStore.open(tmp_path / "state.db")
    errors: list[str] = []
    writes = GroupCommit(lambda: store, errors.append, lambda: 1.0)
    try:
        stored = sample_block("stored")
        writes.save_block(stored)
        writes.save_block(sample_block("gone"))
        await writes.durable()
        # Added and refreshed in one turn: the refresh is part of the whole row.
        added = sample_block("added", name="added")
        writes.save_block(added)
        writes.refresh_block(added.refreshed(2.0, 60, 2))
        # A refresh whose row was lost (a failed turn): written whole at the commit.
        lost = sample_block("lost", name="lost").refreshed(3.0, 70, 3)
        writes.refresh_block(lost)
        # Refreshed, then deleted in the same turn: deleted.
        writes.refresh_block(sample_block("gone").refreshed(4.0, 80, 4))
        writes.delete_block("gone")
        # Refreshed, then written whole (failed...): the whole row.
        writes.refresh_block(stored.refreshed(5.0, 90, 5))
        failed = stored.refreshed(5.0, 90, 5).with_(last_error="exit 1")
        writes.save_block(failed)
        await writes.durable()
        assert sorted(store.load_blocks(), key=lambda b: b.key) == [
            added.refreshed(2.0, 60, 2), lost, failed]
        # A plain refresh of a stored row.
        writes.refresh_block(failed.refreshed(6.0, 100, 6))
        await writes.durable()
        assert store.get_block("stored") == failed.refreshed(6.0, 100, 6)
        assert errors == []
    finally:
        store.close()


def test_the_execd_message_is_the_same_whenever_it_is_put_together() -> None:
    raw = b'{"rule":{"id":"5712"},"data":{"srcip":"10.0.0.1"}}'
    parts = dict(node_name="node01", extra_args=["-x"], alert_raw=raw, executable="fw")
    lazy = ExecdMessage.build(**parts)  # type: ignore[arg-type]
    first_delete = lazy.with_command("delete")
    assert lazy.with_command("add") == ExecdMessage.build(  # type: ignore[arg-type]
        **parts).with_command("add")
    assert lazy.with_command("delete") == first_delete
    assert first_delete == (
        b'{"version":1,"origin":{"name":"node01","module":"wazuh-execd"},"command":"delete",'
        b'"parameters":{"extra_args":["-x"],"alert":' + raw
        + b',"program":"active-response/bin/fw"}}'
    )


async def test_a_dry_run_backlog_leaves_every_block_row_as_the_book_holds_it(
    tmp_path: Path,
) -> None:
    alerts = 3_000
    home = backlog_home(tmp_path, alerts)
    events, engine = await replay(home, alerts)
    assert engine.blocks  # the generator's bursts add blocks, then refresh them
    # Each imagined run told as before: (action, program, key, reply), then its block.
    ran = [event for event in events if isinstance(event, ScriptRan)]
    changed = [event for event in events if isinstance(event, BlockChanged)]
    assert len(ran) == len(changed) > 100
    for script, block in zip(ran, changed, strict=True):
        assert dataclasses.replace(script, at=0.0) == ScriptRan(
            at=0.0, action="add (dry-run)",
            program=f"active-response/bin/{block.block['executable']}",
            key=block.block["key"], reply="continue" if block.change == "added" else "abort",
            returncode=None, timed_out=False, ok=True, error=None, stderr="", duration=0.0)
        assert block.change in ("added", "refreshed") and block.at >= script.at - 1.0
    assert {e.block["key"]: e.block for e in changed} == {
        key: block.to_json() for key, block in engine.blocks.items()}
    with sqlite3.connect(home / "var" / "arconsole" / "state.db") as db:
        rows = db.execute(SELECT_BLOCKS).fetchall()
    stored = {block.key: block for block in (row_block(row, {}) for row in rows)}
    assert stored == engine.blocks
    assert any(block.offences > 1 for block in stored.values())  # refreshed, escalated
