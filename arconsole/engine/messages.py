"""The messages a response script receives, built from the alert's raw bytes.

JSON protocol (spec 6.3 A, 7.3 step 5, 8.4): analysisd's message as execd rewrites it, with
`origin.module` "wazuh-execd", `parameters.program` appended last, and `command` one of add,
continue, abort, delete. The alert is spliced in as the raw line bytes, never re-encoded.
The top-level `command` sits in a fixed slot so the same message is reissued with another
command without parsing it again.

argv protocol (spec 9.1): the words `add|delete user ip alertid ruleid location... filename`.
"""

from __future__ import annotations

import functools
import json

from arconsole.alerts.model import Alert
from arconsole.config.executables import PROGRAM_DIR


@functools.lru_cache(maxsize=1024)
def _json_text(value: str | tuple[str, ...]) -> bytes:
    """cJSON_PrintUnformatted: no spaces, UTF-8 kept raw. Cached: the node name, a
    response's extra_args and its program are the same for every alert."""
    return json.dumps(value if isinstance(value, str) else list(value), ensure_ascii=False,
                      separators=(",", ":")).encode()


class ExecdMessage:
    """One alert's execd message, put together only when a command is first asked for: a
    dry run's refresh of a block in force (most triggers of a backlog) never needs it."""

    __slots__ = ("_alert_raw", "_executable", "_extra_args", "_node_name", "_parts")

    def __init__(
        self, node_name: str, extra_args: tuple[str, ...], alert_raw: bytes, executable: str,
    ) -> None:
        self._node_name = node_name
        self._extra_args = extra_args
        self._alert_raw = alert_raw
        self._executable = executable
        self._parts: tuple[bytes, bytes] | None = None

    @classmethod
    def build(
        cls, *, node_name: str, extra_args: tuple[str, ...] | list[str], alert_raw: bytes,
        executable: str,
    ) -> ExecdMessage:
        return cls(node_name, tuple(extra_args), alert_raw, executable)

    def _splice(self) -> tuple[bytes, bytes]:
        """(everything up to the command value's opening quote, everything after its
        closing quote)."""
        head = (
            b'{"version":1,"origin":{"name":' + _json_text(self._node_name)
            + b',"module":"wazuh-execd"},"command":"'
        )
        tail = (
            b'","parameters":{"extra_args":' + _json_text(self._extra_args)
            + b',"alert":' + self._alert_raw
            + b',"program":' + _json_text(f"{PROGRAM_DIR}/{self._executable}") + b"}}"
        )
        self._parts = (head, tail)
        return head, tail

    def with_command(self, command: str) -> bytes:
        head, tail = self._parts or self._splice()
        return head + command.encode() + tail

    @staticmethod
    def replace_command(message: bytes, command: str) -> bytes:
        """Reissue a stored message (built by `build`) with another command."""
        marker = b',"command":"'
        start = message.index(marker) + len(marker)
        end = message.index(b'"', start)
        return message[:start] + command.encode() + message[end:]


def argv_words(action: str, alert: Alert, srcip: str | None, user: str | None) -> list[str]:
    """OSSEC's argv after the program: action, user, ip, alert id, rule id, location, filename.

    The location is the raw `(agent) ip->path` form OSSEC sends, split on spaces as execd
    splits the message (spec 9.1, scenario G2); at most 31 words in all.
    """
    user = user or "-"
    ip = srcip or "-"
    location = alert.location or "-"
    if alert.agent_id not in (None, "000") and alert.agent_name:
        location = f"({alert.agent_name}) any->{location}"
    words = [action, user, ip, alert.alert_id, alert.rule_id, *location.split(" "), "-"]
    return [w for w in words if w != ""][:31]
