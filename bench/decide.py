"""Benchmark: deciding alerts.json lines against a realistic config.

Generates an alerts.json of COUNT lines (about 1 KB each, shaped like Wazuh's: sshd, web,
syscheck, Windows and VirusTotal alerts from 60 agents and 5000 source addresses of skewed
popularity, mostly routine levels 3-5 with some attacks), a config of 24
responses mixing level, group and id filters plus a white list, and measures in the same run:

  (a) baseline: `orjson.loads` on every line;
  (b) arconsole: `decode_alert_line` + `Decider.fired` on every line (the engine's hot path).

It prints both rates and the ratio b/a (higher is better; 1.0 means deciding a line costs no
more than merely parsing it with orjson). The sides alternate for `--rounds` rounds and the
best round of each is kept, so a busy machine slows both alike.

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

import orjson

from arconsole.alerts.jsonreader import decode_alert_line
from arconsole.alerts.model import Alert
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
    names = ["firewall-drop", "host-deny", "disable-account", "route-null", "restart-wazuh"]
    commands = tuple(
        Command(name, name, name != "restart-wazuh", index + 1, 1)
        for index, name in enumerate(names)
    )
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


def best_rates(
    works: list[Callable[[list[bytes]], int]], lines: list[bytes], rounds: int
) -> list[float]:
    """Lines per second of each work, best of `rounds`; the works alternate round by round
    so that a busy machine slows them alike."""
    best = [float("inf")] * len(works)
    for _ in range(rounds):
        for index, work in enumerate(works):
            started = time.perf_counter()
            work(lines)
            best[index] = min(best[index], time.perf_counter() - started)
    return [len(lines) / seconds for seconds in best]


def baseline(lines: list[bytes]) -> int:
    loads = orjson.loads
    count = 0
    for line in lines:
        loads(line)
        count += 1
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200_000, help="alerts to generate")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each side (best kept)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "alerts.json"
        with path.open("wb") as out:
            for n in range(args.count):
                out.write(make_line(rng, n) + b"\n")
        size = path.stat().st_size
        with path.open("rb") as source:
            lines = [line.rstrip(b"\n") for line in source]
    decider = Decider(make_config())

    def arconsole(lines: list[bytes]) -> int:
        decode = decode_alert_line
        fired = decider.fired
        count = 0
        for line in lines:
            count += len(fired(decode(line)))
        return count

    def decode_only(lines: list[bytes]) -> int:
        decode = decode_alert_line
        for line in lines:
            decode(line)
        return len(lines)

    alerts = [decode_alert_line(line) for line in lines]

    def decide_only(_: list[bytes]) -> int:
        fired = decider.fired
        return sum(len(fired(alert)) for alert in alerts)

    def build_only(_: list[bytes]) -> int:
        # The cost of the shared model: a frozen, slotted dataclass with 15 fields.
        for alert in alerts:
            Alert(alert.alert_id, alert.timestamp, alert.rule_id, alert.level,
                  alert.description, alert.groups, alert.group_string, alert.agent_id,
                  alert.agent_name, alert.srcip, alert.dstuser, alert.location, alert.raw,
                  alert.full_log, alert.filename)
        return len(alerts)

    fired_total = arconsole(lines)  # warm the caches once, as a running engine would be
    rate_a, rate_b, rate_c, rate_d, rate_e = best_rates(
        [baseline, arconsole, decode_only, decide_only, build_only], lines, args.rounds)
    print(f"alerts: {len(lines)} lines, {size / len(lines):.0f} bytes/line average, "
          f"{len(make_config().responses)} responses, {fired_total} responses fired in all")
    print(f"(a) orjson.loads only       : {rate_a:12,.0f} lines/s")
    print(f"(b) arconsole decode+decide : {rate_b:12,.0f} lines/s")
    print(f"ratio b/a: {rate_b / rate_a:.2f}")
    print("where (b) goes, in microseconds per line:")
    parts = (("decode_alert_line", rate_c), ("  of which Alert(...) itself", rate_e),
             ("Decider.fired", rate_d), ("orjson.loads, for scale", rate_a))
    for name, rate in parts:
        print(f"  {name:30s}{1e6 / rate:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
