"""The state store under faults (issue 11 items 1, 5, 6, 8): a full disk, a state file that
comes back empty or loses its -wal after kill -9, a damaged snapshot, a hard-linked file.

Real SQLite files throughout; the full disk is a real 2 MB tmpfs in a private mount
namespace (`unshare -m`, needs root), and SQLite's own page limit for quick, exact cases.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from arconsole.engine.store import StateLocked, StateStore, StoreWriteError
from tests.test_store import make_block, read_line

WRITER = """
    import sys
    from pathlib import Path
    from arconsole.engine.store import StateStore
    from tests.test_store import make_block
    store = StateStore.open(Path(sys.argv[1]))
    first, second = int(sys.argv[2]), int(sys.argv[3])
    for i in range(first):
        store.save_block(make_block(f"early-{i}"))
    store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # these are in the main file
    for i in range(second):
        store.save_block(make_block(f"late-{i}"))  # these only in the -wal
    store.write_snapshot()
    print("ready", flush=True)
    sys.stdin.readline()
"""


def write_then_kill(path: Path, first: int, second: int) -> None:
    """Blocks committed by a process that is then killed with SIGKILL (nothing closed)."""
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(WRITER), str(path), str(first), str(second)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=Path(__file__).parent.parent,
    )
    try:
        assert read_line(process) == "ready"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()


def keys(store: StateStore) -> set[str]:
    return {block.key for block in store.load_blocks()}


# ---------------------------------------------------------------------- item 5: lost state


def test_a_zero_length_state_file_gets_its_blocks_back_from_the_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateStore.open(path) as store:
        for i in range(5):
            store.save_block(make_block(f"k-{i}"))
    for sidecar in ("-wal", "-shm"):
        path.with_name(path.name + sidecar).unlink(missing_ok=True)
    os.truncate(path, 0)
    with StateStore.open(path) as store:
        assert keys(store) == {f"k-{i}" for i in range(5)}
        assert store.restored_from_snapshot == 5
        (notice,) = store.notices
        assert notice.level == "error"
        assert "came back empty; restored 5 blocks from the snapshot" in notice.message
    with StateStore.open(path) as store:  # restored for good: no second restore, no notice
        assert len(keys(store)) == 5 and store.notices == []


@pytest.mark.parametrize("damage", ["deleted", "truncated", "garbled"])
def test_a_wal_lost_after_kill_9_is_made_good_from_the_snapshot(
    tmp_path: Path, damage: str
) -> None:
    path = tmp_path / "state.db"
    write_then_kill(path, first=3, second=40)
    wal = path.with_name("state.db-wal")
    assert wal.stat().st_size > 0
    if damage == "deleted":
        wal.unlink()
        path.with_name("state.db-shm").unlink()
    elif damage == "truncated":
        os.truncate(wal, 32 + 4096 // 2)  # the header and half the first frame
    else:
        data = bytearray(wal.read_bytes())
        data[40:4096] = os.urandom(4096 - 40)  # the first frame's checksum can't match
        wal.write_bytes(bytes(data))
    with StateStore.open(path) as store:
        assert keys(store) == {f"early-{i}" for i in range(3)} | {f"late-{i}" for i in range(40)}
        (notice,) = store.notices
        assert "lost changes" in notice.message or "came back" in notice.message
        assert "restored 43 blocks from the snapshot" in notice.message


REVERSER = """
    import sys
    from pathlib import Path
    from arconsole.engine.store import StateStore
    from tests.test_store import make_block
    store = StateStore.open(Path(sys.argv[1]))
    for i in range(4):
        store.save_block(make_block(f"k-{i}"))
    store.write_snapshot()
    store.delete_block("k-0")  # reversed after the snapshot; then the engine is killed
    print("ready", flush=True)
    sys.stdin.readline()
