"""Benchmark: deciding alerts.json lines against a realistic config.

Two sets of generated alerts, each with its own config of 24 responses and a white list:

- realistic: lines as a Wazuh 4.x manager writes them (about 1.1 KB: sshd, PAM, sudo, web
  access logs, Windows EventChannel logons with data.win.system/eventdata, FIM changes,
  VirusTotal), from 60 agents and 5000 source addresses of skewed popularity; the config fires
  about 2.7 responses per alert (issue 13 item 4);
- compact: the earlier set (about 0.9 KB, fewer data fields, 0.76 responses per alert).

For each set it measures, in the same run:

  (a) `orjson.loads` on every line (parsing alone, into Python objects);
  (c) a msgspec typed decode of the same fields arconsole reads, nothing else (arrays kept
      raw as arconsole keeps them): the ceiling of decoding with msgspec;
  (l) the same typed decode with the group arrays decoded as lists of strings;
  (j) when `jiter` is installed (it is not a dependency): `jiter.from_json` with
      `catch_duplicate_keys=True`, the parser that refuses repeated keys itself (no alert
      built: the cost of a checked parse alone);
  (b) arconsole: `decode_alert_line` + `Decider.fired` on every line (the engine's hot path,
      the repeated-key check included).

and where (b) goes: the quick typed decode alone (the rule kept raw), its repeated-key check
(re-encoding and comparing), the rest of `decode_alert_line` (the rule known by its bytes, the
Alert), `Decider.fired`; and the ceiling those stages leave (b/a and b/c if nothing but the
decode, its check and deciding cost anything).

It prints the rates and the ratios b/a, b/c and b/l (higher is better). The sides alternate
in chunks of 2,000 lines for `--rounds` passes and each keeps its fastest chunk, in thread CPU
time (`best_rates`), so a busy machine slows them alike.

    python bench/decide.py [--count 200000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import ipaddress
import itertools
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import orjson

from arconsole.alerts.jsonreader import decode_alert_line
from arconsole.alerts.model import Alert
from arconsole.alerts.quick_shapes import QuickLine
from arconsole.config.model import (
    ActiveResponse,
    Command,
    Config,
    LocationFlag,
    WhiteListEntry,
)
from arconsole.engine.decide import Decider

RULES = [
    # (id, level, description, groups, compliance, with srcip, with dstuser, location)
    ("5710", 5, "sshd: Attempt to login using a non-existent user",
     ["syslog", "sshd", "invalid_login", "authentication_failed"],
     {"pci_dss": ["10.2.4", "10.2.5", "10.6.1"], "gpg13": ["7.1"],
      "gdpr": ["IV_35.7.d", "IV_32.2"], "hipaa": ["164.312.b"],
      "nist_800_53": ["AU.14", "AC.7", "AU.6"], "tsc": ["CC6.1", "CC6.8", "CC7.2", "CC7.3"]},
     True, False, "/var/log/auth.log"),
    ("5716", 5, "sshd: authentication failed.", ["syslog", "sshd", "authentication_failed"],
     {"pci_dss": ["10.2.4", "10.2.5"], "gpg13": ["7.1"], "gdpr": ["IV_35.7.d", "IV_32.2"],
      "hipaa": ["164.312.b"], "nist_800_53": ["AU.14", "AC.7"]},
     True, True, "/var/log/auth.log"),
    ("5712", 10, "sshd: brute force trying to get access to the system. Non existent user.",
     ["syslog", "sshd", "authentication_failures"],
     {"gdpr": ["IV_35.7.d", "IV_32.2"], "hipaa": ["164.312.b"],
      "nist_800_53": ["SI.4", "AU.14", "AC.7"], "pci_dss": ["11.4", "10.2.4", "10.2.5"],
      "tsc": ["CC6.1", "CC6.8", "CC7.2", "CC7.3"]},
     True, False, "/var/log/secure"),
    ("31168", 15, "Shellshock attack detected", ["web", "accesslog", "attack"],
     {"pci_dss": ["11.4"], "gdpr": ["IV_35.7.d"], "nist_800_53": ["SI.4"],
      "tsc": ["CC6.1", "CC6.8", "CC7.2", "CC7.3"]},
     True, False, "/var/log/nginx/access.log"),
    ("31101", 5, "Web server 400 error code.", ["web", "accesslog"],
     {"pci_dss": ["6.5", "11.4"], "gdpr": ["IV_35.7.d"], "nist_800_53": ["SA.11", "SI.4"],
      "tsc": ["CC6.6", "CC7.1", "CC8.1", "CC6.1", "CC6.8", "CC7.2", "CC7.3"]},
     True, False, "/var/log/nginx/access.log"),
    ("550", 7, "Integrity checksum changed.",
     ["ossec", "syscheck", "syscheck_entry_modified", "syscheck_file"],
     {"pci_dss": ["11.5"], "gpg13": ["4.11"], "gdpr": ["II_5.1.f"],
      "hipaa": ["164.312.c.1", "164.312.c.2"], "nist_800_53": ["SI.7"],
      "tsc": ["PI1.4", "PI1.5", "CC6.1", "CC6.8", "CC7.2", "CC7.3"]},
     False, False, "syscheck"),
    ("60122", 5, "Logon Failure - Unknown user or bad password",
     ["windows", "windows_security", "authentication_failed"],
     {"pci_dss": ["10.2.4", "10.2.5"], "gpg13": ["7.1"], "gdpr": ["IV_35.7.d", "IV_32.2"],
      "hipaa": ["164.312.b"], "nist_800_53": ["AU.14", "AC.7"],
      "tsc": ["CC6.1", "CC6.8", "CC7.2", "CC7.3"]},
     True, True, "EventChannel"),
    ("87105", 12, "VirusTotal: Alert - /tmp/x - 5 engines detected this file",
     ["virustotal"], {"pci_dss": ["10.6.1", "11.4"], "gdpr": ["IV_35.7.d"]},
     False, False, "virustotal"),
    ("5402", 3, "Successful sudo to ROOT executed.", ["syslog", "sudo"],
     {"pci_dss": ["10.2.5", "10.2.2"], "gpg13": ["7.6", "7.8", "7.13"],
      "gdpr": ["IV_32.2"], "tsc": ["CC6.8", "CC7.2", "CC7.3"]},
     False, True, "/var/log/auth.log"),
    ("40111", 10, "Multiple authentication failures.",
     ["syslog", "attacks", "authentication_failures"],
     {"pci_dss": ["10.2.4", "10.2.5", "11.4"], "gdpr": ["IV_35.7.d", "IV_32.2"]},
     True, False, "/var/log/secure"),
    ("5501", 3, "PAM: Login session opened.", ["pam", "syslog", "authentication_success"],
     {"pci_dss": ["10.2.5"], "gpg13": ["7.8", "7.9"], "gdpr": ["IV_32.2"],
      "hipaa": ["164.312.b"], "nist_800_53": ["AU.14", "AC.7"],
      "tsc": ["CC6.8", "CC7.2", "CC7.3"]},
     False, True, "/var/log/secure"),
    ("60106", 3, "Windows Logon Success", ["windows", "windows_security", "authentication_success"],
     {"pci_dss": ["10.2.5"], "gpg13": ["7.1", "7.2"], "gdpr": ["IV_32.2"],
      "hipaa": ["164.312.b"], "nist_800_53": ["AC.7", "AU.14"],
      "tsc": ["CC6.8", "CC7.2", "CC7.3"]},
     True, True, "EventChannel"),
]
# Mostly routine events (levels 3-5), a few attacks: the shape of a real alerts.json.
WEIGHTS = [8, 6, 2, 1, 12, 5, 6, 1, 15, 2, 25, 17]


def _addresses(count: int) -> list[str]:
    rng = random.Random(11)
    internal = [f"10.0.{rng.randrange(4)}.{rng.randrange(1, 255)}" for _ in range(count // 20)]
    external = [f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}."
                f"{rng.randrange(1, 255)}" for _ in range(count - len(internal))]
    addresses = internal + external
    rng.shuffle(addresses)
    return addresses


# Source addresses: a few noisy attackers send most events, as in a real brute-force
# stream (Zipf-like weights over 5000 addresses, 5% of them internal and white-listed).
ADDRESSES = _addresses(5000)
ADDRESS_WEIGHTS = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(ADDRESSES))))


def make_line(rng: random.Random, n: int) -> bytes:
    rule_id, level, description, groups, compliance, srcip, dstuser, location = rng.choices(
        RULES, WEIGHTS
    )[0]
    epoch = 1_700_000_000 + n // 20
    agent = rng.randrange(0, 60)
    address = rng.choices(ADDRESSES, cum_weights=ADDRESS_WEIGHTS)[0]
    user = rng.choice(["root", "admin", "oracle", "test", "ubuntu", "deploy"])
    rule: dict[str, object] = {
        "level": level, "description": description, "id": rule_id,
        "mitre": {"id": ["T1110"], "tactic": ["Credential Access"],
                  "technique": ["Brute Force"]},
        "firedtimes": rng.randrange(1, 5000), "mail": level >= 12, "groups": groups,
    }
    rule.update(compliance)
    document: dict[str, object] = {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime(epoch)),
        "rule": rule,
        "agent": {"id": f"{agent:03d}", "name": f"host-{agent:03d}",
                  **({"ip": f"10.1.0.{agent + 1}"} if agent else {})},
        "manager": {"name": "wazuh-manager"},
        "id": f"{epoch}.{n * 977}",
        "cluster": {"name": "wazuh", "node": "node01"},
        "full_log": f"{time.strftime('%b %d %H:%M:%S', time.gmtime(epoch))} host-{agent:03d} "
                    f"sshd[{rng.randrange(1000, 60000)}]: Failed password for invalid user "
                    f"{user} from {address} port {rng.randrange(1024, 65535)} ssh2",
        "predecoder": {"program_name": "sshd", "timestamp": "Nov 14 22:13:20",
                       "hostname": f"host-{agent:03d}"},
        "decoder": {"parent": "sshd", "name": "sshd"},
    }
    data: dict[str, str] = {}
    if srcip:
        data["srcip"] = address
        data["srcport"] = str(rng.randrange(1024, 65535))
    if dstuser:
        data["dstuser"] = user
    if data:
        document["data"] = data
    document["location"] = location
    return json.dumps(document, separators=(",", ":")).encode()


def make_config() -> Config:
    # The kinds of blocks found in real configs: rule lists, high levels, attack groups.
    filters: list[dict[str, object]] = [
        {"rules_id": "5710,5712"}, {"rules_id": "5712, 5720,,5763"}, {"level": 10},
        {"level": 12}, {"level": 15}, {"rules_group": "web_scan|attack"},
        {"rules_group": "authentication_failures,"}, {"level": 10, "rules_group": "sshd"},
        {"rules_id": "31168, 31101"}, {"level": 7, "rules_id": "40111"},
        {"rules_group": "^syslog,sshd,authentication_failures"}, {"rules_id": "60122"},
        {"rules_group": "web\\.attack|windows_defender"}, {"level": 11},
        {"rules_group": "syscheck_entry_deleted"}, {"rules_id": "9999"},
        {"level": 14, "rules_group": "pci_dss_11.4,"}, {"rules_group": "virustotal"},
        {"rules_id": "100100,100101,100102"}, {"level": 13, "rules_group": "windows"},
        {"rules_group": "rootcheck,"}, {"level": 9, "rules_group": "attacks"},
        {"rules_group": "invalid_login"}, {"rules_id": "550,554"},
    ]
    return _config(filters)


def _config(filters: list[dict[str, object]]) -> Config:
    names = ["firewall-drop", "host-deny", "disable-account", "route-null", "restart-wazuh"]
    commands = tuple(
        Command(name, name, name != "restart-wazuh", index + 1, 1)
        for index, name in enumerate(names)
    )
    locations = [("local", LocationFlag.REMOTE_AGENT), ("server", LocationFlag.AS_ONLY),
                 ("all", LocationFlag.ALL_AGENTS)]
    responses = []
    for index, fields in enumerate(filters, 1):
        command = names[index % len(names)]
        location, flags = locations[index % len(locations)]
        rules_id = fields.get("rules_id")
        ids = tuple(int(part) for part in str(rules_id or "").replace(" ", "").split(",") if part)
        responses.append(ActiveResponse(
            index=index, line=100 + 8 * index, column=3, command=command, location=location,
            location_flags=flags, level=int(str(fields.get("level", 0))),
            rules_id=str(rules_id) if rules_id else None, rules_ids=ids,
            rules_group=str(fields["rules_group"]) if "rules_group" in fields else None,
            timeout=600 if command != "restart-wazuh" else 0, executable=command,
        ))
    white_list = (
        WhiteListEntry("127.0.0.1", 10, 5, network=ipaddress.IPv4Network("127.0.0.1/32")),
        WhiteListEntry("10.0.0.0/16", 11, 5, network=ipaddress.IPv4Network("10.0.0.0/16")),
        WhiteListEntry("^localhost.localdomain$", 12, 5, pattern="^localhost.localdomain$"),
        WhiteListEntry("::1", 13, 5, pattern="::1"),
    )
    return Config(path="bench.conf", commands=commands, responses=tuple(responses),
                  white_list=white_list)


# ------------------------------------------------------------------ realistic alerts
# Shaped like a manager's alerts.json over a day: sshd and PAM on Linux agents, web access
# logs, Windows EventChannel logons (the largest lines: data.win.system and .eventdata),
# FIM (syscheck) changes and VirusTotal results, with Wazuh's real key sets and value sizes.

_USERS = ["root", "admin", "oracle", "test", "ubuntu", "deploy", "postgres", "git", "jenkins"]
_PATHS = ["/wp-login.php", "/xmlrpc.php", "/admin/config.php", "/.env", "/cgi-bin/luci",
          "/index.php?s=/Index/\\think\\app/invokefunction", "/api/v1/users?page=2",
          "/static/js/app.5f3c1e.js", "/images/logo.png", "/phpmyadmin/index.php"]
_AGENTS_UA = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
              "Gecko) Chrome/120.0.0.0 Safari/537.36", "curl/8.4.0", "python-requests/2.31.0",
              "Mozilla/5.0 zgrab/0.x", "Go-http-client/1.1"]
_FILES = ["/etc/passwd", "/etc/shadow", "/etc/ssh/sshd_config", "/usr/bin/sudo",
          "/etc/crontab", "/var/www/html/index.php", "/etc/hosts"]


def _mitre(technique: str, tactic: str, name: str) -> dict[str, list[str]]:
    return {"id": [technique], "tactic": [tactic], "technique": [name]}


# kind, rule id, level, description, groups, compliance, mitre, weight
REALISTIC_RULES: list[tuple[str, str, int, str, list[str], dict[str, list[str]],
                            dict[str, list[str]] | None, int]] = [
    ("sshd", "5710", 5, "sshd: Attempt to login using a non-existent user",
     ["syslog", "sshd", "authentication_failed", "invalid_login"],
     {"pci_dss": ["10.2.4", "10.2.5", "10.6.1"], "gpg13": ["7.1"],
      "gdpr": ["IV_35.7.d", "IV_32.2"], "hipaa": ["164.312.b"],
      "nist_800_53": ["AU.14", "AC.7", "AU.6"], "tsc": ["CC6.1", "CC6.8", "CC7.2", "CC7.3"]},
     _mitre("T1110.001", "Credential Access", "Password Guessing"), 14),
    ("sshd", "5760", 5, "sshd: authentication failed.",
     ["syslog", "sshd", "authentication_failed"],
     {"pci_dss": ["10.2.4", "10.2.5"], "gpg13": ["7.1"], "gdpr": ["IV_35.7.d", "IV_32.2"],
      "hipaa": ["164.312.b"], "nist_800_53": ["AU.14", "AC.7"],
      "tsc": ["CC6.1", "CC6.8", "CC7.2", "CC7.3"]},
     _mitre("T1110.001", "Credential Access", "Password Guessing"), 12),
    ("sshd", "5712", 10,
     "sshd: brute force trying to get access to the system. Non existent user.",
     ["syslog", "sshd", "authentication_failures"],
     {"pci_dss": ["11.4", "10.2.4", "10.2.5"], "gdpr": ["IV_35.7.d", "IV_32.2"],
      "hipaa": ["164.312.b"], "nist_800_53": ["SI.4", "AU.14", "AC.7"],
      "tsc": ["CC6.1", "CC6.8", "CC7.2", "CC7.3"]},
     _mitre("T1110", "Credential Access", "Brute Force"), 4),
    ("sshd", "5715", 3, "sshd: authentication success.",
     ["syslog", "sshd", "authentication_success"],
     {"pci_dss": ["10.2.5"], "gpg13": ["7.1", "7.2"], "gdpr": ["IV_32.2"],
      "hipaa": ["164.312.b"], "nist_800_53": ["AU.14", "AC.7"],
      "tsc": ["CC6.8", "CC7.2", "CC7.3"]},
     _mitre("T1078", "Defense Evasion", "Valid Accounts"), 6),
    ("pam", "5501", 3, "PAM: Login session opened.",
     ["pam", "syslog", "authentication_success"],
     {"pci_dss": ["10.2.5"], "gpg13": ["7.8", "7.9"], "gdpr": ["IV_32.2"],
      "hipaa": ["164.312.b"], "nist_800_53": ["AU.14", "AC.7"],
      "tsc": ["CC6.8", "CC7.2", "CC7.3"]}, None, 8),
    ("sudo", "5402", 3, "Successful sudo to ROOT executed.", ["syslog", "sudo"],
     {"pci_dss": ["10.2.5", "10.2.2"], "gpg13": ["7.6", "7.8", "7.13"], "gdpr": ["IV_32.2"],
      "tsc": ["CC6.8", "CC7.2", "CC7.3"]},
     _mitre("T1548.003", "Privilege Escalation", "Sudo and Sudo Caching"), 6),
    ("web", "31101", 5, "Web server 400 error code.", ["web", "accesslog"],
     {"pci_dss": ["6.5", "11.4"], "gdpr": ["IV_35.7.d"], "nist_800_53": ["SA.11", "SI.4"],
      "tsc": ["CC6.6", "CC7.1", "CC8.1", "CC6.1", "CC6.8", "CC7.2", "CC7.3"]}, None, 10),
    ("web", "31151", 10, "Multiple web server 400 error codes from same source ip.",
     ["web", "accesslog", "web_scan", "recon"],
     {"pci_dss": ["6.5", "11.4"], "gdpr": ["IV_35.7.d"], "nist_800_53": ["SA.11", "SI.4"],
      "tsc": ["CC6.6", "CC7.1", "CC8.1", "CC6.1", "CC6.8", "CC7.2", "CC7.3"]},
     _mitre("T1595.002", "Reconnaissance", "Vulnerability Scanning"), 3),
    ("web", "31168", 15, "Shellshock attack detected", ["web", "accesslog", "attack"],
     {"pci_dss": ["11.4"], "gdpr": ["IV_35.7.d"], "nist_800_53": ["SI.4"],
      "tsc": ["CC6.1", "CC6.8", "CC7.2", "CC7.3"]},
     _mitre("T1068", "Privilege Escalation", "Exploitation for Privilege Escalation"), 1),
    ("windows", "60122", 5, "Logon Failure - Unknown user or bad password",
     ["windows", "windows_security", "authentication_failed"],
     {"pci_dss": ["10.2.4", "10.2.5"], "gpg13": ["7.1"], "gdpr": ["IV_35.7.d", "IV_32.2"],
      "hipaa": ["164.312.b"], "nist_800_53": ["AU.14", "AC.7"],
      "tsc": ["CC6.1", "CC6.8", "CC7.2", "CC7.3"]},
     _mitre("T1078", "Defense Evasion", "Valid Accounts"), 9),
    ("windows", "60106", 3, "Windows Logon Success",
     ["windows", "windows_security", "authentication_success"],
     {"pci_dss": ["10.2.5"], "gpg13": ["7.1", "7.2"], "gdpr": ["IV_32.2"],
      "hipaa": ["164.312.b"], "nist_800_53": ["AC.7", "AU.14"],
      "tsc": ["CC6.8", "CC7.2", "CC7.3"]},
     _mitre("T1078", "Defense Evasion", "Valid Accounts"), 9),
    ("windows", "60204", 10, "Multiple Windows Logon Failures",
     ["windows", "windows_security", "authentication_failures"],
     {"pci_dss": ["10.2.4", "10.2.5", "11.4"], "gpg13": ["7.1"],
      "gdpr": ["IV_35.7.d", "IV_32.2"], "hipaa": ["164.312.b"],
      "nist_800_53": ["AU.14", "AC.7", "SI.4"], "tsc": ["CC6.1", "CC6.8", "CC7.2", "CC7.3"]},
     _mitre("T1110", "Credential Access", "Brute Force"), 2),
    ("syscheck", "550", 7, "Integrity checksum changed.",
     ["ossec", "syscheck", "syscheck_entry_modified", "syscheck_file"],
     {"pci_dss": ["11.5"], "gpg13": ["4.11"], "gdpr": ["II_5.1.f"],
      "hipaa": ["164.312.c.1", "164.312.c.2"], "nist_800_53": ["SI.7"],
      "tsc": ["PI1.4", "PI1.5", "CC6.1", "CC6.8", "CC7.2", "CC7.3"]}, None, 4),
    ("virustotal", "87105", 12, "VirusTotal: Alert - /tmp/x - 5 engines detected this file",
     ["virustotal"], {"pci_dss": ["10.6.1", "11.4"], "gdpr": ["IV_35.7.d"]}, None, 1),
]
_REALISTIC_WEIGHTS = [rule[-1] for rule in REALISTIC_RULES]


def realistic_line(rng: random.Random, n: int) -> bytes:
    """One alerts.json line as Wazuh 4.x writes it (key order and nesting included)."""
    kind, rule_id, level, description, groups, compliance, mitre, _ = rng.choices(
        REALISTIC_RULES, _REALISTIC_WEIGHTS)[0]
    epoch = 1_700_000_000 + n // 20
    stamp = time.gmtime(epoch)
    agent = rng.randrange(0, 60)
    host = f"{'win' if kind == 'windows' else 'srv'}-{agent:03d}.corp.example.com"
    address = rng.choices(ADDRESSES, cum_weights=ADDRESS_WEIGHTS)[0]
    user = rng.choice(_USERS)
    syslog_time = time.strftime("%b %d %H:%M:%S", stamp)
    rule: dict[str, object] = {"level": level, "description": description, "id": rule_id}
    if mitre:
        rule["mitre"] = mitre
    rule["firedtimes"] = rng.randrange(1, 50_000)
    rule["mail"] = level >= 12
    rule["groups"] = groups
    rule.update(compliance)
    document: dict[str, object] = {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", stamp) + f".{n % 1000:03d}+0000",
        "rule": rule,
        "agent": {"id": f"{agent:03d}", "name": host, **(
            {"ip": f"10.1.{agent // 250}.{agent % 250 + 1}"} if agent else {})},
        "manager": {"name": "wazuh-manager-01.corp.example.com"},
        "id": f"{epoch}.{n * 977 % 100_000_000}",
        "cluster": {"name": "wazuh", "node": "node01"},
    }
    data: dict[str, object] = {}
    port = rng.randrange(1024, 65535)
    pid = rng.randrange(1000, 60000)
    if kind in ("sshd", "pam", "sudo"):
        if kind == "sshd":
            verb = "Accepted publickey" if level == 3 else "Failed password"
            full_log = (f"{syslog_time} {host} sshd[{pid}]: {verb} for "
                        f"{'invalid user ' if rule_id == '5710' else ''}{user} from {address} "
                        f"port {port} ssh2")
            data = {"srcip": address, "srcport": str(port), "dstuser": user}
        elif kind == "pam":
            full_log = (f"{syslog_time} {host} sshd[{pid}]: pam_unix(sshd:session): session "
                        f"opened for user {user}(uid=1001) by (uid=0)")
            data = {"dstuser": user, "uid": "0"}
        else:
            full_log = (f"{syslog_time} {host} sudo:   {user} : TTY=pts/0 ; PWD=/home/{user} ; "
                        "USER=root ; COMMAND=/usr/bin/systemctl restart nginx.service")
            data = {"srcuser": user, "dstuser": "root", "tty": "pts/0",
                    "pwd": f"/home/{user}", "command": "/usr/bin/systemctl restart nginx.service"}
        document["full_log"] = full_log
        document["predecoder"] = {"program_name": kind if kind != "pam" else "sshd",
                                  "timestamp": syslog_time, "hostname": host}
        document["decoder"] = {"parent": "sshd" if kind != "sudo" else "sudo",
                               "name": "sshd" if kind != "sudo" else "sudo"}
        location = "/var/log/auth.log"
    elif kind == "web":
        path = rng.choice(_PATHS)
        status = "404" if level < 15 else "200"
        document["full_log"] = (
            f"{address} - - [{time.strftime('%d/%b/%Y:%H:%M:%S +0000', stamp)}] \"GET {path} "
            f"HTTP/1.1\" {status} {rng.randrange(100, 5000)} \"-\" \"{rng.choice(_AGENTS_UA)}\"")
        document["decoder"] = {"name": "web-accesslog"}
        data = {"protocol": "GET", "srcip": address, "id": status, "url": path}
        location = "/var/log/nginx/access.log"
    elif kind == "windows":
        event_id = {"60122": "4625", "60106": "4624", "60204": "4625"}[rule_id]
        document["decoder"] = {"name": "windows_eventchannel"}
        data = {"win": {
            "system": {
                "providerName": "Microsoft-Windows-Security-Auditing",
                "providerGuid": "{54849625-5478-4994-a5ba-3e3b0328c30d}",
                "eventID": event_id, "version": "0", "level": "0", "task": "12544",
                "opcode": "0", "keywords": "0x8010000000000000",
                "systemTime": time.strftime("%Y-%m-%dT%H:%M:%S", stamp) + ".4242912Z",
                "eventRecordID": str(rng.randrange(10**6, 10**7)),
                "processID": "684", "threadID": str(rng.randrange(100, 9000)),
                "channel": "Security", "computer": host,
                "severityValue": "AUDIT_FAILURE" if event_id == "4625" else "AUDIT_SUCCESS",
                "message": "\"An account failed to log on.\"" if event_id == "4625"
                           else "\"An account was successfully logged on.\"",
            },
            "eventdata": {
                "subjectUserSid": "S-1-0-0", "targetUserName": user.capitalize(),
                "targetDomainName": "CORP", "status": "0xc000006d",
                "failureReason": "%%2313", "subStatus": "0xc000006a", "logonType": "3",
                "logonProcessName": "NtLmSsp", "authenticationPackageName": "NTLM",
                "workstationName": "-", "keyLength": "0", "processId": "0x0",
                "ipAddress": address, "ipPort": str(port),
            },
        }}
        location = "EventChannel"
    elif kind == "syscheck":
        path = rng.choice(_FILES)
        document["full_log"] = (f"File '{path}' modified\nMode: realtime\nChanged attributes: "
                                "size,mtime,md5,sha1,sha256\nSize changed from '1421' to "
                                "'1473'\n")
        document["syscheck"] = {
            "path": path, "mode": "realtime", "size_before": "1421", "size_after": "1473",
            "perm_after": "rw-r--r--", "uid_after": "0", "gid_after": "0",
            "md5_before": f"{rng.getrandbits(128):032x}",
            "md5_after": f"{rng.getrandbits(128):032x}",
            "sha1_before": f"{rng.getrandbits(160):040x}",
            "sha1_after": f"{rng.getrandbits(160):040x}",
            "sha256_after": f"{rng.getrandbits(256):064x}",
            "uname_after": "root", "gname_after": "root",
            "mtime_before": "2023-11-14T22:13:20", "mtime_after": "2023-11-14T22:14:02",
            "inode_after": rng.randrange(10**5, 10**7),
            "changed_attributes": ["size", "mtime", "md5", "sha1", "sha256"],
            "event": "modified",
        }
        document["decoder"] = {"name": "syscheck_integrity_changed"}
        location = "syscheck"
    else:
        sha1 = f"{rng.getrandbits(160):040x}"
        document["decoder"] = {"name": "json"}
        data = {"virustotal": {
            "found": "1", "malicious": "1",
            "source": {"alert_id": f"{epoch}.{n}", "file": "/tmp/x",
                       "md5": f"{rng.getrandbits(128):032x}", "sha1": sha1},
            "sha1": sha1, "scan_date": "2023-11-14 22:13:20", "positives": "5", "total": "72",
            "permalink": f"https://www.virustotal.com/gui/file/{sha1}/detection"},
            "integration": "virustotal"}
        location = "virustotal"
    if data:
        document["data"] = data
    document["location"] = location
    return json.dumps(document, separators=(",", ":")).encode()


def realistic_config() -> Config:
    """24 responses as a busy manager might have them: a few broad ones (level 4+, every
    authentication event) beside narrow rule lists, so an alert fires about 2.7 of them."""
    filters: list[dict[str, object]] = [
        {"level": 4}, {"rules_group": "authentication_failed|authentication_failures"},
        {"level": 7, "rules_group": "sshd"}, {"rules_id": "5710,5712,5760"},
        {"level": 10}, {"level": 12}, {"rules_group": "web_scan|attack"},
        {"rules_group": "^windows,"}, {"rules_id": "31101, 31151"},
        {"level": 7, "rules_id": "40111"}, {"rules_group": "syscheck_entry_modified"},
        {"rules_id": "60122,60204"}, {"rules_group": "web\\.attack|windows_defender"},
        {"level": 15}, {"rules_group": "sudo"}, {"rules_id": "9999"},
        {"level": 14, "rules_group": "pci_dss_11.4,"}, {"rules_group": "virustotal"},
        {"rules_id": "100100,100101,100102"}, {"level": 13, "rules_group": "windows"},
        {"rules_group": "rootcheck,"}, {"level": 9, "rules_group": "attacks"},
        {"rules_group": "invalid_login"}, {"rules_id": "550,554"},
    ]
    return _config(filters)


def best_rates(
    works: list[tuple[Callable[[list[Any]], int], list[Any]]], rounds: int, chunk: int = 2000
) -> list[float]:
    """Items per second of each (work, items), from the best chunk of each.

    The works alternate chunk by chunk (a few milliseconds each) over `rounds` passes, and
    each keeps its fastest chunk, timed in thread CPU time: on a machine other jobs keep busy
    (2 cores shared by several), long rounds almost never run undisturbed and wall time
    counts the waits, while the best short chunk of each side is measured alike.

    The side that reads a chunk first finds its lines out of the CPU's caches and the others
    find them in: the order turns by one side each chunk, so each side is first as often as
    the others (four identical `orjson.loads` sides in a fixed order: the first 2-4 % slower
    than the last; turned: alike within 1 %)."""
    best = [float("inf")] * len(works)
    count = len(works[0][1])
    starts = range(0, max(count - chunk, 0) + 1, chunk)
    turn = 0
    for _ in range(rounds):
        for start in starts:
            turn += 1
            for offset in range(len(works)):
                index = (turn + offset) % len(works)
                work, items = works[index]
                part = items[start:start + chunk]
                began = time.thread_time()
                work(part)
                best[index] = min(best[index], (time.thread_time() - began) / len(part))
    return [1 / seconds for seconds in best]


def baseline(lines: list[bytes]) -> int:
    loads = orjson.loads
    count = 0
    for line in lines:
        loads(line)
        count += 1
    return count


class _CeilingRule(msgspec.Struct):
    id: str | int
    level: int
    description: str = ""
    groups: msgspec.Raw = msgspec.Raw(b"")
    pci_dss: msgspec.Raw = msgspec.Raw(b"")
    cis: msgspec.Raw = msgspec.Raw(b"")
    gdpr: msgspec.Raw = msgspec.Raw(b"")
    gpg13: msgspec.Raw = msgspec.Raw(b"")
    hipaa: msgspec.Raw = msgspec.Raw(b"")
    nist_800_53: msgspec.Raw = msgspec.Raw(b"")
    tsc: msgspec.Raw = msgspec.Raw(b"")


class _CeilingAgent(msgspec.Struct):
    id: str | None = None
    name: str | None = None


class _CeilingData(msgspec.Struct):
    srcip: str | None = None
    dstuser: str | None = None


class _CeilingSyscheck(msgspec.Struct):
    path: str | None = None


class _CeilingLine(msgspec.Struct):
    """The fields decisions read, nothing else: the msgspec ceiling (arrays kept raw)."""

    rule: _CeilingRule
    id: str = ""
    timestamp: str = ""
    agent: _CeilingAgent | None = None
    data: _CeilingData | None = None
    location: str | None = None
    syscheck: _CeilingSyscheck | None = None


class _ListsRule(_CeilingRule):
    groups: list[str] = []  # type: ignore[assignment]
    pci_dss: list[str] = []  # type: ignore[assignment]
    cis: list[str] = []  # type: ignore[assignment]
    gdpr: list[str] = []  # type: ignore[assignment]
    gpg13: list[str] = []  # type: ignore[assignment]
    hipaa: list[str] = []  # type: ignore[assignment]
    nist_800_53: list[str] = []  # type: ignore[assignment]
    tsc: list[str] = []  # type: ignore[assignment]


class _ListsLine(_CeilingLine):
    rule: _ListsRule


def _jiter_checked() -> Callable[[list[bytes]], int] | None:
    """(j): jiter's parse refusing repeated keys, when jiter is installed."""
    try:
        import jiter
    except ImportError:
        return None
    parse = jiter.from_json

    def work(lines: list[bytes]) -> int:
        for line in lines:
            parse(line, catch_duplicate_keys=True, cache_mode="keys")
        return len(lines)

    return work


