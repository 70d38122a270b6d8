"""The fleet table from agents' AR log alerts (fleet.md F2): the real rule-651 sample, and
652/653/657 and legacy-text (601/602) variants built from the real ruleset files."""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from arconsole.alerts.jsonreader import decode_alert_line
from arconsole.config.loader import load_config
from arconsole.engine.decide import Decider
from arconsole.engine.fleet_store import FleetStore
from arconsole.engine.fleet_table import (
    FleetTable,
    alert_time,
    consequence,
    describe_end,
    read_ar_log_alert,
    row_state,
)
from arconsole.engine.store import StateStore
from tests.engine_support import command, make_home, response, started
from tests.fleet_support import shared

SAMPLE = shared("fixtures", "real", "alerts-ar-sample.json")
RULES = shared("fixtures", "real", "wazuh-4.14.7-ruleset", "0015-ossec_rules.xml")


@pytest.fixture(autouse=True)
def _real_fixtures() -> None:
    if not SAMPLE.exists() or not RULES.exists():
        pytest.skip("../shared/fixtures/real is absent")


def ruleset_rule(rule_id: str) -> dict[str, Any]:
    """level, description and groups of a rule as the real ruleset file defines it."""
    text = RULES.read_text()
    root = ET.fromstring("<root>" + re.sub(r"<\?xml[^>]*\?>", "", text) + "</root>")
    for rule in root.iter("rule"):
        if rule.get("id") == rule_id:
            groups = [g for g in (rule.findtext("group") or "").split(",") if g]
            plain = [g for g in groups if not re.match(r"(pci_dss|gpg13|gdpr|nist_800_53|tsc|"
                                                        r"hipaa)_", g)]
            return {"level": int(rule.get("level", "0")),
                    "description": rule.findtext("description") or "",
                    "groups": ["ossec", *plain]}
    raise KeyError(rule_id)


def sample() -> dict[str, Any]:
    return json.loads(SAMPLE.read_text().splitlines()[0])


def variant(rule_id: str, *, command_word: str, program: str,
            timestamp: str | None = None) -> bytes:
    """The real 651 turned into another rule of the same family, as analysisd would write it."""
    alert = copy.deepcopy(sample())
    rule = ruleset_rule(rule_id)
    alert["rule"].update(id=rule_id, level=rule["level"], groups=rule["groups"],
                         description=rule["description"].replace("$(parameters.program)",
                                                                  program)
                         .replace("$(command)", command_word))
    alert["data"]["command"] = command_word
    alert["data"]["parameters"]["program"] = f"active-response/bin/{program}"
    alert["full_log"] = alert["full_log"].replace('"command":"add"', f'"command":"{command_word}"')
    if timestamp:
        alert["timestamp"] = timestamp
    return json.dumps(alert, separators=(",", ":")).encode()


def legacy(rule_id: str, word: str, script: str, srcip: str) -> bytes:
    """A legacy `ar_log` alert (600-607), fields as the decoder names them."""
    rule = ruleset_rule(rule_id)
    line = (f"Sat May  7 03:17:27 CDT 2011 /var/ossec/active-response/bin/{script} {word} - "
            f"{srcip} 1304756247.60385 31151")
    alert = {"timestamp": "2026-05-03T05:30:00.000+0000",
             "rule": {"level": rule["level"], "description": rule["description"], "id": rule_id,
                      "groups": rule["groups"]},
             "agent": {"id": "002", "name": "old-agent"}, "manager": {"name": "wazuh"},
             "id": "1777786200.1", "full_log": line,
             "decoder": {"parent": "ar_log", "name": "ar_log"},
             "data": {"script": script, "type": word, "srcip": srcip, "id": "1304756247.60385"},
             "location": "/var/ossec/logs/active-responses.log"}
    return json.dumps(alert, separators=(",", ":")).encode()


def decider_for(tmp_path: Path, responses: list[str]) -> Decider:
    home = make_home(tmp_path, [command("firewall-drop"), command("host-deny")], responses)
    return Decider(load_config(home / "etc" / "ossec.conf"))


