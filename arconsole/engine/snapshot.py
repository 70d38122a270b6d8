"""The blocks snapshot beside the state file: every stored block, in a small JSON-lines file
replaced atomically (written aside, fsync'd, renamed), so a state file that comes back empty or
damaged does not take the blocks in force with it (issue 11 item 5).

Line 1 is a header: format, the database's identity and commit count (`db_id`, `seq`), when
it was written and how many blocks follow; then one block per line. A damaged line is
skipped and counted, never guessed at; the header alone still says how many blocks there were.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import stat
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from arconsole.engine.model import Block, BlockState, Protocol

SNAPSHOT_FORMAT = 1
_FIELD_NAMES = tuple(field.name for field in fields(Block))
_OPTIONAL_TEXT = ("srcip", "user", "alert_id", "rule_id", "last_error")
_TEXT = ("key", "command", "name", "executable", "target")
_FLAGS = ("restored", "manual", "dry_run")


class SnapshotUnreadable(ValueError):
    """The snapshot's header cannot be read: nothing in it can be trusted."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    db_id: str
    seq: int
    written_at: float
    declared: int  # blocks the header says follow
    blocks: tuple[Block, ...]
    damaged: int  # lines that could not be read as a block


def snapshot_path_for(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".snapshot")


def block_to_json(block: Block) -> dict[str, Any]:
    data: dict[str, Any] = {name: getattr(block, name) for name in _FIELD_NAMES}
    data["protocol"] = block.protocol.value
    data["state"] = block.state.value
    data["delete_message"] = base64.b64encode(block.delete_message).decode("ascii")
    return data


def block_from_json(data: object) -> Block:
    """A block from one snapshot line; ValueError for anything not exactly the right shape."""
    if not isinstance(data, dict) or set(data) != set(_FIELD_NAMES):
        raise ValueError("not a block record")
    for name in _TEXT:
        if not isinstance(data[name], str) or not data[name]:
            raise ValueError(f"{name} is not text")
    for name in _OPTIONAL_TEXT:
        if data[name] is not None and not isinstance(data[name], str):
            raise ValueError(f"{name} is not text")
    for name in _FLAGS:
        if not isinstance(data[name], bool):
            raise ValueError(f"{name} is not true/false")
    started_at, timeout, offences = data["started_at"], data["timeout"], data["offences"]
    if isinstance(started_at, bool) or not isinstance(started_at, (int, float)):
        raise ValueError("started_at is not a number")
    for name, value in (("timeout", timeout), ("offences", offences)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
            raise ValueError(f"{name} is not a whole number")
    if not isinstance(data["delete_message"], str):
        raise ValueError("delete_message is not text")
    try:
        delete_message = base64.b64decode(data["delete_message"], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("delete_message is not base64") from None
    return Block(
        **{**data, "protocol": Protocol(data["protocol"]), "state": BlockState(data["state"]),
           "started_at": float(started_at), "delete_message": delete_message},
    )


def write_snapshot(
    path: Path, *, db_id: str, seq: int, written_at: float, blocks: list[Block]
) -> None:
    """Replace the snapshot atomically: a reader sees the old one or the new one, whole.

    Raises OSError (ENOSPC...) with the old snapshot left in place.
    """
    header = {"arconsole_snapshot": SNAPSHOT_FORMAT, "db_id": db_id, "seq": seq,
              "written_at": written_at, "blocks": len(blocks)}
    lines = [json.dumps(header, separators=(",", ":"))]
    lines.extend(json.dumps(block_to_json(b), separators=(",", ":")) for b in blocks)
    data = ("\n".join(lines) + "\n").encode()
    temporary = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)  # left by a writer killed mid-way (same pid reused)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)  # the rename must never publish a file whose data is not there yet
        finally:
            os.close(fd)
        os.rename(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def read_snapshot(path: Path) -> Snapshot | None:
    """The snapshot at `path`; None if there is none. SnapshotUnreadable for a bad header."""
    try:
        # O_NONBLOCK: a FIFO planted here must not hang the start (refused just below).
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise SnapshotUnreadable(f"cannot open {path}: {error.strerror}") from None
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SnapshotUnreadable(f"{path} is not a regular file")
        raw = file.read()
    text_lines = raw.split(b"\n")
    try:
        header = json.loads(text_lines[0])
        if not isinstance(header, dict) or header.get("arconsole_snapshot") != SNAPSHOT_FORMAT:
            raise ValueError("not an arconsole snapshot")
        db_id, seq = header["db_id"], header["seq"]
        written_at, declared = header["written_at"], header["blocks"]
        if not isinstance(db_id, str) or not isinstance(seq, int) or not isinstance(declared, int):
            raise ValueError("bad header fields")
        if not isinstance(written_at, (int, float)):
            raise ValueError("bad header time")
    except (ValueError, KeyError, UnicodeDecodeError) as error:
        raise SnapshotUnreadable(f"{path}: unreadable header ({error})") from None
    blocks: list[Block] = []
    damaged = 0
    for line in text_lines[1:]:
        if not line:
            continue
        try:
            blocks.append(block_from_json(json.loads(line)))
        except (ValueError, UnicodeDecodeError):
            damaged += 1
    damaged += max(0, declared - len(blocks) - damaged)  # lines lost to truncation
    return Snapshot(db_id, seq, float(written_at), declared, tuple(blocks), damaged)
