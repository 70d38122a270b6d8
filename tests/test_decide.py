"""Which responses an alert fires, and why (spec 3.3, 4, 5, 6).

Test names carry the scenario ids of /work/shared/spec/scenarios.md: B.2 (M*), B.3 (D*),
B.4 (L*), the config facts of B.1 (C*) that surface as reasons, and Part E (E-D*, E-E*, E-G*).
Configs go through the real loader; alerts through the real alerts.json reader.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arconsole.alerts.jsonreader import decode_alert_line
from arconsole.alerts.model import Alert
from arconsole.config.loader import load_config_text
from arconsole.config.model import Config, Flavour
from arconsole.engine.agents import AgentDirectory
from arconsole.engine.decide import Decider, ResponseDecision

STOCK_WHITE_LIST = ("127.0.0.1", "^localhost.localdomain$")


def commands(flavour: Flavour) -> str:
    """The stock commands of ossec-wazuh-4.14-server.conf (OSSEC needs <expect>)."""
    ossec = flavour is Flavour.OSSEC

    def command(name: str, stateful: bool, expect: str) -> str:
        return (f"<command><name>{name}</name><executable>{name}</executable>"
                + ("<timeout_allowed>yes</timeout_allowed>" if stateful else "")
                + (f"<expect>{expect}</expect>" if ossec else "") + "</command>")

    return "".join([
        command("disable-account", True, "user"), command("restart-wazuh", False, ""),
        command("firewall-drop", True, "srcip"), command("host-deny", True, "srcip"),
        command("route-null", True, "srcip"),
    ])


def block(command: str = "firewall-drop", location: str = "local", **options: object) -> str:
    body = "".join(f"<{name}>{value}</{name}>" for name, value in options.items())
    return (f"<active-response><command>{command}</command><location>{location}</location>"
            f"{body}</active-response>")


def config(*blocks: str, flavour: Flavour = Flavour.WAZUH,
           white_list: tuple[str, ...] = STOCK_WHITE_LIST, prefix: str = "") -> Config:
    entries = "".join(f"<white_list>{entry}</white_list>" for entry in white_list)
    text = (f"<ossec_config><global>{entries}</global>{commands(flavour)}{prefix}"
            f"{''.join(blocks)}</ossec_config>")
    return load_config_text(text, "test.conf", flavour=flavour)


def alert(rule_id: str | int = "5710", level: int = 5, groups: tuple[str, ...] = ("syslog", "sshd"),
          agent: str | None = "001", srcip: str | None = "203.0.113.9",
          dstuser: str | None = None, **extra: Any) -> Alert:
    rule: dict[str, Any] = {"level": level, "description": "test", "id": rule_id,
                            "groups": list(groups)}
    rule.update({key: value for key, value in extra.items() if key != "full_log"})
    document: dict[str, Any] = {"timestamp": "2024-01-01T00:00:00.000+0000", "rule": rule}
    if agent is not None:
        document["agent"] = {"id": agent, "name": f"host-{agent}"}
    document["id"] = "1700000000.1"
    if "full_log" in extra:
        document["full_log"] = extra["full_log"]
    data = {key: value for key, value in (("srcip", srcip), ("dstuser", dstuser)) if value}
    if data:
        document["data"] = data
    document["location"] = "/var/log/auth.log"
    return decode_alert_line(json.dumps(document).encode())


def fired(decider: Decider, event: Alert) -> list[tuple[int, tuple[str, ...]]]:
    """(block index, targets) of what fires, checked to agree between decide and fired."""
    explained = [(d.response.index, d.targets) for d in decider.decide(event).fired]
    fast = [(d.response.index, d.targets) for d in decider.fired(event)]
    assert fast == explained
    return explained


def why(decider: Decider, event: Alert, index: int = 1) -> ResponseDecision:
    return decider.decide(event).responses[index - 1]


def reasons(decision: ResponseDecision) -> str:
    return " | ".join(decision.reasons)


# ---------------------------------------------------------------- B.2 matching


def test_M1_level_below_is_not_fired() -> None:
    decider = Decider(config(block(level=6)))
    assert fired(decider, alert(level=5)) == []
    assert "rule level 5 < <level>6</level>" in reasons(why(decider, alert(level=5)))


def test_M2_level_equal_fires() -> None:
    assert fired(Decider(config(block(level=6))), alert(level=6)) == [(1, ("001",))]


def test_M3_rules_group_fires() -> None:
    decider = Decider(config(block(rules_group="authentication_failed")))
    event = alert(groups=("syslog", "sshd", "authentication_failed"))
    assert fired(decider, event) == [(1, ("001",))]


def test_M4_level_and_group_are_anded_in_wazuh() -> None:
    decider = Decider(config(block(level=10, rules_group="authentication_failed")))
    event = alert(level=5, groups=("syslog", "authentication_failed"))
    assert fired(decider, event) == []
    assert "both must match" in reasons(why(decider, event))


def test_M5_level_and_group_are_ored_in_ossec() -> None:
    decider = Decider(config(block(level=10, rules_group="authentication_failed"),
                             flavour=Flavour.OSSEC))
    event = alert(level=5, groups=("syslog", "authentication_failed"))
    assert fired(decider, event) == [(1, ("001",))]


def test_M6_rules_id_is_ored_with_level() -> None:
    decider = Decider(config(block(level=10, rules_id="5710")))
    assert fired(decider, alert(rule_id="5710", level=5)) == [(1, ("001",))]
    assert "<rules_id>5710</rules_id> lists rule 5710" in reasons(
        why(decider, alert(rule_id="5710", level=5)))


def test_M7_level_alone_fires_whatever_rules_id_says() -> None:
    decider = Decider(config(block(level=10, rules_id="5710")))
    assert fired(decider, alert(rule_id="9999", level=12)) == [(1, ("001",))]


def test_M8_rules_id_spaces_and_double_commas_are_skipped() -> None:
    decider = Decider(config(block(rules_id="5710, 5712,,5716")))
    assert fired(decider, alert(rule_id="5716")) == [(1, ("001",))]
    assert fired(decider, alert(rule_id=5712)) == [(1, ("001",))]  # a numeric rule.id too


def test_M9_rules_id_parsing_stops_at_a_semicolon() -> None:
    decider = Decider(config(block(rules_id="5710;5712")))
    assert fired(decider, alert(rule_id="5712")) == []
    assert fired(decider, alert(rule_id="5710")) == [(1, ("001",))]
    assert "(read as 5710)" in reasons(why(decider, alert(rule_id="5712")))


def test_M10_rules_id_has_no_ranges() -> None:
    decider = Decider(config(block(rules_id="5710-5712")))
    assert fired(decider, alert(rule_id="5711")) == []
    assert fired(decider, alert(rule_id="5710")) == [(1, ("001",))]


def test_M11_a_block_without_filters_never_fires() -> None:
    decider = Decider(config(block()))
    for level in (1, 5, 16):
        assert fired(decider, alert(level=level)) == []
    assert "binds no rule" in reasons(why(decider, alert()))


def test_M12_group_is_a_substring() -> None:
    decider = Decider(config(block(rules_group="sshd")))
    assert fired(decider, alert(groups=("web_sshd_custom",))) == [(1, ("001",))]


def test_M13_trailing_comma_guards_the_end() -> None:
    decider = Decider(config(block(rules_group="sshd,")))
    assert fired(decider, alert(groups=("sshd_custom",))) == []


def test_M14_group_is_case_insensitive() -> None:
    decider = Decider(config(block(rules_group="SSHD,")))
    assert fired(decider, alert(groups=("sshd",))) == [(1, ("001",))]


def test_M15_compliance_group_rebuilt_from_alerts_json() -> None:
    decider = Decider(config(block(rules_group="sshd,|pci_dss_11.4,")))
    event = alert(rule_id="5712", level=10, groups=("syslog", "authentication_failures"),
                  pci_dss=["11.4", "10.2.4"], gdpr=["IV_35.7.d"])
    assert fired(decider, event) == [(1, ("001",))]
    assert "pci_dss_11.4," in event.group_string


def test_M16_caret_anchors_the_group_string() -> None:
    decider = Decider(config(block(rules_group="^syslog,")))
    assert fired(decider, alert(groups=("syslog", "sshd"))) == [(1, ("001",))]
    assert fired(decider, alert(groups=("sshd", "syslog"))) == []


def test_M17_escaped_dot_is_any_character() -> None:
    decider = Decider(config(block(rules_group="web\\.attack")))
    assert fired(decider, alert(groups=("web", "attack"))) == [(1, ("001",))]


def test_M18_invalid_group_pattern_never_fires_and_loads() -> None:
    loaded = config(block(rules_group="a(b"))
    assert loaded.ok  # no error at load (a warning at most)
    decider = Decider(loaded)
    assert fired(decider, alert(groups=("a(b", "ab"))) == []
    assert "not a valid OS_Regex" in reasons(why(decider, alert(groups=("a(b",))))


def test_M19_rule_level_0_never_fires() -> None:
    decider = Decider(config(block(level=1), block(rules_id="5710"), block(rules_group="sshd")))
    event = alert(rule_id="5710", level=0, groups=("sshd",))
    assert fired(decider, event) == []
    assert "level 0" in reasons(why(decider, event, 2))


def test_M20_no_ar_is_invisible_in_alerts_json() -> None:
    # Wazuh never fires a response for a rule with <options>no_ar</options>; alerts.json does
    # not say which rules have it, so arconsole fires as for any rule (spec 1.2, 5.2).
    decider = Decider(config(block(rules_id="5710")))
    assert fired(decider, alert(rule_id="5710")) == [(1, ("001",))]


def test_M21_two_matching_blocks_both_fire_in_file_order() -> None:
    decider = Decider(config(block(level=5, timeout=600), block(level=5, timeout=600),
                             block("host-deny", "server", level=3)))
    result = decider.decide(alert(level=7))
    assert fired(decider, alert(level=7)) == [(1, ("001",)), (2, ("001",)), (3, ("server",))]
    assert [d.response.name for d in result.fired] == [
        "firewall-drop600", "firewall-drop600", "host-deny0"]


def test_M22_below_log_alert_level_never_reaches_alerts_json(tmp_path: Path) -> None:
    # A level-2 rule bound by rules_id fires in Wazuh although stock log_alert_level (3) keeps
    # it out of alerts.json. arconsole decides only lines it reads: given such a line it fires,
    # but in a real stream the line never exists, and `explain` says so in its closing note.
    from tests.test_explain_crafted import run_explain

    decider = Decider(config(block(rules_id="5402")))
    assert fired(decider, alert(rule_id="5402", level=2)) == [(1, ("001",))]
    (tmp_path / "ossec.conf").write_text(
        "<ossec_config><command><name>firewall-drop</name><executable>firewall-drop"
        "</executable><timeout_allowed>yes</timeout_allowed></command><active-response>"
        "<command>firewall-drop</command><location>local</location><rules_id>5402"
        "</rules_id><timeout>600</timeout></active-response></ossec_config>")
    (tmp_path / "alerts.json").write_text(json.dumps({
        "timestamp": "2026-11-23T10:00:00.000+0000", "id": "1.1", "location": "x",
        "rule": {"level": 2, "id": "5402", "description": "x", "groups": ["syslog"]},
        "agent": {"id": "001", "name": "web-01"}, "data": {"srcip": "203.0.113.7"}}) + "\n")
    done = run_explain(tmp_path / "ossec.conf", tmp_path / "alerts.json", "--format", "text")
    assert done.returncode == 0, done.stderr
    note = done.stdout[done.stdout.index("note: "):]
    assert "<alerts><log_alert_level> is the lowest level of alert written to " \
        "alerts.json" in note, note
    assert "a response bound to a lower-level rule runs in Wazuh but is never seen here" \
        in note, note


# ---------------------------------------------------------------- B.3 alert-time checks


def test_D1_stock_white_list_stops_every_response() -> None:
    decider = Decider(config(block(level=3), block("disable-account", "server", level=3)))
    event = alert(srcip="127.0.0.1", dstuser="bob")
    assert fired(decider, event) == []
    text = reasons(why(decider, event))
    assert "<white_list>127.0.0.1</white_list> (line 1)" in text  # E1: names the entry


def test_D2_mapped_address_is_stripped_then_white_listed() -> None:
    decider = Decider(config(block(level=3), white_list=("10.0.0.0/8",)))
    event = alert(srcip="::ffff:10.0.0.5")
    assert fired(decider, event) == []
    assert "after removing '::ffff:'" in reasons(why(decider, event))


def test_D3_white_list_applies_to_user_commands_too() -> None:
    decider = Decider(config(block("disable-account", level=3), white_list=("10.0.0.0/8",)))
    assert fired(decider, alert(srcip="10.0.0.5", dstuser="bob")) == []


def test_D4_ossec_checks_the_white_list_only_for_srcip_commands() -> None:
    decider = Decider(config(block("disable-account", level=3), block(level=3),
                             white_list=("10.0.0.0/8",), flavour=Flavour.OSSEC))
    event = alert(srcip="10.0.0.5", dstuser="bob")
    assert fired(decider, event) == [(1, ("001",))]  # disable-account fires, firewall-drop not
    assert "does not expect srcip" in reasons(why(decider, event, 1))


def test_D5_wazuh_dispatches_without_srcip() -> None:
    decider = Decider(config(block(level=3)))
    event = alert(srcip=None)
    assert fired(decider, event) == [(1, ("001",))]
    # E5: the white list is not applicable, and the reason says so.
    assert "white list not applied: the alert has no srcip" in reasons(why(decider, event))


def test_D6_ossec_expect_gates_a_missing_srcip() -> None:
    decider = Decider(config(block(level=3), flavour=Flavour.OSSEC))
    event = alert(srcip=None)
    assert fired(decider, event) == []
    assert "expects srcip" in reasons(why(decider, event))


@pytest.mark.parametrize("user", ["DOMAIN\\bob", "bob smith", "bob$"])
def test_D7_crafted_dstuser_skips_every_response(user: str) -> None:
    decider = Decider(config(block(level=3), block("host-deny", "server", level=3)))
    event = alert(dstuser=user)
    assert fired(decider, event) == []
    assert "Invalid username" in reasons(why(decider, event, 2))
    assert "(1272)" in reasons(why(decider, event, 2))


def test_D8_crafted_srcip_is_skipped() -> None:
    decider = Decider(config(block(level=3)))
    event = alert(srcip="1.2.3.4;rm -rf")
    assert fired(decider, event) == []
    assert "Invalid IP Address '1.2.3.4;rm -rf'. Possible logging attack. (1271)" in reasons(
        why(decider, event))


def test_D9_negated_ip_entry_per_flavour() -> None:
    wazuh = Decider(config(block(level=3), white_list=("!10.1.1.1",)))
    assert fired(wazuh, alert(srcip="10.1.1.1")) == []  # the '!' is dropped: white-listed
    assert "drops the '!'" in reasons(why(wazuh, alert(srcip="10.1.1.1")))
    assert fired(wazuh, alert(srcip="8.8.8.8")) == [(1, ("001",))]
    ossec = Decider(config(block(level=3), white_list=("!10.1.1.1",), flavour=Flavour.OSSEC))
    assert fired(ossec, alert(srcip="10.1.1.1")) == [(1, ("001",))]
    assert fired(ossec, alert(srcip="8.8.8.8")) == []
    assert "exceptions" in reasons(why(ossec, alert(srcip="8.8.8.8")))


def test_D9b_negated_text_entry_white_lists_everything_else() -> None:
    decider = Decider(config(block(level=3), white_list=("!foo",)))
    assert fired(decider, alert(srcip="8.8.8.8")) == []
    assert "negated pattern" in reasons(why(decider, alert(srcip="8.8.8.8")))


def test_D10_ipv6_entry_is_a_substring() -> None:
    decider = Decider(config(block(level=3), white_list=("::1",)))
    assert fired(decider, alert(srcip="fe80::1a")) == []
    assert fired(decider, alert(srcip="fe80::2")) == [(1, ("001",))]


# ---------------------------------------------------------------- B.4 routing


def test_L1_local_runs_on_the_agent() -> None:
    decider = Decider(config(block(level=3)))
    assert fired(decider, alert(agent="001")) == [(1, ("001",))]


def test_L2_local_on_the_manager_event_runs_on_the_manager() -> None:
    decider = Decider(config(block(level=3)))
    assert fired(decider, alert(agent="000")) == [(1, ("server",))]
    assert fired(decider, alert(agent=None)) == [(1, ("server",))]  # no agent at all


def test_L3_server_runs_on_the_manager_only() -> None:
    decider = Decider(config(block(location="server", level=3)))
    assert fired(decider, alert(agent="003")) == [(1, ("server",))]


def test_L4_defined_agent_runs_on_that_agent() -> None:
    decider = Decider(config(block(location="defined-agent", agent_id="032", level=3)))
    assert fired(decider, alert(agent="001")) == [(1, ("032",))]


AGENTS = AgentDirectory.from_json(json.dumps([
    {"id": "000", "name": "manager", "status": "active"},
    {"id": "001", "name": "web-01", "status": "active"},
    {"id": "002", "name": "web-02", "status": "disconnected"},
    {"id": 3, "name": "db-01", "status": "active"},
    {"id": "004", "name": "db-02", "status": "active"},
]).encode())


def test_L5_all_reaches_active_agents_never_the_manager() -> None:
    decider = Decider(config(block(location="all", level=3)), AGENTS)
    assert fired(decider, alert(agent="000")) == [(1, ("001", "003", "004"))]
    assert "never the manager" in reasons(why(decider, alert(agent="000")))
    without_list = Decider(config(block(location="all", level=3)))
    assert fired(without_list, alert(agent="000")) == [(1, ("all",))]


def test_L5_all_without_active_agent_does_not_run() -> None:
    idle = AgentDirectory.from_json(b'[{"id": "001", "name": "a", "status": "disconnected"}]')
    decider = Decider(config(block(location="all", level=3)), idle)
    assert fired(decider, alert()) == []
    assert "no agent" in reasons(why(decider, alert()))


def test_L6_all_plus_a_server_block_reach_agents_and_manager() -> None:
    decider = Decider(config(block(location="all", level=3), block(location="server", level=3)),
                      AGENTS)
    assert fired(decider, alert()) == [(1, ("001", "003", "004")), (2, ("server",))]


def test_L7_server_comma_all_is_the_manager_only() -> None:
    decider = Decider(config(block(location="server,all", level=3)), AGENTS)
    assert fired(decider, alert(agent="001")) == [(1, ("server",))]
    assert "'server' wins over 'all'" in reasons(why(decider, alert(agent="001")))


def test_L8_L9_agent_versions_are_the_transports_business() -> None:
    # Wazuh skips an agent whose version it cannot read (L8) and sends the legacy string to
    # agents older than 4.2 (L9). The agent list carries no versions: the decision names the
    # target agents, and delivery (spec 1.5) chooses the message or reports it undelivered.
    decider = Decider(config(block(level=3)), AGENTS)
    assert fired(decider, alert(agent="002")) == [(1, ("002",))]


def test_local_and_all_together_follow_wazuh_priority() -> None:
    decider = Decider(config(block(location="local,all", level=3)), AGENTS)
    assert fired(decider, alert(agent="000")) == [(1, ("server",))]  # REMOTE_AGENT on 000 first
    assert fired(decider, alert(agent="002")) == [(1, ("001", "003", "004"))]


def test_local_on_an_alerts_log_agent_needs_the_agent_list() -> None:
    from arconsole.alerts.logreader import parse_record

    record = parse_record([
        "** Alert 1700000000.5: - syslog,sshd,", "2023 Nov 14 22:13:20 (db-01) any->/var/log/x",
        "Rule: 5710 (level 5) -> 'x'", "Src IP: 203.0.113.9", "log",
    ])
    without = Decider(config(block(level=3)))
    assert fired(without, record) == []
    assert "--agents" in reasons(why(without, record))
    assert fired(Decider(config(block(level=3)), AGENTS), record) == [(1, ("003",))]


def test_odd_agent_ids_do_not_alias_cached_targets() -> None:
    decider = Decider(config(block(location="server", level=3), block(level=3),
                             block(location="defined-agent", agent_id="7", level=3)))
    for agent in ("000", "", "*", "=", "001", "000"):
        local = "server" if agent == "000" else agent
        assert fired(decider, alert(agent=agent)) == [(1, ("server",)), (2, (local,)),
                                                      (3, ("007",))]


# ---------------------------------------------------------------- config facts as reasons


def test_disabled_block_never_fires_and_says_so() -> None:
    decider = Decider(config(block(level=3), block(level=3, disabled="yes")))
    assert fired(decider, alert()) == [(1, ("001",))]  # C29: the enabled block still runs
    assert "disabled" in reasons(why(decider, alert(), 2))


def test_C13_defined_agent_000_is_dropped_at_load() -> None:
    decider = Decider(config(block(location="defined-agent", agent_id="000", level=3)))
    assert fired(decider, alert()) == []
    assert "1306" in reasons(why(decider, alert()))


@pytest.mark.parametrize(("flavour", "reason"), [
    (Flavour.WAZUH, "never fires: defined-agent with agent id '000' = 0: Wazuh drops the block "
                    "(warning 1306)"),
    (Flavour.OSSEC, "never fires: defined-agent with agent id '000': no agent has that id, so "
                    "OSSEC's remoted runs it nowhere (error 1320: Agent '000' not found.)"),
])
def test_C13_defined_agent_000_never_fires_for_the_flavour_s_own_reason(
    flavour: Flavour, reason: str
) -> None:
    """Wazuh's loader drops the block (1306). OSSEC keeps it: analysisd sends each firing to
    remoted for agent '000', which client.keys never holds (remoted logs 1320 and runs
    nothing); arconsole fires it nowhere either, and says why without blaming Wazuh."""
    loaded = config(block(location="defined-agent", agent_id="000", level=3), flavour=flavour)
    assert loaded.responses[0].kept is (flavour is Flavour.OSSEC)
    decider = Decider(loaded)
    assert fired(decider, alert()) == []
    assert reasons(why(decider, alert())) == reason


@pytest.mark.parametrize("flavour", [Flavour.WAZUH, Flavour.OSSEC])
def test_never_fire_reasons_name_the_config_s_daemon(flavour: Flavour) -> None:
    """A disabled block: the reason names the daemon the config is for (both drop it at
    load)."""
    daemon = "Wazuh" if flavour is Flavour.WAZUH else "OSSEC"
    decider = Decider(config(block(level=3), block(level=3, disabled="yes"), flavour=flavour))
    assert reasons(why(decider, alert(), 2)) == (
        f"never fires: disabled (<disabled>yes</disabled>): {daemon} drops the block at load")


def test_C12_defined_agent_without_agent_id() -> None:
    decider = Decider(config(block(location="defined-agent", level=3)))
    assert fired(decider, alert()) == []
    assert "1304" in reasons(why(decider, alert()))


def test_C16_unknown_command_never_fires() -> None:
    decider = Decider(config(block("nope", level=3), block(level=3)))
    assert fired(decider, alert()) == [(2, ("001",))]
    assert "unknown command 'nope'" in reasons(why(decider, alert()))


def test_C31_first_disabled_yes_stops_the_managers_execd() -> None:
    loaded = config(block(level=3, disabled="yes"), block(location="server", level=3),
                    block(level=3))
    assert loaded.execd_disabled
    decider = Decider(loaded)
    # The manager's execd does not run; a response for an agent still goes to that agent.
    assert fired(decider, alert(agent="001")) == [(3, ("001",))]
    assert fired(decider, alert(agent="000")) == []
    text = reasons(why(decider, alert(agent="001"), 2))
    assert "execd is off" in text and "1350" in text


# ---------------------------------------------------------------- Part E


@pytest.mark.parametrize("srcip", ["1.2.3.4;id", "$(touch x)", "1.2.3.4\n5.6.7.8", "-1.2.3.4",
                                   "-rf", "1.2.3.4 ", "1.2.3.4\x00"])
def test_E_D1_crafted_srcip_is_rejected(srcip: str) -> None:
    decider = Decider(config(block(level=3)))
    assert fired(decider, alert(srcip=srcip)) == []
    assert reasons(why(decider, alert(srcip=srcip))).count("skipped:") == 1


@pytest.mark.parametrize("user", ["-rf", "../x", "a:b", "a,b", "a/b", "a b"])
def test_E_D2_crafted_users_are_rejected(user: str) -> None:
    decider = Decider(config(block("disable-account", level=3)))
    assert fired(decider, alert(dstuser=user, srcip=None)) == []


@pytest.mark.parametrize("user", ["root", "x" * 300, "deploy_user-2", "svc.backup@corp"])
def test_E_D2_names_valid_for_analysisd_pass_the_decision(user: str) -> None:
    # `root` and over-long names pass analysisd's check: Wazuh's scripts refuse them
    # (is_valid_username). The decision lets them through, as analysisd does.
    decider = Decider(config(block("disable-account", level=3)))
    assert fired(decider, alert(dstuser=user, srcip=None)) == [(1, ("001",))]


def test_E_D9_an_address_only_in_full_log_is_never_used() -> None:
    decider = Decider(config(block(level=3), white_list=("203.0.113.0/24",)))
    event = alert(srcip=None, full_log="sshd: Failed password from 203.0.113.7 port 22")
    assert event.srcip is None
    assert fired(decider, event) == [(1, ("001",))]  # not white-listed through full_log


def test_E_E1_white_list_hit_names_entry_and_line() -> None:
    decider = Decider(config(block(level=3), white_list=("192.0.2.0/24", "10.0.0.0/8")))
    assert ("white-listed by <white_list>10.0.0.0/8</white_list> (line 1)"
            in reasons(why(decider, alert(srcip="10.2.3.4"))))


def wazuh_binds(level: int, group: bool, ids: bool, alert_level: int, group_hit: bool,
                id_hit: bool) -> bool:
    """The Rule_AddAR truth table of spec 5.3, written out independently."""
    if alert_level == 0:
        return False
    level_hit = level != 0 and alert_level >= level
    hit = (level_hit and group_hit) if (level and group) else (level_hit or (group and group_hit))
    return hit or (ids and id_hit)


@pytest.mark.parametrize("level", [0, 6])
@pytest.mark.parametrize("group", [False, True])
@pytest.mark.parametrize("ids", [False, True])
def test_E_G1_truth_table(level: int, group: bool, ids: bool) -> None:
    options: dict[str, object] = {}
    if level:
        options["level"] = level
    if group:
        options["rules_group"] = "sshd,"
    if ids:
        options["rules_id"] = "5710,,5712 "
    decider = Decider(config(block("firewall-drop", "local", **options)))
    for alert_level in (0, 3, 6, 9):
        for groups in (("syslog", "sshd"), ("web",)):
            for rule_id in ("5712", "5711"):
                expected = wazuh_binds(level, group, ids, alert_level, "sshd" in groups,
                                       rule_id == "5712")
                event = alert(rule_id=rule_id, level=alert_level, groups=groups)
                assert bool(fired(decider, event)) is expected, (alert_level, groups, rule_id)


def test_E_G3_location_rules_from_a_real_config() -> None:
    loaded = config(block(location="defined-agent", level=3),
                    block(location="defined-agent", agent_id="0", level=3),
                    block(level=3), block(location="all", level=3))
    decider = Decider(loaded, AGENTS)
    assert fired(decider, alert(agent="000")) == [(3, ("server",)), (4, ("001", "003", "004"))]


# ---------------------------------------------------------------- fast path = explain


RESPONSES = [
    block(level=6, timeout=600), block("host-deny", "server", rules_group="sshd,|pci_dss_11.4,"),
    block("disable-account", level=3), block(location="all", rules_id="5710,5712"),
    block(location="defined-agent", agent_id="7", level=10, rules_group="sshd"),
    block("route-null", "local,all", rules_group="^syslog,"),
]


@settings(max_examples=150, deadline=None)
@given(
    flavour=st.sampled_from(list(Flavour)),
    rule_id=st.sampled_from(["5710", "5712", "5716", "1"]),
    level=st.integers(0, 16),
    groups=st.lists(st.sampled_from(["syslog", "sshd", "web", "attack"]), max_size=3),
    pci=st.lists(st.sampled_from(["11.4", "10.2.4"]), max_size=2),
    agent=st.sampled_from([None, "000", "001", "002", "007"]),
    srcip=st.sampled_from([None, "127.0.0.1", "203.0.113.9", "::ffff:127.0.0.1", "1.2.3.4;x"]),
    dstuser=st.sampled_from([None, "bob", "DOMAIN\\bob", "-rf"]),
    with_agents=st.booleans(),
)
def test_fired_agrees_with_decide(flavour: Flavour, rule_id: str, level: int, groups: list[str],
                                  pci: list[str], agent: str | None, srcip: str | None,
                                  dstuser: str | None, with_agents: bool) -> None:
    decider = Decider(config(*RESPONSES, flavour=flavour), AGENTS if with_agents else None)
    event = alert(rule_id=rule_id, level=level, groups=tuple(groups), pci_dss=pci, agent=agent,
                  srcip=srcip, dstuser=dstuser)
    for _ in range(2):  # the second time comes from the caches
        fired(decider, event)
    for decision in decider.decide(event).responses:
        assert decision.fires == bool(decision.targets)
        assert decision.reasons


def test_to_json_is_the_explain_object() -> None:
    decider = Decider(config(block(level=3, timeout=600)))
    data = decider.decide(alert()).to_json(7)
    assert list(data) == ["line", "alert_id", "rule_id", "level", "agent_id", "srcip",
                          "dstuser", "responses", "error"]
    assert data["line"] == 7 and data["error"] is None
    assert data["responses"] == [{
        "index": 1, "line": 1, "command": "firewall-drop", "name": "firewall-drop600",
        "fires": True, "reasons": data["responses"][0]["reasons"],  # type: ignore[index]
        "targets": ["001"], "timeout": 600, "stateful": True,
    }]


def test_the_hot_path_routes_each_agent_also_after_its_table_starts_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What fires is kept by (rule, agent); when that table starts over (bounded), no agent
    gets another agent's targets."""
    import arconsole.engine.decide as decide

    monkeypatch.setattr(decide, "_ROUTED_BY_AGENT_LIMIT", 2)
    decider = Decider(config(block(level=5), block("restart-wazuh", "server", level=10)))
    for _ in range(2):
        for agent_id in ("001", "002", "003", "000", "004"):
            for rule_id, level in (("5710", 5), ("5712", 10)):
                expected = [(1, ("server",) if agent_id == "000" else (agent_id,))]
                if level == 10:
                    expected.append((2, ("server",)))
                event = alert(rule_id=rule_id, level=level, agent=agent_id)
                assert fired(decider, event) == expected, (agent_id, rule_id)
    assert fired(decider, alert(agent=None)) == [(1, ("server",))]  # the manager's own
    assert len(decider._routed) <= 2  # bounded: the older half went each time it was full
