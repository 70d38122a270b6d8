"""How an engine is started: paths, mode and limits, with Wazuh's defaults."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from arconsole.config.model import Flavour, Role

DEFAULT_HOME = Path("/var/ossec")


class Mode(StrEnum):
    ENFORCE = "enforce"
    DRY_RUN = "dry-run"
    # Wazuh's own execd runs the responses: decide and show ("Wazuh will run ..") and follow
    # the fleet table; only operator actions act.
    OBSERVE = "observe"


@dataclass(frozen=True, slots=True)
class EngineOptions:
    config_path: Path
    home: Path
    alerts_path: Path
    state_path: Path
    mode: Mode = Mode.ENFORCE
    flavour: Flavour = Flavour.WAZUH
    role: Role | None = None
    from_start: bool = False
    reverse_on_exit: bool = False
    read_only: bool = False
    time_limit: float = 30.0
    max_concurrency: int = 16
    agents_file: Path | None = None
    offender_decay: float | None = None
    skip_backlog_older_than: float | None = None
    watch_config: bool = True
    control_socket: bool = True
    verify_interval: float | None = None  # ask the stock firewall scripts (drift.py)
    # `--agent-transport`: None for `none`; else the AR queue socket (`wazuh-queue[=PATH]`).
    agent_queue: Path | None = None

    @property
    def socket_path(self) -> Path:
        return socket_path_for(self.state_path)


def socket_path_for(state_path: Path) -> Path:
    """The control socket lives next to the state file."""
    return state_path.with_name(state_path.name + ".sock")


def parse_agent_transport(text: str, home: Path) -> Path | None:
    """`none` -> None; `wazuh-queue` -> HOME/queue/alerts/ar; `wazuh-queue=PATH` -> PATH."""
    if text == "none":
        return None
    name, equals, path = text.partition("=")
    if name != "wazuh-queue" or (equals and not path):
        raise ValueError(f"unknown agent transport {text!r} (none, wazuh-queue[=PATH])")
    return Path(path).absolute() if path else home / "queue" / "alerts" / "ar"


def home_from_config(config_path: Path) -> Path | None:
    """HOME when the config sits at HOME/etc/ossec.conf, as in every Wazuh install."""
    resolved = config_path.absolute()
    if resolved.parent.name == "etc":
        return resolved.parent.parent
    return None


def resolve_paths(
    config: Path | None,
    home: Path | None,
    alerts: Path | None,
    state: Path | None,
) -> tuple[Path, Path, Path, Path]:
    """(config, home, alerts, state) with Wazuh's layout filling what was not given."""
    if home is None:
        home = (home_from_config(config) if config else None) or DEFAULT_HOME
    home = home.absolute()
    config = (config or home / "etc" / "ossec.conf").absolute()
    alerts = (alerts or home / "logs" / "alerts" / "alerts.json").absolute()
    state = (state or home / "var" / "arconsole" / "state.db").absolute()
    return config, home, alerts, state
