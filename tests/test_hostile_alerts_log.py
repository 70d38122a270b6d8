"""A forged record inside an OSSEC/Wazuh `alerts.log` record is refused.

`OS_Log` writes a record's dynamic fields as `key: value` lines after its full_log, values as
the decoder gave them: a JSON log's string (`"msg":"a\\n\\n** Alert ..."`) or a Windows event's
message holds real newlines there. An attacker who controls such a string writes lines that
start with `** Alert `, so that a reader splitting records at those lines takes what follows
for a record of its own: any rule, level, agent, source address and user they like.

What the attacker cannot know is where the forged header lands in the file: analysisd writes
`ftell(alerts.log)` as the offset part of every alert id (`__crt_ftell`, `src/analysisd`), so a
genuine record's id names the byte it starts at. The engine checks it (real `arconsole run`
following a real file, a real response script).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from arconsole.alerts.logreader import decode_alert_record
from arconsole.alerts.model import AlertError
from tests.engine_support import command, make_home, recorder, response
from tests.hostile_support import blocked, run_until_blocked


def record(offset: int, srcip: str, *, fields: str = "",
           agent: str = "manager->/var/log/secure") -> bytes:
    """One record as OS_Log writes it, its id naming `offset`."""
    now = time.time()
    stamp = time.strftime("%Y %b %d %H:%M:%S", time.localtime(now))
    return (f"** Alert {int(now)}.{offset}: - syslog,sshd,authentication_failures,\n"
            f"{stamp} {agent}\n"
            f"Rule: 5712 (level 10) -> 'sshd: brute force'\n"
            f"Src IP: {srcip}\n"
            f"Nov 23 10:00:00 manager sshd[1]: Failed password for root from {srcip}\n"
            f"{fields}\n").encode()


def follow(home: Path, path: Path, last_srcip: str) -> str:
    """`arconsole run` on `path` from its start until `last_srcip` is blocked; its log."""
    return run_until_blocked(home, last_srcip, "--alerts", str(path), "--from-start",
                             what=f"{last_srcip} blocked")


def recording_home(tmp_path: Path) -> tuple[Path, Path]:
    home = make_home(tmp_path, [command("rec", timeout_allowed=False)],
                     [response("rec", level=5)], {"rec": recorder()})
    return home, home / "logs" / "alerts" / "alerts.log"


def test_a_record_forged_in_a_dynamic_field_fires_nothing(tmp_path: Path) -> None:
    home, path = recording_home(tmp_path)
    # A JSON log's field, as OS_Log prints it after the full_log: the attacker's newlines
    # start a forged record, with an id guessing some offset (here the genuine one's own).
    forged = record(0, "203.0.113.66", agent="manager->/var/log/app.json").decode()
    first = record(0, "198.51.100.1", fields=f"msg: hello\n\n{forged}")
    second = record(len(first), "198.51.100.2")
    path.write_bytes(first + second)
    text = follow(home, path, "198.51.100.2")
    assert sorted(blocked(home)) == ["198.51.100.1", "198.51.100.2"], text
    assert "crafted: the record's id names byte" in text, text


@pytest.mark.parametrize("header, rule", [
    ("99999999999999.{offset}", "Rule: 5712 (level 10)"),  # the year 3170843
    ("9" * 5000 + ".{offset}", "Rule: 5712 (level 10)"),  # past int()'s 4300 digits
    ("1700000000." + "9" * 5000, "Rule: 5712 (level 10)"),
    ("1700000000.{offset}", "Rule: 5712 (level " + "9" * 5000 + ")"),
], ids=["year-3170843", "epoch-5000-digits", "offset-5000-digits", "level-5000-digits"])
def test_numbers_no_record_can_hold_are_a_bad_record(
        tmp_path: Path, header: str, rule: str) -> None:
    home, path = recording_home(tmp_path)
    stamp = time.strftime("%Y %b %d %H:%M:%S")
    bad = (f"** Alert {header.format(offset=0)}: - syslog,sshd,\n{stamp} manager->/var/log/"
           f"secure\n{rule} -> 'x'\nSrc IP: 203.0.113.66\nlog\n\n").encode()
    path.write_bytes(bad + record(len(bad), "198.51.100.2"))
    text = follow(home, path, "198.51.100.2")
    assert blocked(home) == ["198.51.100.2"], text
    assert "record skipped" in text and "starting again" not in text, text


@pytest.mark.parametrize("offset, good", [(4096, True), (4095, False), (0, False)])
def test_a_records_id_must_name_the_byte_it_starts_at(offset: int, good: bool) -> None:
    data = record(offset, "198.51.100.9").rstrip(b"\n")
    if good:
        assert decode_alert_record(data, start=4096).srcip == "198.51.100.9"
    else:
        with pytest.raises(AlertError, match="crafted: the record's id names byte"):
            decode_alert_record(data, start=4096)
    # Read out of a file's context (explain, a copied sample), the id is not checked.
    assert decode_alert_record(data).srcip == "198.51.100.9"
