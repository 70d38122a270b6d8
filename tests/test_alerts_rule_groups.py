"""The group string follows each line's order of the compliance arrays (spec 5.4).

alerts.json writes a rule's compliance arrays in the order their first group appeared in the
rule, and `rules_group` is an OS_Regex searched in the rebuilt string (spec 5.2), so a pattern
spanning two arrays (`pci_dss_10.2.4,gdpr_`) matches one order and not the other. The decoder
remembers group strings by the rule's arrays: two lines with the same arrays written in a
different order must not share one group string, on any of its readings.
"""

from __future__ import annotations

import json

import pytest

from arconsole.alerts.jsonreader import decode_alert_line
from arconsole.config.model import ActiveResponse, Command, Config, LocationFlag
from arconsole.engine.decide import Decider

PCI_FIRST = '"pci_dss":["10.2.4"],"gdpr":["IV_35.7.d"]'
GDPR_FIRST = '"gdpr":["IV_35.7.d"],"pci_dss":["10.2.4"]'
SPANNING = "pci_dss_10.2.4,gdpr_"  # matches only when pci_dss comes first


def wazuh_line(
    arrays: str, rule_id: str = "5716", data: str = '"srcip":"203.0.113.9"', fired: int = 1
) -> bytes:
    return (
        '{"timestamp":"2020-04-17T00:17:53.159+0000","rule":{"level":5,"description":'
        f'"sshd: authentication failed.","id":"{rule_id}","firedtimes":{fired},"mail":false,'
        f'"groups":["syslog","sshd"],{arrays}}},"agent":{{"id":"001","name":"web"}},'
        f'"id":"1587082673.1","data":{{{data}}},"location":"/var/log/auth.log"}}'
    ).encode()


def spanning_decider() -> Decider:
    response = ActiveResponse(
        index=1, line=1, column=1, command="firewall-drop", location="local",
        location_flags=LocationFlag.REMOTE_AGENT, level=0, rules_id=None, rules_ids=(),
        rules_group=SPANNING, timeout=60, executable="firewall-drop",
    )
    commands = (Command("firewall-drop", "firewall-drop", True, 1, 1),)
    return Decider(Config(path="t.conf", commands=commands, responses=(response,)))


READINGS = {
    "quick": {},
    # a data key Wazuh's ruleset does not write: the checked reading
    "checked": {"data": '"srcip":"203.0.113.9","custom_field":"x"'},
}


@pytest.mark.parametrize("reading", sorted(READINGS))
@pytest.mark.parametrize("rule_ids", [("5716", "5716"), ("5716", "5717")])
def test_same_arrays_in_another_order_get_their_own_group_string(
    reading: str, rule_ids: tuple[str, str]
) -> None:
    decider = spanning_decider()
    first, second = rule_ids
    for order in ((PCI_FIRST, GDPR_FIRST), (GDPR_FIRST, PCI_FIRST)):  # either one seen first
        pci = decode_alert_line(wazuh_line(order[0], first, **READINGS[reading]))
        gdpr = decode_alert_line(wazuh_line(order[1], second, **READINGS[reading]))
        if order[0] is GDPR_FIRST:
            pci, gdpr = gdpr, pci
        assert pci.group_string == "syslog,sshd,pci_dss_10.2.4,gdpr_IV_35.7.d,"
        assert gdpr.group_string == "syslog,sshd,gdpr_IV_35.7.d,pci_dss_10.2.4,"
        assert [d.response.index for d in decider.fired(pci)] == [1]
        assert decider.fired(gdpr) == ()


def test_a_line_not_laid_out_as_wazuh_writes_it_keeps_its_order() -> None:
    """Whitespace (or arrays apart from `groups`) takes the slower readings: same result."""
    for arrays, expected in ((PCI_FIRST, "pci_dss_10.2.4,gdpr_"), (GDPR_FIRST, "gdpr_IV")):
        compact = json.loads(wazuh_line(arrays))
        rule = compact["rule"]
        groups = rule.pop("groups")
        rule["groups"] = groups  # the arrays now come before `groups`
        for text in (json.dumps(compact), json.dumps(compact, indent=1)):
            alert = decode_alert_line(text.encode())
            assert alert.group_string.startswith("syslog,sshd," + expected), text


def test_a_rule_seen_before_is_still_read_in_this_line_order() -> None:
    """The same rule (id, level, description) written later with its arrays reordered."""
    before = decode_alert_line(wazuh_line(PCI_FIRST))
    again = decode_alert_line(wazuh_line(PCI_FIRST))
    after = decode_alert_line(wazuh_line(GDPR_FIRST))
    assert before.group_string == again.group_string != after.group_string
    assert after.group_string == "syslog,sshd,gdpr_IV_35.7.d,pci_dss_10.2.4,"


def test_the_order_is_checked_wherever_firedtimes_moves_the_arrays() -> None:
    """`firedtimes` grows with every alert of the rule: the arrays move, the check follows."""
    for fired, arrays in ((7, PCI_FIRST), (12345, PCI_FIRST), (42, GDPR_FIRST),
                          (9, PCI_FIRST), (1000000, GDPR_FIRST), (3, GDPR_FIRST)):
        alert = decode_alert_line(wazuh_line(arrays, "5720", fired=fired))
        first = "pci_dss" if arrays is PCI_FIRST else "gdpr"
        assert alert.group_string.startswith(f"syslog,sshd,{first}_"), (fired, arrays)
