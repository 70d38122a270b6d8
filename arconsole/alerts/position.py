"""Where a follower stopped reading an alerts file: enough to resume, or to see a rotation."""

from __future__ import annotations

from dataclasses import dataclass

from arconsole.frozen import fast_init


@dataclass(frozen=True, slots=True)
class ReadPosition:
    """Where the alerts follower stopped: enough to resume, or to detect a rotation."""

    path: str
    inode: int
    offset: int
    first_line_hash: str  # sha256 hex of the file's first line (with its newline), "" if none


fast_init(ReadPosition)  # one per line read: a backlog makes hundreds of thousands
