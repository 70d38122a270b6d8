"""The exact datagram that asks a Wazuh manager's remoted to run a response on an agent.

Format A (spec 6.3 A) with `command` = `!<executable>`, an ad-hoc run that the agent's execd
accepts whatever its ar.conf holds (fleet.md F1) and runs with timeout 0, `origin.module`
"arconsole" so the agent's log says who sent it; behind the header of format C
(`(local_source) [] N<R|N><S|N> <agent id> `, the id `%03d`: 3 digits, more past 999);
sent as ONE datagram with the trailing NUL, as `OS_SendUnix(sock, msg, 0)` does.
The alert is spliced in as its raw bytes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import msgspec

from arconsole.config.model import LocationFlag

ORIGIN_MODULE = "arconsole"
REVERSE_SCRIPT = "arconsole-reverse"
# remoted reads at most OS_MAXSTR (65536) bytes per datagram; analysisd builds into that size.
MAX_DATAGRAM = 65536


class AgentMessageError(ValueError):
    """The message cannot be sent as one remoted datagram (too long, NUL inside)."""


_encode = msgspec.json.Encoder().encode


def _json_text(value: object) -> bytes:
    # cJSON_PrintUnformatted: no spaces, UTF-8 kept raw (msgspec writes exactly that).
    return _encode(value)


def header_flags(flags: LocationFlag) -> str:
    """`N`, then `R` for a location with `local`, then `S` for `defined-agent` or `all`
    (spec 6.3 C: `NRN` for local, `NNS` for defined-agent and each agent of all)."""
    local = "R" if flags & LocationFlag.REMOTE_AGENT else "N"
    specific = "S" if flags & (LocationFlag.SPECIFIC_AGENT | LocationFlag.ALL_AGENTS) else "N"
    return f"N{local}{specific}"


def adhoc_json(
    *, node_name: str, executable: str, extra_args: Sequence[str], alert_raw: bytes,
) -> bytes:
    """Format A for an ad-hoc run of `active-response/bin/<executable>` on an agent."""
    return (adhoc_head(node_name=node_name, executable=executable, extra_args=extra_args)
            + alert_raw + ADHOC_TAIL)


ADHOC_TAIL = b"}}"


def adhoc_head(*, node_name: str, executable: str, extra_args: Sequence[str]) -> bytes:
    """Format A up to the alert (the same for every alert of one response: built once)."""
    return (
        b'{"version":1,"origin":{"name":' + _json_text(node_name)
        + b',"module":"' + ORIGIN_MODULE.encode() + b'"},"command":'
        + _json_text("!" + executable)
        + b',"parameters":{"extra_args":' + _json_text(list(extra_args))
        + b',"alert":'
    )


def is_agent_id(agent_id: str) -> bool:
    """A Wazuh agent id as remoted's header carries it: 3 to 8 ASCII digits."""
    return 3 <= len(agent_id) <= 8 and agent_id.isascii() and agent_id.isdigit()


def agent_header(flags: str, agent_id: str) -> bytes:
    """Format C's header: `(local_source) [] <flags> <agent id> `."""
    # Wazuh numbers agents %03d: "001"... "999", then "1000", "1001"... (ASCII digits only).
    if len(flags) != 3 or not is_agent_id(agent_id):
        # the id may be an alert's (agent.id of a `local` response): cut, as it is stored
        shown = repr(agent_id[:16]) + (f"... ({len(agent_id):,} characters)"
                                       if len(agent_id) > 16 else "")
        raise AgentMessageError(f"bad header {flags!r} for agent {shown}")
    return f"(local_source) [] {flags} {agent_id} ".encode()


# The shortest header (3-digit agent id).
MIN_HEADER = len("(local_source) [] NNS 001 ")


def agent_datagram(flags: str, agent_id: str, message: bytes) -> bytes:
    """Header + message + NUL: exactly the bytes analysisd writes to `queue/alerts/ar`."""
    header = agent_header(flags, agent_id)
    if b"\0" in message:
        raise AgentMessageError("the message holds a NUL byte")
    datagram = header + message + b"\0"
    if len(datagram) > MAX_DATAGRAM:
        raise AgentMessageError(
            f"message of {len(datagram)} bytes is longer than remoted reads ({MAX_DATAGRAM})"
        )
    return datagram


# The agent helper's own patterns (scripts/agent_reverse.py, `case` under LC_ALL=C): a program
# file name not starting `.` or `-`, an address or a user name not starting `-`.
_HELPER_PROGRAM = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_HELPER_KEY = re.compile(r"[A-Za-z0-9.:_@][A-Za-z0-9.:_@-]{0,254}")


def reverse_refusal(program: str, key: str) -> str | None:
    """Why the agent's arconsole-reverse would refuse (program, key); None when it takes them."""
    if program == REVERSE_SCRIPT or _HELPER_PROGRAM.fullmatch(program) is None:
        return f"the agent's {REVERSE_SCRIPT} would refuse this program"
    if _HELPER_KEY.fullmatch(key) is None:
        return f"the agent's {REVERSE_SCRIPT} would refuse this key"
    return None


def reverse_json(*, node_name: str, program: str, key: str) -> bytes:
    """The ad-hoc `!arconsole-reverse` asking the agent to run `<program>`'s delete for `key`.

    The alert carries the key where the stock scripts read it (srcip, or dstuser for users),
    so the script's own log line decodes with the key in `data.srcip` / `data.dstuser`.
    """
    field = "srcip" if looks_like_address(key) else "dstuser"
    alert = b'{"data":{' + _json_text(field) + b":" + _json_text(key) + b"}}"
    return adhoc_json(node_name=node_name, executable=REVERSE_SCRIPT,
                      extra_args=(program, key), alert_raw=alert)


def looks_like_address(key: str) -> bool:
    """An IPv4 or IPv6 text (what firewall-drop and friends key on), not a user name."""
    return bool(key) and ("." in key or ":" in key) and all(
        c in "0123456789abcdefABCDEF.:" for c in key
    )
