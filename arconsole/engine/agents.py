"""The agent directory `location=all` needs (spec 3.3, 1.5), read from `--agents FILE`.

FILE is a JSON array of `{"id": "001", "name": "web-01", "status": "active"}`. Wazuh sends an
`all` response to every agent whose `connection_status` is `active`, never to the manager
(the wazuh-db query is `id > 0`), so agent `000` is never a target even if listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import msgspec

MANAGER_ID = "000"


class AgentsFileError(ValueError):
    """The agents file cannot be read or is not a JSON array of agents."""


class _AgentEntry(msgspec.Struct):
    id: str | int
    name: str = ""
    status: str = ""


@dataclass(frozen=True, slots=True)
class Agent:
    id: str  # three digits, as Wazuh writes agent ids
    name: str
    status: str

    @property
    def active(self) -> bool:
        return self.status == "active"


def normalise_agent_id(value: str | int) -> str:
    """`1`, `"1"` and `"001"` are the same agent: `"001"`. Other text is kept as written."""
    text = str(value).strip()
    return f"{int(text):03d}" if text.isdigit() else text


class AgentDirectory:
    """Agents by id and name; `active_ids` is what `location=all` reaches."""

    def __init__(self, agents: list[Agent], source: str = "") -> None:
        self.agents = tuple(agents)
        self.source = source
        self._by_name = {agent.name: agent for agent in agents if agent.name}
        self.active_ids: tuple[str, ...] = tuple(
            agent.id for agent in agents if agent.active and agent.id != MANAGER_ID
        )

    def id_of(self, name: str) -> str | None:
        """The id of the agent called `name` (alerts.log names agents, never numbers them)."""
        agent = self._by_name.get(name)
        return agent.id if agent is not None else None

    @classmethod
    def from_json(cls, data: bytes, source: str = "") -> AgentDirectory:
        try:
            entries = msgspec.json.decode(data, type=list[_AgentEntry])
        except msgspec.ValidationError as error:
            raise AgentsFileError(f"not a JSON array of agents: {error}") from None
        except msgspec.DecodeError as error:
            raise AgentsFileError(f"not JSON: {error}") from None
        agents = [
            Agent(normalise_agent_id(entry.id), entry.name, entry.status) for entry in entries
        ]
        return cls(agents, source)


def load_agents(path: Path) -> AgentDirectory:
    """Read `--agents FILE`; AgentsFileError when it is unreadable or malformed."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise AgentsFileError(f"cannot read {path}: {error.strerror or error}") from None
    return AgentDirectory.from_json(data, str(path))
