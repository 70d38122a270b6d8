"""Make a directory and its parents, with a truthful error when a file is in the way.

`Path.mkdir(parents=True, exist_ok=True)` raises FileExistsError ("File exists") when the
path itself is a file, which reads as if all were well; what is wrong is that it is not a
directory, as the system says when a file sits higher up the path.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path


def ensure_directory(path: Path, mode: int = 0o777) -> Path:
    """`path` as a directory, made (the last one with `mode`, less the umask) when missing;
    NotADirectoryError naming it when it exists as anything else. Returns `path`."""
    try:
        path.mkdir(mode=mode, parents=True, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path)) from None
    return path
