"""Recognise a file across rotations: its first-line hash, and where a rotated file went.

A stored read position names an inode and the hash of the file's first line. The inode alone
is not enough (inode numbers are reused as soon as a file is deleted) and the hash alone is
not either (copy-truncate makes a second file with the same first line); together they find
the file again after it was renamed, hard-linked into Wazuh's daily tree, or copied.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

_READ = 65536
# Rotated files that cannot be read as they are (compressed, or checksums next to them).
_NOT_PLAIN = (".gz", ".bz2", ".xz", ".zst", ".zip", ".lz4", ".z", ".sum")


def first_line_hash(source: Path | str | int) -> str:
    """sha256 hex of the first line, newline included; "" when there is no complete line.

    `source` is a path or an open file descriptor; a descriptor is read with pread, so its
    offset is left alone. Memory stays bounded however long the line is.
    """
    if isinstance(source, int):
        return _hash_fd(source)
    try:
        fd = os.open(source, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return ""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        return _hash_fd(fd)
    finally:
        os.close(fd)


def _hash_fd(fd: int) -> str:
    digest = hashlib.sha256()
    offset = 0
    while True:
        data = os.pread(fd, _READ, offset)
        if not data:
            return ""
        end = data.find(b"\n")
        if end >= 0:
            digest.update(data[: end + 1])
            return digest.hexdigest()
        digest.update(data)
        offset += len(data)


@dataclass(frozen=True, slots=True)
class Found:
    """A file that holds the rest of a stored position's data."""

    path: Path
    same_inode: bool  # False: a copy (copy-truncate) recognised by its first line only


def rotated_candidates(path: Path) -> list[Path]:
    """Plain files that a rotation of `path` may have produced, newest first.

    Siblings named after it (`alerts.json.1`, `alerts.json-20240101`, `alerts.json.old`), and
    Wazuh/OSSEC's daily files `<dir>/YYYY/Mon/ossec-<tag>-DD[-NNN]<suffix>`, which the live
    name is a hard link to until the next rotation.
    """
    found: list[tuple[float, Path]] = []
    parent = path.parent
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return []
    for entry in entries:
        name = entry.name
        if name != path.name and name.startswith(path.name) and _plain(name):
            _add(found, Path(entry.path))
    if path.suffix:
        for daily in parent.glob(f"[0-9][0-9][0-9][0-9]/*/ossec-*{path.suffix}"):
            _add(found, daily)
    found.sort(key=lambda item: item[0], reverse=True)
    return [candidate for _, candidate in found]


def _plain(name: str) -> bool:
    return not name.lower().endswith(_NOT_PLAIN)


def _add(found: list[tuple[float, Path]], candidate: Path) -> None:
    try:
        st = os.stat(candidate)
    except OSError:
        return
    if stat.S_ISREG(st.st_mode):
        found.append((st.st_mtime, candidate))


def find_previous(
    path: Path, *, inode: int, first_hash: str, min_size: int, exclude_inode: int | None
) -> Found | None:
    """The file that the position (inode, first_hash) was reading, now under another name.

    First the same inode with the same first line (a rename or a hard link); then, only among
    the siblings of `path`, another inode with the same first line and at least `min_size`
    bytes (a copy-truncate copy). `exclude_inode` is the file `path` names now.
    """
    candidates = rotated_candidates(path)
    sizes: dict[Path, os.stat_result] = {}
    for candidate in candidates:
        try:
            sizes[candidate] = os.stat(candidate)
        except OSError:
            continue
    for candidate, st in sizes.items():
        if st.st_ino != inode or st.st_ino == exclude_inode or st.st_size < min_size:
            continue
        if not first_hash or first_line_hash(candidate) == first_hash:
            return Found(candidate, same_inode=True)
    if not first_hash:
        return None
    for candidate, st in sizes.items():
        if candidate.parent != path.parent or st.st_ino == exclude_inode:
            continue
        if st.st_size >= min_size and first_line_hash(candidate) == first_hash:
            return Found(candidate, same_inode=False)
    return None
