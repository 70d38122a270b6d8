"""Refusing to write through a hard link planted at one of the engine's own state files.

The engine's side files (`<state>.fleet-sent`, `<state>.fleet-spool`, the rows log) are
created by the engine and only ever have one name. A second name means someone linked
another file there (a world-writable state directory, or `fs.protected_hardlinks=0`):
truncating and rewriting it would clobber that other file. The file is refused, not moved
aside: every caller has a slower path that keeps everything (records go to the state file),
and the operator is told which name to remove.
"""

from __future__ import annotations

import os
from pathlib import Path


class LinkedFile(OSError):
    """The file has more than one name: writing it would change another file too."""


def refuse_if_linked(path: Path, info: os.stat_result) -> None:
    """LinkedFile when the file opened at `path` (its fstat `info`) has other names."""
    if info.st_nlink > 1:
        raise LinkedFile(
            f"{path} has {info.st_nlink} hard links: refusing to write through it (another "
            "file would be overwritten); remove that name to use it again")
