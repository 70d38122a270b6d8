"""The `etc/shared/ar.conf` analysisd writes from a config (spec 3.4, C27)."""

from __future__ import annotations

from arconsole.config.model import Config

# Always written first, after truncating the file (src/analysisd/active-response.c:58-60).
BUILTIN_LINES = (
    "restart-ossec0 - restart-ossec.sh - 0",
    "restart-ossec0 - restart-ossec.cmd - 0",
    "restart-wazuh0 - restart-ossec.sh - 0",
    "restart-wazuh0 - restart-ossec.cmd - 0",
    "restart-wazuh0 - restart-wazuh - 0",
    "restart-wazuh0 - restart-wazuh.exe - 0",
)


def ar_conf_lines(config: Config) -> list[str]:
    """`<name> - <executable> - <timeout>` per kept response, in file order, after the
    built-in lines; two blocks with the same name give two identical lines, as in Wazuh."""
    lines = list(BUILTIN_LINES)
    lines.extend(f"{r.name} - {r.executable or ''} - {r.timeout}" for r in config.active_responses)
    return lines


def ar_conf_text(config: Config) -> str:
    return "".join(f"{line}\n" for line in ar_conf_lines(config))