"""


def test_an_older_snapshot_never_brings_back_what_the_database_reversed(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(REVERSER), str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=Path(__file__).parent.parent,
    )
    try:
        assert read_line(process) == "ready"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert '"key":"k-0"' in path.with_name("state.db.snapshot").read_text()  # stale
    with StateStore.open(path) as store:
        assert keys(store) == {"k-1", "k-2", "k-3"}
        assert store.notices == []


def test_a_snapshot_of_another_state_file_is_not_mixed_in(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateStore.open(path) as store:
        store.save_block(make_block("theirs"))
    saved = path.with_name("state.db.snapshot").read_bytes()
    for name in ("state.db", "state.db-wal", "state.db-shm", "state.db.snapshot"):
        (tmp_path / name).unlink(missing_ok=True)
    with StateStore.open(path) as store:
        store.save_block(make_block("mine"))
        store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    path.with_name("state.db.snapshot").write_bytes(saved)
    with StateStore.open(path) as store:
        assert keys(store) == {"mine"}
        (notice,) = store.notices
        assert notice.level == "warning" and "belongs to another state file" in notice.message
        # ... and reconcile can add what it held.
        assert [b.key for b in store.reconcile(apply=False)] == ["theirs"]
        assert keys(store) == {"mine"}
        (added,) = store.reconcile(apply=True)
        assert added.key == "theirs" and added.restored
        assert keys(store) == {"mine", "theirs"}


def test_damaged_snapshot_lines_are_counted_as_possibly_still_in_force(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateStore.open(path) as store:
        for i in range(6):
            store.save_block(make_block(f"k-{i}"))
    snapshot = path.with_name("state.db.snapshot")
    lines = snapshot.read_text().splitlines()
    lines[2] = lines[2].replace('"timeout":600', '"timeout":"600; rm -rf /"')
    lines[3] = lines[3][:20]
    snapshot.write_text("\n".join(lines[:-1]) + "\n")  # and the last line lost
    os.truncate(path, 0)
    for sidecar in ("-wal", "-shm"):
        path.with_name(path.name + sidecar).unlink(missing_ok=True)
    with StateStore.open(path) as store:
        assert len(keys(store)) == 3
        (notice,) = store.notices
        assert "restored 3 blocks" in notice.message
        assert "3 blocks in the snapshot were unreadable and may still be in force" in (
            notice.message
        )


def test_reconcile_salvages_rows_from_a_moved_aside_state_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateStore.open(path) as store, store.transaction():
        for i in range(200):
            store.save_block(make_block(f"k-{i}", delete_message=b"m" * 500))
    path.with_name("state.db.snapshot").unlink()
    data = bytearray(path.read_bytes())
    data[-4096 * 3 : -4096 * 3 + 64] = b"\xff" * 64  # a damaged leaf: integrity check fails
    path.write_bytes(bytes(data))
    with StateStore.open(path) as store:
        assert store.recovered_from is not None
        (notice,) = store.notices
        assert "no snapshot restores it" in notice.message
        assert "known and may still be in force" in notice.message
        found = store.reconcile(apply=True)
        assert 0 < len(found) <= 200
        assert all(block.restored for block in store.load_blocks())


# ---------------------------------------------------------------------- item 1: write failures


def test_a_full_database_raises_one_typed_error_and_keeps_the_transaction_whole(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    with StateStore.open(path) as store:
        store.save_block(make_block("before"))
        pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
        store._conn.execute(f"PRAGMA max_page_count = {pages + 2}")  # SQLite's own "disk full"
        with pytest.raises(StoreWriteError) as caught, store.transaction():
            for i in range(100):
                store.save_block(make_block(f"k-{i}", delete_message=b"x" * 3000))
        assert caught.value.reason == "disk full"
        assert "database or disk is full" in str(caught.value)
        assert keys(store) == {"before"}  # nothing of the failed transaction

        # A failure caught inside the transaction still dooms all of it.
        with pytest.raises(StoreWriteError), store.transaction():
            store.save_block(make_block("small"))
            with contextlib.suppress(StoreWriteError):
                store.save_block(make_block("big", delete_message=b"x" * 100_000))
        assert keys(store) == {"before"}
        store._conn.execute("PRAGMA max_page_count = 1073741823")  # space comes back
        store.save_block(make_block("after"))
        assert keys(store) == {"before", "after"}


DISK_FULL = """
    import json, os, sqlite3, sys
    from pathlib import Path
    from arconsole.engine.store import StateStore, StoreWriteError
    from tests.test_store import make_block
    directory = Path(sys.argv[1])
    path = directory / "state.db"
    report = {}
    store = StateStore.open(path)
    store.save_block(make_block("first"))
    store.write_snapshot()
    snapshot_before = store.snapshot_path.read_bytes()
    free = os.statvfs(directory).f_bavail * os.statvfs(directory).f_frsize
    with open(directory / "filler", "wb") as filler:
        filler.write(b"f" * (free - 200_000))
    committed = 1
    try:
        for i in range(10_000):
            store.save_block(make_block(f"k-{i}", delete_message=os.urandom(2000)))
            committed += 1
    except StoreWriteError as error:
        report["error"] = str(error)
        report["reason"] = error.reason
    report["committed"] = committed
    report["count"] = store.count_blocks()
    try:
        store.write_snapshot()
        report["snapshot"] = "written"
    except StoreWriteError as error:
        report["snapshot"] = error.reason
    report["snapshot_kept"] = store.snapshot_path.read_bytes() == snapshot_before
    report["leftovers"] = sorted(p.name for p in directory.iterdir() if ".tmp-" in p.name)
    with sqlite3.connect(path.as_uri() + "?mode=ro", uri=True) as other:
        report["integrity"] = other.execute("PRAGMA integrity_check").fetchone()[0]
        report["seen_by_others"] = other.execute("SELECT count(*) FROM blocks").fetchone()[0]
    (directory / "filler").unlink()  # space comes back
    store.save_block(make_block("after"))
    store.write_snapshot()
    report["after"] = store.count_blocks()
    store.close()
    print(json.dumps(report))