def test_real_651_gives_a_row_with_agent_program_key_and_trigger(tmp_path: Path) -> None:
    decider = decider_for(tmp_path, [
        response("firewall-drop", rules_id="5710", timeout=600),
        response("firewall-drop", level=5, timeout=60, extra="<rules_group>sshd</rules_group>"),
        response("host-deny", rules_id="5710", timeout=30),  # another program: not counted
    ])
    line = SAMPLE.read_text().splitlines()[0].encode()
    entry = read_ar_log_alert(decode_alert_line(line), 0.0)
    assert entry is not None
    assert (entry.agent, entry.agent_name, entry.program, entry.key, entry.command) == (
        "001", "ohtsuka-qradar-target01", "firewall-drop", "192.168.2.65", "add")
    # The trigger's scalars are strings in the sample ("level":"5"): decoded back to numbers.
    assert entry.trigger is not None
    assert (entry.trigger.rule_id, entry.trigger.level) == ("5710", 5)
    assert "invalid_login" in entry.trigger.groups
    table = FleetTable()
    row = table.apply(entry, decider.bound_responses)
    assert row is not None and row.row_key == "001:firewall-drop-192.168.2.65"
    assert (row.trigger_rule, row.trigger_description) == (
        "5710", "sshd: Attempt to login using a non-existent user")
    added = alert_time(sample()["timestamp"])
    assert added is not None and row.last_added == added
    assert (row.timeout_min, row.timeout_max) == (60, 600)  # two candidates: a range
    assert ".." in describe_end(row)
    assert row_state(row, added + 100) == "active"
    assert row_state(row, added + 600 + 1 + 31) == "overdue"
    assert "a repeat before then is not re-blocked" in consequence(row)


def test_unknown_end_when_no_response_binds_the_trigger(tmp_path: Path) -> None:
    decider = decider_for(tmp_path, [response("firewall-drop", rules_id="5712", timeout=600)])
    line = SAMPLE.read_text().splitlines()[0].encode()
    entry = read_ar_log_alert(decode_alert_line(line), 0.0)
    assert entry is not None
    row = FleetTable().apply(entry, decider.bound_responses)
    assert row is not None and row.timeout_max is None
    assert describe_end(row) == "unknown"
    assert row_state(row, 1e12) == "active"  # never overdue without a known end


def test_add_refresh_delete_652_and_persistence(tmp_path: Path) -> None:
    decider = decider_for(tmp_path, [response("firewall-drop", rules_id="5710", timeout=600)])
    store = StateStore.open(tmp_path / "state.db")
    try:
        fleet_store = FleetStore(store)
        table = FleetTable(fleet_store)
        first = read_ar_log_alert(decode_alert_line(SAMPLE.read_text().splitlines()[0]
                                                    .encode()), 0.0)
        again = read_ar_log_alert(decode_alert_line(variant(
            "651", command_word="add", program="firewall-drop",
            timestamp="2026-05-03T05:25:00.000+0000")), 0.0)
        lifted = read_ar_log_alert(decode_alert_line(variant(
            "652", command_word="delete", program="firewall-drop",
            timestamp="2026-05-03T05:35:00.000+0000")), 0.0)
        assert first and again and lifted and lifted.rule_id == "652"
        table.apply(first, decider.bound_responses)
        row = table.apply(again, decider.bound_responses)
        assert row is not None and row.adds == 2 and row.active
        assert row.last_added == alert_time("2026-05-03T05:25:00.000+0000")
        assert row.first_added == alert_time(sample()["timestamp"])
        row = table.apply(lifted, decider.bound_responses)
        assert row is not None and not row.active and row_state(row, 0) == "lifted"
        fleet_store.close()
    finally:
        store.close()
    store = StateStore.open(tmp_path / "state.db")
    try:
        with FleetStore(store) as fleet_store:
            reloaded = FleetTable(fleet_store).find("001:firewall-drop-192.168.2.65")
        assert reloaded is not None and not reloaded.active and reloaded.adds == 2
    finally:
        store.close()


def test_653_host_deny_and_657_other_program(tmp_path: Path) -> None:
    decider = decider_for(tmp_path, [response("host-deny", rules_id="5710", timeout=30)])
    table = FleetTable()
    deny = read_ar_log_alert(decode_alert_line(
        variant("653", command_word="add", program="host-deny")), 0.0)
    other = read_ar_log_alert(decode_alert_line(
        variant("657", command_word="add", program="custom-block")), 0.0)
    assert deny is not None and other is not None
    row = table.apply(deny, decider.bound_responses)
    assert row is not None and (row.program, row.timeout_max) == ("host-deny", 30)
    row = table.apply(other, decider.bound_responses)
    assert row is not None and row.program == "custom-block" and row.timeout_max is None
    assert len(table.rows) == 2


