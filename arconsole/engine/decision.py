"""What deciding yields (`ResponseDecision`, `AlertDecision`), where a response runs
(`SERVER`, `ALL_AGENTS`), and the input checks of spec 6.1 that every reading shares.

arconsole is stricter than Wazuh in two places: a srcip or dstuser that starts with `-` is
rejected as crafted too (scenarios Part E, D1/D2: Wazuh's regexes let `-rf` through), and so is
a srcip written in one of C's lenient IPv4 forms (`lenient_ipv4`) or as a host pattern
(`host_pattern`); in OSSEC, a response that expects srcip never gets a host name (`host_name`).
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass

from arconsole.addresses import strip_mapped
from arconsole.alerts.model import Alert
from arconsole.config.model import ActiveResponse

# Wazuh's POSIX EREs (analysisd.c): anything else is "a possible logging attack".
USER_OK = re.compile(r"[a-zA-Z._0-9@?-]*").fullmatch
IP_OK = re.compile(r"[a-zA-Z.:_0-9-]*").fullmatch
SERVER = "server"
ALL_AGENTS = "all"
SERVER_ONLY = (SERVER,)


@dataclass(frozen=True, slots=True)
class ResponseDecision:
    """One `<active-response>` against one alert: does it fire, where, and why."""

    response: ActiveResponse
    fires: bool
    reasons: tuple[str, ...]
    targets: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        """The object `arconsole explain --format jsonl` prints for this response."""
        response = self.response
        return {
            "index": response.index,
            "line": response.line,
            "command": response.command,
            "name": response.name,
            "fires": self.fires,
            "reasons": list(self.reasons),
            "targets": list(self.targets),
            "timeout": response.timeout,
            "stateful": response.stateful,
        }


@dataclass(frozen=True, slots=True)
class AlertDecision:
    """Every response of the config against one alert, in file order."""

    alert: Alert
    responses: tuple[ResponseDecision, ...]

    @property
    def fired(self) -> tuple[ResponseDecision, ...]:
        return tuple(decision for decision in self.responses if decision.fires)

    def to_json(self, line: int) -> dict[str, object]:
        """The explain object for the alert read at `line` (first line of a record)."""
        alert = self.alert
        return {
            "line": line,
            "alert_id": alert.alert_id,
            "rule_id": alert.rule_id,
            "level": alert.level,
            "agent_id": alert.agent_id,
            "srcip": alert.srcip,
            "dstuser": alert.dstuser,
            "responses": [decision.to_json() for decision in self.responses],
            "error": None,
        }


def crafted_user(dstuser: str) -> bool:
    return USER_OK(dstuser) is None or dstuser.startswith("-")


def crafted_ip(srcip: str) -> bool:
    return (IP_OK(srcip) is None or srcip.startswith("-") or lenient_ipv4(srcip) is not None
            or host_pattern(srcip))


def host_pattern(srcip: str) -> bool:
    """`srcip` is a hosts_access(5) pattern rather than an address or a host name: it starts
    or ends with a dot, or holds two in a row (`10.` is every 10.x.x.x host, `.example.com`
    a whole domain). OSSEC's host-deny.sh writes it to /etc/hosts.deny as it is, where it
    would deny what the white list (which saw no address) was meant to keep."""
    text = strip_mapped(srcip)
    return text.startswith(".") or text.endswith(".") or ".." in text


def lenient_ipv4(srcip: str) -> str | None:
    """The address C's lenient readers take `srcip` for, when it is not written as one (four
    decimal octets); else None.

    The white list reads IPv4 strictly (`inet_pton`), as analysisd does, but Wazuh's scripts
    accept what `getaddrinfo(AI_NUMERICHOST)` does, every `inet_aton` form, and the firewall
    blocks its own reading of the text: `0xa.0.0.1`, `167772161`, `10.0.0.01` are 10.0.0.1
    (`10.1` is 10.0.0.1 to getaddrinfo, 10.1.0.0 to iptables). Such a srcip would be checked
    as no address and blocked as a white-listed one: it is crafted.
    """
    text = strip_mapped(srcip)  # as the white list reads it
    if not text[:1].isdigit() or ":" in text:
        return None  # inet_aton's forms all start with a digit; IPv6 is not one of them
    try:
        packed = socket.inet_aton(text)
    except (OSError, ValueError):
        return None  # no IPv4 address to anyone: a host name, or nonsense
    try:
        socket.inet_pton(socket.AF_INET, text)
    except OSError:
        return socket.inet_ntoa(packed)
    return None


def host_name(srcip: str) -> bool:
    """`srcip` names a host rather than an address. OSSEC's legacy scripts hand it to the
    firewall (`iptables -s`, `route add`), which resolves it then: whoever answers for the
    name chooses what is blocked, white-listed hosts included (Wazuh's scripts and
    arconsole's refuse anything but a numeric address)."""
    text = strip_mapped(srcip)
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, text)
        except OSError:
            continue
        return False
    return True


def target_words(targets: tuple[str, ...]) -> str:
    if targets == (SERVER,):
        return "the manager"
    if targets == (ALL_AGENTS,):
        return "every active agent"
    return "agent " + ", ".join(targets) if len(targets) == 1 else "agents " + ", ".join(targets)