"""


def test_disk_full_for_real_on_a_2mb_tmpfs(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare to mount a private tmpfs")
    mount_point = tmp_path / "small"
    mount_point.mkdir(mode=0o700)
    script = tmp_path / "disk_full.py"
    script.write_text(textwrap.dedent(DISK_FULL))
    repo = Path(__file__).parent.parent
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"unshare -m is not permitted here: {probe.stderr.decode().strip()}")
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c",
         'mount -t tmpfs -o size=2m,mode=0700 tmpfs "$1" && exec "$2" "$3" "$1"', "sh",
         str(mount_point), sys.executable, str(script)],
        capture_output=True, text=True, timeout=120, cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["reason"] == "disk full", report
    assert "database or disk is full" in report["error"]
    assert report["committed"] == report["count"] == report["seen_by_others"] > 1
    assert report["integrity"] == "ok"
    assert report["snapshot"] == "disk full" and report["snapshot_kept"]
    assert report["leftovers"] == []
    assert report["after"] == report["committed"] + 1
    assert "Traceback" not in done.stderr


# ---------------------------------------------------------------------- item 8: the lock


@pytest.mark.parametrize("where", ["same directory", "another directory"])
def test_a_hard_linked_state_file_is_one_lock(tmp_path: Path, where: str) -> None:
    path = tmp_path / "a" / "state.db"
    other = tmp_path / ("a" if where == "same directory" else "b") / "other.db"
    other.parent.mkdir(exist_ok=True, mode=0o700)
    with StateStore.open(path):
        pass
    os.link(path, other)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            import sys
            from pathlib import Path
            from arconsole.engine.store import StateStore
            store = StateStore.open(Path(sys.argv[1]))
            print("ready", flush=True)
            sys.stdin.readline()
        """), str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert read_line(holder) == "ready"
        with pytest.raises(StateLocked) as caught:
            StateStore.open(other)
        assert caught.value.holder_pid == holder.pid  # found by identity, not by name
    finally:
        holder.kill()
        holder.wait()
    with StateStore.open(other):  # released with its holder
        pass


