"""Double delivery: the Wazuh manager's own ossec.conf routing responses to agents.

Wazuh's analysisd delivers every kept response routed to agents (`local`, `defined-agent`,
`all`) itself; when arconsole follows that same file and delivers through a transport too,
each of those responses reaches the agents twice (issue 14 item 1). `run` warns at start and
`check` warns (or, without `--agent-transport`, notes) the same.
"""

from __future__ import annotations

from pathlib import Path

from arconsole.config.model import ActiveResponse, Config, LocationFlag

AGENT_FLAGS = LocationFlag.REMOTE_AGENT | LocationFlag.SPECIFIC_AGENT | LocationFlag.ALL_AGENTS


def is_manager_config(config_path: Path, home: Path) -> bool:
    """The file is HOME/etc/ossec.conf: the config Wazuh's own daemons read."""
    return config_path.absolute() == (home / "etc" / "ossec.conf").absolute()


def agent_routed(config: Config) -> list[ActiveResponse]:
    """The kept responses that Wazuh sends to agents (never the `server`-only ones)."""
    return [r for r in config.responses if r.kept and r.location_flags & AGENT_FLAGS
            and not r.location_flags & LocationFlag.AS_ONLY]


def double_delivery_warning(config: Config, config_path: Path, home: Path) -> str | None:
    """With a transport, the manager's own ossec.conf binding agent responses means Wazuh
    delivers them too: say so (None when it does not apply)."""
    if not is_manager_config(config_path, home):
        return None
    names = sorted({r.name for r in agent_routed(config)})
    if not names:
        return None
    return (f"{config_path} is the Wazuh manager's own config and it routes "
            f"{', '.join(names)} to agents: Wazuh delivers them too (double delivery). Give "
            "arconsole its own config, or drop those blocks from the manager's")