def test_legacy_text_601_602(tmp_path: Path) -> None:
    table = FleetTable()
    add = read_ar_log_alert(decode_alert_line(
        legacy("601", "add", "firewall-drop.sh", "172.16.0.1")), 0.0)
    delete = read_ar_log_alert(decode_alert_line(
        legacy("602", "delete", "firewall-drop.sh", "172.16.0.1")), 0.0)
    assert add is not None and delete is not None
    assert (add.agent, add.program, add.key, add.trigger) == (
        "002", "firewall-drop.sh", "172.16.0.1", None)
    table.apply(add, None)
    row = table.apply(delete, None)
    assert row is not None and not row.active


def test_other_alerts_are_not_fleet_entries() -> None:
    from tests.engine_support import alert_line

    assert read_ar_log_alert(decode_alert_line(alert_line("1.1")), 0.0) is None
    # A rule in the range without the active_response group is not one either.
    assert read_ar_log_alert(decode_alert_line(alert_line("1.2", rule_id="651",
                                                          groups=["ossec"])), 0.0) is None


async def test_engine_follows_ar_alerts_and_they_fire_only_where_bound(tmp_path: Path) -> None:
    """As in Wazuh: an AR log alert is decided like any alert, so it fires a response only
    where one binds it explicitly (here rules_id 651), never because of its trigger's rule."""
    from tests.engine_support import recorder

    home = make_home(tmp_path, [command("firewall-drop"), command("notify")], [
        response("firewall-drop", location="server", rules_id="5710", timeout=600),
    ], scripts={"firewall-drop": recorder(), "notify": recorder()})
    line = SAMPLE.read_text().splitlines()[0].encode()
    engine = await started(home)
    try:
        await engine.handle_line(line)
        await engine.drain()
        assert engine.stats.fired == 0
        row = engine.fleet.table.find("001:firewall-drop-192.168.2.65")
        assert row is not None and row.active and row.timeout_max == 600
    finally:
        await engine.stop()
    (home / "etc" / "ossec.conf").write_text((home / "etc" / "ossec.conf").read_text().replace(
        "</ossec_config>",
        "<active-response><command>notify</command><location>server</location>"
        "<rules_id>651</rules_id></active-response></ossec_config>"))
    engine = await started(home)
    try:
        # The row survived the restart (state file).
        assert engine.fleet.table.find("001:firewall-drop-192.168.2.65") is not None
        await engine.handle_line(line)
        await engine.drain()
        assert engine.stats.fired == 1
    finally:
        await engine.stop()


def test_the_lean_trigger_reading_binds_as_the_whole_alert_would() -> None:
    """The fleet row reads only the trigger's rule (shared between triggers of one rule) and
    its timestamp; what the binding sees (rule id, level, group string with the compliance
    groups) and what the row shows must equal a reading of the whole trigger alert."""
    from arconsole.engine.fleet_table import _whole_trigger, trigger_alert

    line = SAMPLE.read_text().splitlines()[0].encode()
    document = sample()
    raw = json.dumps(document["data"]["parameters"]["alert"], separators=(",", ":")).encode()
    whole = _whole_trigger(raw)
    lean = trigger_alert(raw)
    assert whole is not None and lean is not None
    fields = ("rule_id", "level", "description", "groups", "group_string", "timestamp")
    assert [getattr(lean, f) for f in fields] == [getattr(whole, f) for f in fields]
    assert "pci_dss_" in whole.group_string  # compliance groups are part of the binding
    entry = read_ar_log_alert(decode_alert_line(line), 0.0)
    assert entry is not None and entry.trigger is not None
    assert entry.trigger_timestamp == whole.timestamp != ""
    assert (entry.trigger.rule_id, entry.trigger.level, entry.trigger.group_string) == (
        whole.rule_id, whole.level, whole.group_string)
    # Another trigger of the same rule shares the decoded rule but keeps its own time.
    other = copy.deepcopy(document)
    other["data"]["parameters"]["alert"]["timestamp"] = "2026-05-03T06:00:00.000+0000"
    again = read_ar_log_alert(decode_alert_line(
        json.dumps(other, separators=(",", ":")).encode()), 0.0)
    assert again is not None and again.trigger is entry.trigger
    assert again.trigger_timestamp == "2026-05-03T06:00:00.000+0000"
    # Written with spaces (the typed reading cannot vouch for it: the checked reading), the
    # same trigger binds the same.
    spaced = read_ar_log_alert(decode_alert_line(json.dumps(other).encode()), 0.0)
    assert spaced is not None and spaced.trigger == entry.trigger
    assert spaced.trigger_timestamp == again.trigger_timestamp
    # An odd trigger (a number where the rule's groups belong) is read the old way.
    odd = copy.deepcopy(document)
    odd["data"]["parameters"]["alert"]["rule"]["groups"] = [1, 2]
    assert trigger_alert(json.dumps(odd["data"]["parameters"]["alert"]).encode()) == \
        _whole_trigger(json.dumps(odd["data"]["parameters"]["alert"]).encode())