def test_the_lock_follows_the_file_when_a_corrupt_one_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(os.urandom(8192))
    with StateStore.open(path) as store:
        assert store.recovered_from is not None
        with pytest.raises(StateLocked):
            StateStore.open(path)  # the fresh file is owned, not only the moved one


# ---------------------------------------------------------------------- item 6: notices


def test_problems_found_at_open_are_notices_with_a_level(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with StateStore.open(shared / "state.db") as store:
        (notice,) = store.notices
        assert notice.level == "warning" and "writable by other users" in notice.message
        assert store.warnings == [notice.message]


def test_sqlite_reports_full_with_the_code_the_store_relies_on(tmp_path: Path) -> None:
    # Guard: the mapping from SQLite's result code, not from the message text.
    connection = sqlite3.connect(tmp_path / "x.db")
    connection.execute("PRAGMA max_page_count = 2")
    connection.execute("CREATE TABLE t (v BLOB)")
    with pytest.raises(sqlite3.OperationalError) as caught:
        connection.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))
    assert caught.value.sqlite_errorcode & 0xFF == sqlite3.SQLITE_FULL
    connection.close()


# ---------------------------------------------------------------------- blocks reconcile


def arconsole(*words: str) -> subprocess.CompletedProcess[str]:
    repo = Path(__file__).parent.parent
    return subprocess.run(
        [sys.executable, "-m", "arconsole", *words], capture_output=True, text=True,
        timeout=60, env={**os.environ, "PYTHONPATH": str(repo)},
    )


def test_blocks_reconcile_adds_what_the_snapshot_knows_and_the_state_file_lost(
    tmp_path: Path,
) -> None:
    path = tmp_path / "var" / "arconsole" / "state.db"
    with StateStore.open(path) as store:
        store.save_block(make_block("lost-1", srcip="10.0.0.7"))
        store.save_block(make_block("lost-2", srcip="10.0.0.8"))
    saved = path.with_name("state.db.snapshot").read_bytes()
    for name in ("state.db", "state.db-wal", "state.db-shm", "state.db.snapshot"):
        path.with_name(name).unlink(missing_ok=True)
    with StateStore.open(path) as store:  # a new state file that has a block of its own
        store.save_block(make_block("kept"))
    path.with_name("state.db.snapshot").write_bytes(saved)

    dry = arconsole("blocks", "reconcile", "--state", str(path), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "belongs to another state file" in dry.stdout
    assert "lost-1" in dry.stdout and "lost-2" in dry.stdout
    assert "would add 2 blocks" in dry.stdout
    with StateStore.open(path, lock=False) as reader:
        assert keys(reader) == {"kept"}

    done = arconsole("blocks", "reconcile", "--state", str(path), "--format", "json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["applied"] and [b["key"] for b in answer["blocks"]] == ["lost-1", "lost-2"]
    listed = arconsole("blocks", "list", "--state", str(path), "--format", "json")
    assert {b["key"] for b in json.loads(listed.stdout)} == {"kept", "lost-1", "lost-2"}
    again = arconsole("blocks", "reconcile", "--state", str(path))
    assert again.returncode == 0 and "nothing to reconcile" in again.stdout

    with StateStore.open(path):  # an engine owns it: refused, one line
        owned = arconsole("blocks", "reconcile", "--state", str(path))
    assert owned.returncode == 1
    assert "stop it before reconciling" in owned.stderr and "Traceback" not in owned.stderr


ORPHAN = """
    import os, sys, time
    from pathlib import Path
    from arconsole.engine.store import StateStore
    store = StateStore.open(Path(sys.argv[1]))
    if os.fork() == 0:  # a child that has not exec'd yet: it shares the lock's descriptor
        time.sleep(0.8)
        os._exit(0)
    print("ready", flush=True)
    os._exit(0)  # the engine dies (as by kill -9: nothing closed)
"""


def test_a_dead_engines_lock_held_by_a_child_about_to_exec_is_waited_for(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(ORPHAN), str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert read_line(process) == "ready"
    process.wait()
    with StateStore.open(path) as store:  # not "owned by engine pid ..." (a dead one)
        assert not store.read_only
