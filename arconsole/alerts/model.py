"""The alert model: the fields decisions need, plus the raw line to pass on unchanged."""

from __future__ import annotations

import msgspec


class Alert(msgspec.Struct, frozen=True, gc=False):
    """One alert, from an `alerts.json` line or an `alerts.log` record.

    Everything here is attacker-controlled text. `raw` is the alert as a JSON object
    (the original line bytes for alerts.json, without the newline; a JSON object built from
    the record for alerts.log), so that a matching alert can be passed to a script without
    re-encoding.

    A msgspec Struct rather than a dataclass: built once per alert line on the hot path, where
    a frozen dataclass of this size cost as much as the whole decision (bench/decide.py).
    """

    alert_id: str  # "<epoch>.<n>"
    timestamp: str
    rule_id: str  # always a string ("5712"), even when the line has a number
    level: int
    description: str
    groups: tuple[str, ...]  # rule.groups as written (no compliance groups)
    group_string: str  # rebuilt as spec 5.4: groups then compliance tokens, each followed by ","
    agent_id: str | None  # None when the alert has no agent object
    agent_name: str | None
    srcip: str | None  # data.srcip, as written
    dstuser: str | None  # data.dstuser, as written
    location: str | None
    raw: bytes
    full_log: str | None = None
    # The file a syscheck (FIM) alert is about (`syscheck.path`); only OSSEC's `expect`
    # gate reads it (spec 6.1, 6.2).
    filename: str | None = None

    @property
    def from_manager(self) -> bool:
        """True for the manager's own events: agent 000, or no agent at all (spec 3.3)."""
        return self.agent_id is None or self.agent_id == "000"


class AlertError(ValueError):
    """A line or record that cannot be read as an alert. The reader counts it and goes on."""


# The JSON decoders (msgspec's, json's) stop at Python's recursion limit, about a thousand
# levels, with RecursionError rather than a decode error; a 64 KiB line can nest 32 000. The
# callers that decode an attacker's line catch it and say this, as for any bad line.
TOO_DEEP = "not JSON: nested too deeply to read (past the JSON decoder's depth limit)"
