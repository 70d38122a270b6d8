"""The agent inventory: which agents exist, which are active, and which Wazuh version each runs.

Read from `--agents FILE`, in either of two shapes:
- a JSON array of `{"id": "001", "name": "web-01", "status": "active"}` (the list `explain`
  has always taken; `ip` and `version` may be added);
- the JSON of Wazuh's API `GET /agents`: `{"data": {"affected_items": [{"id", "name", "ip",
  "version": "Wazuh v4.14.7", "status"}, ...]}}`.

Without a file, an agent transport reads `HOME/etc/client.keys` (`ID NAME IP KEY` per line):
ids and names only, status and version unknown. An unknown status counts as active (remoted
itself drops what it cannot deliver) and an unknown version as >= 4.2 (the JSON protocol).

Wazuh sends an `all` response to every agent whose `connection_status` is `active`, never to
the manager (the wazuh-db query is `id > 0`), so agent `000` is never a target even if listed.
Agents older than 4.2 understand only the legacy string (spec 6.3 B), so an ad-hoc JSON run
cannot reach them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from arconsole.wording import json_error

MANAGER_ID = "000"
UNKNOWN_STATUS = "unknown"  # client.keys says nothing about connections
# Agents report their own version (Wazuh's API gives it as is): no digit run int() refuses.
_VERSION = re.compile(r"(?:wazuh\s+)?v?(\d{1,9})\.(\d{1,9})", re.IGNORECASE)


class AgentsFileError(ValueError):
    """The agents file cannot be read or is not a JSON array of agents."""


class _AgentEntry(msgspec.Struct):
    id: str | int
    name: str = ""
    status: str = ""
    ip: str = ""
    version: str = ""


@dataclass(frozen=True, slots=True)
class Agent:
    id: str  # three digits, as Wazuh writes agent ids
    name: str
    status: str
    ip: str = ""
    version: str = ""  # as the API gives it ("Wazuh v4.14.7"); "" when unknown

    @property
    def active(self) -> bool:
        return self.status in ("active", UNKNOWN_STATUS)

    @property
    def version_known(self) -> bool:
        return parse_version(self.version) is not None

    @property
    def speaks_json(self) -> bool:
        """Wazuh >= 4.2 (or unknown, taken as such): the agent's execd reads format A."""
        version = parse_version(self.version)
        return version is None or version >= (4, 2)


def parse_version(text: str) -> tuple[int, int] | None:
    """(major, minor) from "Wazuh v4.14.7", "v4.1.5" or "4.2"; None when there is none."""
    found = _VERSION.match(text.strip()) if text else None
    return (int(found.group(1)), int(found.group(2))) if found else None


def normalise_agent_id(value: str | int) -> str:
    """`1`, `"1"` and `"001"` are the same agent: `"001"`. Other text is kept as written, and
    so are digits no agent id has (an alert's are the attacker's: int() refuses 4300)."""
    text = str(value).strip()
    return f"{int(text):03d}" if text.isascii() and text.isdigit() and len(text) <= 18 else text


class AgentDirectory:
    """Agents by id and name; `active_ids` is what `location=all` reaches."""

    def __init__(self, agents: list[Agent], source: str = "") -> None:
        self.agents = tuple(agents)
        self.source = source
        self._by_name = {agent.name: agent for agent in agents if agent.name}
        self._by_id = {agent.id: agent for agent in agents}
        self.active_ids: tuple[str, ...] = tuple(
            agent.id for agent in agents if agent.active and agent.id != MANAGER_ID
        )

    def id_of(self, name: str) -> str | None:
        """The id of the agent called `name` (alerts.log names agents, never numbers them)."""
        agent = self._by_name.get(name)
        return agent.id if agent is not None else None

    def get(self, agent_id: str) -> Agent | None:
        return self._by_id.get(normalise_agent_id(agent_id))

    @property
    def versions_unknown(self) -> bool:
        return any(not agent.version_known for agent in self.agents)

    @classmethod
    def from_json(cls, data: bytes, source: str = "") -> AgentDirectory:
        try:
            document: Any = msgspec.json.decode(data)
        except msgspec.DecodeError as error:
            raise AgentsFileError(f"not JSON: {json_error(error)}") from None
        if isinstance(document, dict):
            # Wazuh's API answer to GET /agents.
            items = document.get("data")
            items = items.get("affected_items") if isinstance(items, dict) else None
            if not isinstance(items, list):
                raise AgentsFileError(
                    "not a JSON array of agents, nor a Wazuh API answer with "
                    "data.affected_items"
                )
            document = items
        try:
            entries = msgspec.convert(document, type=list[_AgentEntry])
        except msgspec.ValidationError as error:
            raise AgentsFileError(f"not a JSON array of agents: {json_error(error)}") from None
        agents = [
            Agent(normalise_agent_id(entry.id), entry.name, entry.status, entry.ip,
                  entry.version)
            for entry in entries
        ]
        return cls(agents, source)

    @classmethod
    def from_client_keys(cls, text: str, source: str = "") -> AgentDirectory:
        """`ID NAME IP KEY` lines; removed agents (name or id starting `!` or `#`) skipped."""
        agents: list[Agent] = []
        for line in text.splitlines():
            words = line.split()
            if len(words) < 3 or words[0][:1] in "#!" or words[1][:1] in "#!":
                continue
            if not words[0].isdigit():
                continue
            agents.append(Agent(normalise_agent_id(words[0]), words[1], UNKNOWN_STATUS,
                                words[2] if words[2] != "any" else ""))
        return cls(agents, source)


def load_agents(path: Path) -> AgentDirectory:
    """Read `--agents FILE`; AgentsFileError when it is unreadable or malformed."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise AgentsFileError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        return AgentDirectory.from_json(data, str(path))
    except AgentsFileError as error:
        raise AgentsFileError(f"{path}: {error}") from None  # which file is wrong


def load_client_keys(home: Path) -> AgentDirectory:
    """The agents registered in `HOME/etc/client.keys`; AgentsFileError when unreadable."""
    path = home / "etc" / "client.keys"
    try:
        text = path.read_text("utf-8", "replace")
    except OSError as error:
        raise AgentsFileError(f"cannot read {path}: {error.strerror or error}") from None
    return AgentDirectory.from_client_keys(text, str(path))
