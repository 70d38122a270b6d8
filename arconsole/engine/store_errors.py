"""The state store's errors: what callers of StateStore may catch, by kind."""

from __future__ import annotations

from pathlib import Path


class StateError(Exception):
    """The state file cannot be used as asked."""


class StateLocked(StateError):
    """Another engine owns the state file."""

    def __init__(self, path: Path, holder_pid: int | None) -> None:
        self.path = path
        self.holder_pid = holder_pid
        owner = f"engine pid {holder_pid}" if holder_pid else "another engine"
        super().__init__(f"state file {path} is owned by {owner}; only one engine may run on it")


class StateCorrupt(StateError):
    """The file is damaged and this store may not repair it (opened without the lock)."""


class StateReadOnly(StateError):
    """A write was attempted on a store opened without the lock."""


class StoreWriteError(StateError):
    """A write failed (disk full, I/O error...): the transaction was rolled back whole.

    `reason` is short ("disk full"); the message names the file and SQLite's words.
    """

    def __init__(self, path: Path, reason: str, detail: str) -> None:
        self.path = path
        self.reason = reason
        self.detail = detail
        super().__init__(f"state file {path}: write failed ({reason}): {detail}")
