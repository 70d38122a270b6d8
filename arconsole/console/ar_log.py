"""The active-responses.log tab's source: the file under the engine's home, followed across
rotation (`FileTail`), and a line for the events log when it cannot be read or can again."""

from __future__ import annotations

from pathlib import Path

from arconsole.console.file_tail import FileTail
from arconsole.console.flows import stamp


class ArLogSource:
    def __init__(self, home: Path) -> None:
        self.tail = FileTail(home / "logs" / "active-responses.log")
        self._said: str | None = None  # the problem as last said in the events log

    def poll(self, now: float) -> tuple[list[str], list[str]]:
        """(new lines of the file, lines for the events log): a problem is said once, and
        once more when it clears."""
        lines = self.tail.poll()
        problem = self.tail.problem
        if problem == self._said:
            return lines, []
        self._said = problem
        if problem is not None:
            return lines, [f"{stamp(now)} warning {problem}; the active-responses.log tab "
                           "waits for it"]
        return lines, [f"{stamp(now)} info    reading {self.tail.path} again"]
