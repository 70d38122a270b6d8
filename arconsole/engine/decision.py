"""What deciding yields (`ResponseDecision`, `AlertDecision`), where a response runs
(`SERVER`, `ALL_AGENTS`), and the input checks of spec 6.1 that every reading shares.

arconsole is stricter than Wazuh in one place (scenarios Part E, D1/D2): a srcip or dstuser that
starts with `-` is rejected as crafted too (Wazuh's regexes let `-rf` through).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
    return IP_OK(srcip) is None or srcip.startswith("-")


def target_words(targets: tuple[str, ...]) -> str:
    if targets == (SERVER,):
        return "the manager"
    if targets == (ALL_AGENTS,):
        return "every active agent"
    return "agent " + ", ".join(targets) if len(targets) == 1 else "agents " + ", ".join(targets)
