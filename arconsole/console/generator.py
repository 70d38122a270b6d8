"""Realistic alerts for `arconsole demo`, appended to an alerts.json as Wazuh writes it.

The mix tells the story an operator meets on a real manager: SSH brute-force bursts from one
source, web scans, repeat offenders that come back after their block expired, sources on the
white list (which must never be blocked), and quiet informational noise; from the manager
(agent 000) and two agents. Addresses come from the TEST-NET ranges (RFC 5737), never from a
real network. Nothing here imports Textual: the generator is usable (and tested) alone.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TEST_NETS = ("192.0.2.", "198.51.100.", "203.0.113.")

AGENTS: tuple[tuple[str, str, str | None], ...] = (
    ("000", "demo-manager", None),
    ("001", "web01", "10.0.1.11"),
    ("002", "db01", "10.0.1.12"),
)


@dataclass(frozen=True, slots=True)
class RuleTemplate:
    rule_id: str
    level: int
    description: str
    groups: tuple[str, ...]
    location: str
    log: str  # full_log, with {ip}, {user}, {port}, {host}
    decoder: str
    user: bool = True  # carries data.dstuser
    pci: tuple[str, ...] = ()


SSH_FAILED = RuleTemplate(
    "5710", 5, "sshd: Attempt to login using a non-existent user",
    ("syslog", "sshd", "invalid_login", "authentication_failed"), "/var/log/auth.log",
    "{stamp} {host} sshd[{pid}]: Invalid user {user} from {ip} port {port}", "sshd",
    pci=("10.2.4", "10.2.5", "10.6.1"),
)
SSH_PASSWORD = RuleTemplate(
    "5716", 5, "sshd: authentication failed.",
    ("syslog", "sshd", "authentication_failed"), "/var/log/auth.log",
    "{stamp} {host} sshd[{pid}]: Failed password for {user} from {ip} port {port} ssh2", "sshd",
    pci=("10.2.4", "10.2.5"),
)
SSH_BRUTE = RuleTemplate(
    "5712", 10, "sshd: brute force trying to get access to the system. Non existent user.",
    ("syslog", "sshd", "authentication_failures"), "/var/log/auth.log",
    "{stamp} {host} sshd[{pid}]: Invalid user {user} from {ip} port {port}", "sshd",
    pci=("11.4", "10.2.4", "10.2.5"),
)
SSH_BRUTE_MAX = RuleTemplate(
    "5763", 10, "sshd: brute force trying to get access to the system. Authentication failed.",
    ("syslog", "sshd", "authentication_failures"), "/var/log/auth.log",
    "{stamp} {host} sshd[{pid}]: Failed password for {user} from {ip} port {port} ssh2", "sshd",
    pci=("11.4", "10.2.4", "10.2.5"),
)
WEB_400 = RuleTemplate(
    "31101", 5, "Web server 400 error code.",
    ("web", "accesslog", "attack"), "/var/log/nginx/access.log",
    '{ip} - - [{clf}] "GET /wp-login.php HTTP/1.1" 404 153 "-" "Mozilla/5.0"', "web-accesslog",
    user=False,
)
WEB_SCAN = RuleTemplate(
    "31151", 10, "Multiple web server 400 error codes from same source ip.",
    ("web", "accesslog", "web_scan", "recon"), "/var/log/nginx/access.log",
    '{ip} - - [{clf}] "GET /.env HTTP/1.1" 404 153 "-" "zgrab/0.x"', "web-accesslog",
    user=False, pci=("6.5", "11.4"),
)
SQL_INJECTION = RuleTemplate(
    "31103", 7, "SQL injection attempt.",
    ("web", "accesslog", "attack", "sql_injection"), "/var/log/nginx/access.log",
    "{ip} - - [{clf}] \"GET /item.php?id=1'%20OR%20'1'='1 HTTP/1.1\" 200 512 \"-\" \"sqlmap\"",
    "web-accesslog", user=False, pci=("6.5", "11.4", "6.5.1"),
)
SESSION_OPENED = RuleTemplate(
    "5501", 3, "PAM: Login session opened.",
    ("pam", "syslog", "authentication_success"), "/var/log/auth.log",
    "{stamp} {host} sshd[{pid}]: pam_unix(sshd:session): session opened for user {user}",
    "pam",
)
SUDO = RuleTemplate(
    "5402", 3, "Successful sudo to ROOT executed.",
    ("syslog", "sudo"), "/var/log/auth.log",
    "{stamp} {host} sudo: {user} : TTY=pts/0 ; PWD=/home/{user} ; USER=root ; COMMAND=/bin/ls",
    "sudo", user=True,
)

USERS = ("root", "admin", "oracle", "test", "ubuntu", "git", "postgres", "deploy", "pi")


class AlertGenerator:
    """Writes alert lines; `random.Random(seed)` makes a run reproducible."""

    def __init__(
        self,
        path: Path,
        *,
        white_listed: Sequence[str] = (),
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.random = random.Random(seed)
        self.clock = clock
        self.white_listed = tuple(white_listed) or ("127.0.0.1",)
        self.counter = 0
        self.offenders: list[str] = [self._address() for _ in range(4)]  # come back for more
        self.written = 0

    # ------------------------------------------------------------------ alert making

    def _address(self) -> str:
        return f"{self.random.choice(TEST_NETS)}{self.random.randint(1, 254)}"

    def alert(self, template: RuleTemplate, srcip: str | None, *,
              agent: tuple[str, str, str | None] | None = None) -> dict[str, Any]:
        now = self.clock()
        self.counter += 1
        agent_id, agent_name, agent_ip = agent or self.random.choice(AGENTS)
        user = self.random.choice(USERS)
        stamp = time.strftime("%b %d %H:%M:%S", time.gmtime(now))
        clf = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now))
        host = agent_name if agent_id != "000" else "manager"
        full_log = template.log.format(
            stamp=stamp, host=host, pid=self.random.randint(1000, 65000), user=user,
            ip=srcip or "-", port=self.random.randint(1024, 65535), clf=clf,
        )
        data: dict[str, str] = {}
        if srcip is not None:
            data["srcip"] = srcip
            data["srcport"] = str(self.random.randint(1024, 65535))
        if template.user:
            data["dstuser"] = user
        agent_data: dict[str, str] = {"id": agent_id, "name": agent_name}
        if agent_ip:
            agent_data["ip"] = agent_ip
        alert: dict[str, Any] = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
            + f".{int(now * 1000) % 1000:03d}+0000",
            "rule": {
                "level": template.level,
                "description": template.description,
                "id": template.rule_id,
                "firedtimes": self.random.randint(1, 40),
                "mail": template.level >= 12,
                "groups": list(template.groups),
                **({"pci_dss": list(template.pci)} if template.pci else {}),
            },
            "agent": agent_data,
            "manager": {"name": "demo-manager"},
            "id": f"{int(now)}.{self.counter * 1031}",
            "cluster": {"name": "wazuh", "node": "master"},
            "full_log": full_log,
            "decoder": {"name": template.decoder},
            "data": data,
            "location": template.location,
        }
        return alert

    def burst(self) -> list[dict[str, Any]]:
        """One story beat: a burst, a scan, a repeat offender, a white-listed source, noise."""
        choice = self.random.random()
        if choice < 0.25:  # SSH brute force: failures, then the correlation rule
            ip = self._address()
            agent = self.random.choice(AGENTS)
            failures = [self.alert(self.random.choice((SSH_FAILED, SSH_PASSWORD)), ip,
                                   agent=agent) for _ in range(self.random.randint(2, 5))]
            return [*failures, self.alert(self.random.choice((SSH_BRUTE, SSH_BRUTE_MAX)), ip,
                                          agent=agent)]
        if choice < 0.40:  # web scan
            ip = self._address()
            agent = AGENTS[1]
            hits = [self.alert(WEB_400, ip, agent=agent) for _ in range(self.random.randint(2, 4))]
            return [*hits, self.alert(self.random.choice((WEB_SCAN, SQL_INJECTION)), ip,
                                      agent=agent)]
        if choice < 0.55:  # a repeat offender comes back
            ip = self.random.choice(self.offenders)
            return [self.alert(self.random.choice((SSH_BRUTE, SSH_BRUTE_MAX, WEB_SCAN)), ip)]
        if choice < 0.65:  # a white-listed source trips a rule: must not be blocked
            ip = self.random.choice(self.white_listed)
            return [self.alert(SSH_BRUTE, ip, agent=AGENTS[0])]
        noise = self.random.choice((SESSION_OPENED, SUDO, SSH_PASSWORD, WEB_400))
        source = self._address() if noise in (SSH_PASSWORD, WEB_400) else None
        return [self.alert(noise, source)]

    # ------------------------------------------------------------------ writing

    def write(self, alerts: Sequence[dict[str, Any]]) -> None:
        if not alerts:
            return
        data = "".join(json.dumps(a, separators=(",", ":")) + "\n" for a in alerts)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(data)
        self.written += len(alerts)

    async def run(self, rate: float, *, seconds: float | None = None) -> str | None:
        """Append about `rate` alerts a second (in bursts) for `seconds`, or until cancelled.
        None when it ran its course; why it stopped when the file cannot be appended to."""
        started = time.monotonic()
        interval = 1.0 / max(rate, 0.01)
        pending: list[dict[str, Any]] = []
        while seconds is None or time.monotonic() - started < seconds:
            if not pending:
                pending = self.burst()
            try:
                self.write([pending.pop(0)])
            except OSError as error:
                return f"cannot append to {self.path}: {error.strerror or error}"
            await asyncio.sleep(interval * self.random.uniform(0.3, 1.7))
        return None