def test_one_shared_trigger_cache_keeps_only_rules_vouched_for() -> None:
    """The fast reading (`ar_lines`) and the fleet's checked reading share one cache of
    trigger-rule Alerts (`trigger_of`); a rule enters it only vouched for (members known, none
    repeated, written compact). The checked reading still reads one it cannot vouch for
    (spaces, a member unknown to it), on its own, binding exactly as the whole alert would."""
    from arconsole.alerts import ar_lines
    from arconsole.engine.fleet_table import _whole_trigger, checked_entry

    ar_lines._triggers.clear()
    document = sample()
    compact = json.dumps(document, separators=(",", ":")).encode()
    fast = read_ar_log_alert(decode_alert_line(compact), 0.0)
    checked = checked_entry(decode_alert_line(compact), 0.0)
    assert fast is not None and checked is not None and fast.trigger is not None
    assert checked.trigger is fast.trigger  # one Alert, from one cache
    assert len(ar_lines._triggers) == 1
    fields = ("rule_id", "level", "description", "groups", "group_string")
    whole = _whole_trigger(json.dumps(document["data"]["parameters"]["alert"]).encode())
    assert whole is not None
    for odd in ("spaced", "unknown member"):
        other = copy.deepcopy(document)
        trigger = other["data"]["parameters"]["alert"]
        if odd == "spaced":
            trigger["rule"]["firedtimes"] = "7"
            line = json.dumps(other).encode()
        else:
            trigger["rule"] = {"vendor_note": "x", **trigger["rule"]}
            line = json.dumps(other, separators=(",", ":")).encode()
        entry = read_ar_log_alert(decode_alert_line(line), 0.0)
        assert entry is not None and entry.trigger is not None, odd
        assert entry.trigger is not fast.trigger, odd  # read on its own
        assert [getattr(entry.trigger, f) for f in fields] == \
            [getattr(whole, f) for f in fields], odd
        assert len(ar_lines._triggers) == 1, odd  # and not kept


def test_a_new_config_binds_the_next_add_afresh(tmp_path: Path) -> None:
    """The table remembers a trigger's binding per binder: another config (a reload: a new
    decider) binds the next add under its own responses, and no config binds nothing."""
    line = SAMPLE.read_text().splitlines()[0].encode()
    entry = read_ar_log_alert(decode_alert_line(line), 0.0)
    assert entry is not None
    table = FleetTable()
    first = decider_for(tmp_path / "a", [response("firewall-drop", rules_id="5710",
                                                   timeout=600)])
    row = table.apply(entry, first.bound_responses)
    assert row is not None and (row.timeout_min, row.timeout_max) == (600, 600)
    again = table.apply(entry, first.bound_responses)  # the remembered binding
    assert again is row and (row.timeout_min, row.responses) == (600, "firewall-drop600")
    reloaded = decider_for(tmp_path / "b", [response("firewall-drop", rules_id="5710",
                                                      timeout=60)])
    table.apply(entry, reloaded.bound_responses)
    assert (row.timeout_min, row.timeout_max) == (60, 60)
    table.apply(entry, None)
    assert (row.timeout_min, row.timeout_max, row.responses) == (None, None, "")
    table.apply(entry, reloaded.bound_responses)
    assert (row.timeout_min, row.timeout_max) == (60, 60)
