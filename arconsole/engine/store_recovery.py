"""The blocks snapshot beside the state file (`<path>.snapshot`, format in snapshot.py):
written at most once a second after blocks changed; at open, the blocks are restored from it
when the database lost them (new, moved aside as corrupt, or older than its snapshot after a
lost -wal); `reconcile` finds blocks known to snapshots or moved-aside files but not here."""

from __future__ import annotations

import contextlib
import errno
import os
import time
from pathlib import Path

from arconsole.engine.model import Block, BlockState
from arconsole.engine.snapshot import SnapshotUnreadable, read_snapshot, write_snapshot
from arconsole.engine.store_base import StoreBase
from arconsole.engine.store_errors import StateError, StateReadOnly, StoreWriteError
from arconsole.engine.store_schema import count_salvageable, salvage_blocks
from arconsole.wording import counted


class StoreSnapshots(StoreBase):
    """The snapshot: when to write it, restoring from it at open, and reconcile."""

    # ------------------------------------------------------------------ the snapshot

    @property
    def snapshot_pending(self) -> bool:
        """Blocks changed since the last snapshot was written."""
        return not self.read_only and self._snapshot_seq != self._seq

    def maybe_snapshot(self) -> bool:
        """Write the snapshot if blocks changed and the last one is SNAPSHOT_INTERVAL_S old.

        Call it often (after each commit, and on a timer so a last change is not left out).
        StoreWriteError if it cannot be written; the previous snapshot is then kept.
        """
        if not self.snapshot_pending or self._depth:
            return False
        if self._clock() - self._snapshot_at < self.snapshot_interval:
            return False
        self.write_snapshot()
        return True

    def write_snapshot(self) -> None:
        """Replace the snapshot now with every committed block (outside a transaction)."""
        if self.read_only:
            raise StateReadOnly(f"state file {self.path} was opened read-only")
        if self._depth:
            raise StateError("the snapshot is written between transactions, not inside one")
        now = self._clock()
        try:
            write_snapshot(self.snapshot_path, db_id=self._db_id, seq=self._seq,
                           written_at=now, blocks=self.load_blocks())
        except OSError as error:
            reason = "disk full" if error.errno == errno.ENOSPC else "I/O error"
            raise StoreWriteError(self.snapshot_path, reason, error.strerror or str(error)) \
                from error
        self._snapshot_seq = self._seq
        self._snapshot_at = now

    def _restore_from_snapshot(self) -> None:
        """At open: bring the blocks back from the snapshot when the database lost them.

        Lost means: the database is new or was moved aside (another identity) and holds no
        block, or it is the same database with fewer commits than its snapshot (a -wal lost
        or damaged after kill -9). A database that is sound and up to date wins.
        """
        try:
            snapshot = read_snapshot(self.snapshot_path)
        except SnapshotUnreadable as error:
            kept = self._keep_aside(self.snapshot_path, "unreadable")
            self._notice("error", f"blocks snapshot unusable ({error}); moved to {kept}")
            self._say_what_may_be_lost()
            return
        if snapshot is None:
            self._say_what_may_be_lost()
            return
        stored = self.count_blocks()
        if snapshot.db_id == self._db_id:
            if snapshot.seq <= self._seq:
                self._snapshot_seq, self._snapshot_at = snapshot.seq, snapshot.written_at
                return  # the database is as new as its snapshot, or newer
            why = (f"state file {self.path} lost changes (its -wal was lost or damaged): it is "
                   f"at commit {self._seq}, its snapshot at {snapshot.seq}")
        elif stored == 0:
            if not snapshot.blocks and not snapshot.damaged:
                return
            why = (f"state file {self.path} came back "
                   + ("corrupt" if self.recovered_from is not None else "empty"))
        else:
            if snapshot.declared:
                kept = self._keep_aside(self.snapshot_path, "other")
                self._notice(
                    "warning",
                    f"blocks snapshot {self.snapshot_path} belongs to another state file "
                    f"({counted(snapshot.declared, 'block')}); kept the state file's {stored} "
                    f"and moved the snapshot to {kept}; 'arconsole blocks reconcile' can add the "
                    "blocks it holds that are missing",
                )
            return
        with self.transaction():
            self._write("DELETE FROM blocks")
            for block in snapshot.blocks:
                self.save_block(block)
            self._blocks_changed = True
        self.restored_from_snapshot = len(snapshot.blocks)
        written = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(snapshot.written_at))
        message = (f"{why}; restored {counted(len(snapshot.blocks), 'block')} from the snapshot "
                   f"{self.snapshot_path} written {written}")
        if snapshot.damaged:
            were = "was" if snapshot.damaged == 1 else "were"
            message += (f"; {counted(snapshot.damaged, 'block')} in the snapshot {were} unreadable "
                        "and may still be in force (the firewall still holds them)")
        self._notice("error", message)
        with contextlib.suppress(StoreWriteError):
            self.write_snapshot()  # now the snapshot matches this database again

    def _keep_aside(self, path: Path, why: str) -> Path:
        """Rename a snapshot the next one would overwrite, so reconcile can still read it."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self._clock()))
        target = path.with_name(f"{path.name}.{why}-{stamp}")
        serial = 1
        while target.exists():
            target = path.with_name(f"{path.name}.{why}-{stamp}-{serial}")
            serial += 1
        os.rename(path, target)
        return target

    def _say_what_may_be_lost(self) -> None:
        """The database was moved aside and nothing restores it: say what may be in force."""
        if self.recovered_from is None:
            return
        known = count_salvageable(self.recovered_from)
        how_many = (f"{counted(known, 'block')} {'was' if known == 1 else 'were'}"
                    if known is not None else "an unknown number of blocks were")
        message = (f"state file {self.path} was corrupt and no snapshot restores it: {how_many} "
                   f"known and may still be in force (the firewall still holds them); "
                   "run 'arconsole blocks reconcile' to rebuild what can be found")
        self._notice("error", message)

    def reconcile(self, *, apply: bool) -> list[Block]:
        """Blocks known to the snapshots (the current one and those moved aside) or to
        moved-aside state files, but not to this one.

        With `apply`, they are added (marked restored), so the next engine start schedules
        their deletes; the newest record of a key wins.
        """
        found: dict[str, Block] = {}
        sources: list[tuple[Block, ...]] = []
        snapshots = [self.snapshot_path, *sorted(
            self.path.parent.glob(self.snapshot_path.name + ".*-*"))]
        for path in snapshots:
            if ".tmp-" in path.name:
                continue
            with contextlib.suppress(SnapshotUnreadable):
                snapshot = read_snapshot(path)
                if snapshot is not None:
                    sources.append(snapshot.blocks)
        for moved in sorted(self.path.parent.glob(self.path.name + ".corrupt-*")):
            if moved.name.endswith(("-wal", "-shm", "-journal")):
                continue
            sources.append(tuple(salvage_blocks(moved)))
        for blocks in sources:
            for block in blocks:
                if block.state in (BlockState.REVERSED,) or block.dry_run:
                    continue
                known = found.get(block.key)
                if known is None or block.started_at > known.started_at:
                    found[block.key] = block
        missing = [b.with_(restored=True) for key, b in sorted(found.items())
                   if self.get_block(key) is None]
        if apply and missing:
            with self.transaction():
                for block in missing:
                    self.save_block(block)
            with contextlib.suppress(StoreWriteError):
                self.write_snapshot()
        return missing
