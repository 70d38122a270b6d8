"""Rotation and truncation of a followed file: how they are seen, and where the data went.

- the path naming another file than the open descriptor (rename + create, delete + re-create,
  Wazuh's hard-link switch) is a rotation (`replaced`);
- a size below the read offset, or a first line that changed, is a truncation (`truncated`):
  a copy-truncate can refill the file to the old offset or past it before the follower looks,
  so the size alone cannot tell;
- the rest of a file read before is looked for beside it (`open_copy`): the rotated file, or
  the copy a copy-truncate made, known by its inode or first-line hash and long enough.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from arconsole.alerts.follow_source import Source
from arconsole.alerts.rotation import find_previous


def replaced(src: Source, st: os.stat_result | None) -> bool:
    """The path now names another file than the one being read (None: no file there)."""
    return st is not None and (st.st_ino, st.st_dev) != (src.ino, src.dev)


def truncated(src: Source, size: int) -> bool:
    """The file shrank under the read offset, or was truncated and written again.

    The first line is checked at every look (one small pread; mtime is too coarse to say
    whether anything changed).
    """
    return size < src.read_at or (src.read_at > 0 and src.rewritten())


def open_copy(
    path: Path,
    *,
    inode: int,
    first_hash: str,
    offset: int,
    exclude_inode: int | None,
    open_file: Callable[[Path], Source | None],
) -> Source | None:
    """The file read before (same inode or same first line, at least `offset` bytes), found
    beside `path` and opened at `offset`; None when there is none."""
    found = find_previous(
        path, inode=inode, first_hash=first_hash, min_size=offset, exclude_inode=exclude_inode
    )
    copy = open_file(found.path) if found is not None else None
    if copy is None:
        return None
    if (not first_hash or copy.hash == first_hash) and copy.seen_size >= offset:
        copy.seek(offset)
        return copy
    copy.close()
    return None