def measure(title: str, lines: list[bytes], config: Config, rounds: int) -> None:
    """Print the rates of one set of lines, each side measured in the same run."""
    decider = Decider(config)
    ceiling = msgspec.json.Decoder(_CeilingLine).decode
    lists = msgspec.json.Decoder(_ListsLine).decode

    def arconsole(lines: list[bytes]) -> int:
        decode = decode_alert_line
        fired = decider.fired
        count = 0
        for line in lines:
            count += len(fired(decode(line)))
        return count

    def typed(lines: list[bytes]) -> int:
        for line in lines:
            ceiling(line)
        return len(lines)

    def typed_lists(lines: list[bytes]) -> int:
        for line in lines:
            lists(line)
        return len(lines)

    def decode_only(lines: list[bytes]) -> int:
        decode = decode_alert_line
        for line in lines:
            decode(line)
        return len(lines)

    quick = msgspec.json.Decoder(QuickLine).decode
    encode_into = msgspec.json.Encoder().encode_into
    buffer = bytearray()

    def quick_only(lines: list[bytes]) -> int:
        for line in lines:
            quick(line)
        return len(lines)

    def quick_and_check(lines: list[bytes]) -> int:
        same = 0
        for line in lines:
            encode_into(quick(line), buffer)
            same += buffer == line
        return same

    alerts = [decode_alert_line(line) for line in lines]

    def decide_only(alerts: list[Alert]) -> int:
        fired = decider.fired
        return sum(len(fired(alert)) for alert in alerts)

    fired_total = arconsole(lines)  # warm the caches once, as a running engine would be
    works: list[tuple[Callable[[list[Any]], int], list[Any]]] = [
        (baseline, lines), (arconsole, lines), (typed, lines), (typed_lists, lines),
        (decode_only, lines), (decide_only, alerts), (quick_only, lines),
        (quick_and_check, lines)]
    jiter_checked = _jiter_checked()
    if jiter_checked is not None:
        works.append((jiter_checked, lines))
    rates = best_rates(works, rounds)
    rate_a, rate_b, rate_c, rate_l, rate_d, rate_e, rate_q, rate_k = rates[:8]
    size = sum(len(line) + 1 for line in lines)
    print(f"== {title}: {len(lines)} lines, {size / len(lines):.0f} bytes/line average, "
          f"{len(config.responses)} responses, {fired_total / len(lines):.2f} fired per alert")
    print(f"(a) orjson.loads only                    : {rate_a:12,.0f} lines/s")
    print(f"(c) msgspec typed decode, same fields    : {rate_c:12,.0f} lines/s"
          "  (arrays raw, as arconsole decodes them)")
    print(f"(l) msgspec typed decode, arrays as lists: {rate_l:12,.0f} lines/s")
    print(f"(b) arconsole decode+decide              : {rate_b:12,.0f} lines/s"
          "  (repeated-key check included)")
    if jiter_checked is not None:
        print(f"(j) jiter, repeated keys refused        : {rates[8]:12,.0f} lines/s"
              f"  (j/a {rates[8] / rate_a:.2f}: parsing alone)")
    print(f"ratio b/a: {rate_b / rate_a:.2f}   b/c: {rate_b / rate_c:.2f}   "
          f"b/l: {rate_b / rate_l:.2f}")
    print("where (b) goes, in microseconds per line:")
    quick_us, check_us = 1e6 / rate_q, 1e6 / rate_k - 1e6 / rate_q
    decode_us, fired_us = 1e6 / rate_d, 1e6 / rate_e
    parts = (("quick typed decode (QuickLine)", quick_us),
             ("+ re-encode, compare (repeats)", check_us),
             ("+ rule cache, Alert, the rest", decode_us - quick_us - check_us),
             ("= decode_alert_line", decode_us), ("Decider.fired", fired_us),
             ("msgspec typed decode (c)", 1e6 / rate_c), ("orjson.loads (a)", 1e6 / rate_a))
    for name, micros in parts:
        print(f"  {name:34s}{micros:8.2f}")
    # The ceiling these stages leave: the quick decode and its repeated-key check cannot go
    # (issue 11 item 2), nor deciding.
    floor = quick_us + check_us + fired_us
    print(f"ceiling with nothing but those (decode, check, fired): b/a <= "
          f"{1e6 / rate_a / floor:.2f}, b/c <= {1e6 / rate_c / floor:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200_000, help="alerts to generate")
    parser.add_argument("--rounds", type=int, default=5, help="passes (best chunk kept)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    for title, make, config in (("realistic alerts", realistic_line, realistic_config()),
                                ("compact alerts", make_line, make_config())):
        rng = random.Random(args.seed)
        with tempfile.TemporaryDirectory() as tmp:  # read back as the engine would
            path = Path(tmp) / "alerts.json"
            with path.open("wb") as out:
                for n in range(args.count):
                    out.write(make(rng, n) + b"\n")
            with path.open("rb") as source:
                lines = [line.rstrip(b"\n") for line in source]
        measure(title, lines, config, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
