"""Scenario table B.1 of scenarios.md (C1-C38): configuration parsing, one test per row."""

from __future__ import annotations

import ipaddress

import pytest
from test_config_support import REAL, ar, codes, conf, line_of, load, load_text, only

from arconsole.config.arconf import BUILTIN_LINES, ar_conf_lines
from arconsole.config.diagnostics import Severity
from arconsole.config.loader import load_config
from arconsole.config.model import Flavour, LocationFlag, Role

ERROR = Severity.ERROR


def test_c1_command_without_executable_is_error_1280() -> None:
    config = load("  <command>\n    <name>x</name>\n  </command>", stock=False)
    error = only(config, "1280")
    assert error.severity is ERROR and not config.ok
    assert (error.line, error.column) == (2, 3)


def test_c2_command_name_starting_with_bang_is_error_1235() -> None:
    config = load("<command><name>!x</name><executable>x</executable></command>", stock=False)
    assert only(config, "1235").severity is ERROR


def test_c3_timeout_allowed_maybe_is_error_1235() -> None:
    config = load("<command><name>x</name><executable>x</executable>"
                  "<timeout_allowed>maybe</timeout_allowed></command>", stock=False)
    error = only(config, "1235")
    assert error.severity is ERROR and "maybe" in error.message


def test_c4_expect_in_wazuh_mode_is_accepted_without_effect() -> None:
    config = load("<command><name>x</name><executable>x</executable><expect>srcip</expect>"
                  "</command>", ar("<command>x</command>", "<location>local</location>",
                                   "<level>5</level>"), stock=False)
    assert config.ok
    assert codes(config, Severity.WARNING) == ["AR-EXPECT"]
    assert config.responses[0].kept  # fires even without srcip in the alert (no expect gate)


def test_c5_unknown_child_of_command_is_error_1230() -> None:
    config = load("<command><name>x</name><executable>x</executable><foo>1</foo></command>",
                  stock=False)
    error = only(config, "1230")
    assert error.severity is ERROR and "'foo'" in error.message


def test_c6_command_without_expect_in_ossec_mode_is_error_1280() -> None:
    text = "<command><name>x</name><executable>x.sh</executable></command>"
    assert "1280" in codes(load(text, stock=False, flavour=Flavour.OSSEC), ERROR)
    assert load(text, stock=False).ok  # Wazuh does not need it


def test_c7_block_without_location_is_error_1281() -> None:
    config = load(ar("<command>firewall-drop</command>", "<level>5</level>"))
    assert only(config, "1281").severity is ERROR


def test_c8_block_without_command_is_error_1281() -> None:
    config = load(ar("<location>local</location>", "<level>5</level>"))
    assert only(config, "1281").severity is ERROR


def test_c9_manager_block_with_only_disabled_no_is_error_1281() -> None:
    block = ar("<disabled>no</disabled>")
    assert only(load(block), "1281").severity is ERROR
    # The same block is the normal agent-side switch (spec 3.6).
    agent = load(block, role=Role.AGENT)
    assert agent.ok and not codes(agent, Severity.WARNING)


def test_c10_block_with_only_repeated_offenders_is_accepted_silently() -> None:
    config = load(ar("<repeated_offenders>1,5</repeated_offenders>"))
    assert config.diagnostics == ()
    assert not config.responses[0].kept  # binds nothing
    assert config.repeated_offenders == (1, 5)


def test_c11_location_everywhere_is_error_1302() -> None:
    config = load(ar("<command>firewall-drop</command>", "<location>everywhere</location>",
                     "<level>5</level>"))
    assert only(config, "1302").severity is ERROR


def test_c12_defined_agent_without_agent_id_is_error_1304() -> None:
    config = load(ar("<command>firewall-drop</command>", "<location>defined-agent</location>",
                     "<level>5</level>"))
    assert only(config, "1304").severity is ERROR


@pytest.mark.parametrize("agent_id", ["000", "abc"])
def test_c13_defined_agent_with_agent_zero_is_warning_1306_and_dropped(agent_id: str) -> None:
    config = load(ar("<command>firewall-drop</command>", "<location>defined-agent</location>",
                     f"<agent_id>{agent_id}</agent_id>", "<level>5</level>"))
    assert config.ok
    assert only(config, "1306").severity is Severity.WARNING
    assert not config.responses[0].kept and config.active_responses == ()


@pytest.mark.parametrize("agent_id", ["000", "abc"])
def test_c13_in_ossec_mode_the_block_is_kept_and_the_warning_says_it_runs_nowhere(
    agent_id: str
) -> None:
    """O37 has no 1306: analysisd keeps the block and sends each firing to remoted for the id
    as written; no client.keys entry has it, so remoted logs (1320) and runs nothing. The
    warning says that (not 'agent 0, the manager', where nothing runs either)."""
    block = ar("<command>firewall-drop</command>", "<location>defined-agent</location>",
               f"<agent_id>{agent_id}</agent_id>", "<level>5</level>")
    config = load(block, flavour=Flavour.OSSEC)
    assert config.ok and config.responses[-1].kept
    warning = only(config, "AR-AGENT-ID")
    assert warning.severity is Severity.WARNING
    assert warning.message == (f"<agent_id> '{agent_id}' names no agent: OSSEC's remoted logs "
                               f"\"Agent '{agent_id}' not found.\" (1320) and runs this block "
                               "nowhere")
    assert warning.hint == ("use <location>server</location> to run it on the manager, or the "
                            "agent's number, e.g. 003")


@pytest.mark.parametrize(("flavour", "how"), [
    (Flavour.WAZUH, "Wazuh takes the leading number"),
    (Flavour.OSSEC, "arconsole takes the leading number; OSSEC's remoted looks the text up as "
                    "written: older versions find no such agent (1320), later ones send to "
                    "each id of a comma-separated list"),
])
def test_an_agent_id_list_says_who_reads_it_how(flavour: Flavour, how: str) -> None:
    """Wazuh atoi()s <agent_id>; OSSEC passes the text to remoted. The OSSEC warning said
    'Wazuh takes the leading number'."""
    config = load(ar("<command>firewall-drop</command>", "<location>defined-agent</location>",
                     "<agent_id>001,002</agent_id>", "<level>5</level>"), flavour=flavour)
    warning = only(config, "AR-AGENT-ID")
    assert warning.message == ("<agent_id>001,002</agent_id> is read as agent 001 only: "
                               + how)


def test_c14_location_is_case_insensitive() -> None:
    config = load(ar("<command>firewall-drop</command>", "<location>LOCAL</location>",
                     "<level>5</level>"))
    assert config.diagnostics == ()
    assert config.responses[0].location_flags == LocationFlag.REMOTE_AGENT


def test_c15_server_all_sets_both_flags_and_goes_to_the_manager_only() -> None:
    config = load(ar("<command>firewall-drop</command>", "<location>server,all</location>",
                     "<level>5</level>"))
    response = config.responses[0]
    assert response.kept
    assert response.location_flags == LocationFlag.AS_ONLY | LocationFlag.ALL_AGENTS
    assert "manager only" in only(config, "AR-LOCATION-MIX").message


def test_c16_unknown_command_is_error_1303() -> None:
    config = load(ar("<command>nope</command>", "<location>local</location>",
                     "<level>5</level>"))
    error = only(config, "1303")
    assert error.severity is ERROR and "'nope'" in error.message


def test_c17_block_before_its_command_is_error_1303() -> None:
    text = conf(ar("<command>late</command>", "<location>local</location>", "<level>5</level>"),
                "  <command><name>late</name><executable>late</executable></command>")
    config = load_text(text)
    error = only(config, "1303")
    command_line, _ = line_of(text, "<name>late</name>")
    assert f"line {command_line}" in (error.hint or "")
    assert (error.line, error.column) == line_of(text, "<command>late</command>")


def test_c18_timeout_on_stateless_command_is_info_1305_and_zeroed() -> None:
    config = load(ar("<command>restart-wazuh</command>", "<location>local</location>",
                     "<rules_id>550</rules_id>", "<timeout>600</timeout>"))
    assert config.ok
    assert only(config, "1305").severity is Severity.INFO
    response = config.responses[0]
    assert response.kept and response.timeout == 0 and response.name == "restart-wazuh0"


def test_c19_timeout_on_stateless_command_is_error_1305_in_ossec_mode() -> None:
    config = load(ar("<command>restart-ossec</command>", "<location>local</location>",
                     "<rules_id>550</rules_id>", "<timeout>600</timeout>"),
                  flavour=Flavour.OSSEC)
    assert only(config, "1305").severity is ERROR


@pytest.mark.parametrize("level", ["21", "-1", "5a"])
def test_c20_bad_level_is_error_1235(level: str) -> None:
    config = load(ar("<command>firewall-drop</command>", "<location>local</location>",
                     f"<level>{level}</level>"))
    assert only(config, "1235").severity is ERROR


@pytest.mark.parametrize("element", ["<level>0</level>", "<level></level>"])
def test_c21_level_zero_or_empty_is_accepted_and_unset(element: str) -> None:
    config = load(ar("<command>firewall-drop</command>", "<location>local</location>", element,
                     "<rules_id>5710</rules_id>"))
    assert config.ok
    assert config.responses[0].level == 0 and config.responses[0].kept


def test_c22_timeout_with_unit_is_read_as_seconds() -> None:
    config = load(ar("<command>firewall-drop</command>", "<location>local</location>",
                     "<level>5</level>", "<timeout>10m</timeout>"))
    assert config.ok
    response = config.responses[0]
    assert response.timeout == 10 and response.name == "firewall-drop10"
    assert "10 seconds" in only(config, "AR-TIMEOUT-UNIT").message


def test_c23_disabled_true_is_error_1235() -> None:
    config = load(ar("<disabled>true</disabled>", "<command>firewall-drop</command>",
                     "<location>local</location>", "<level>5</level>"))
    assert only(config, "1235").severity is ERROR


def test_c24_agent_id_with_a_hyphen_is_error_1230_with_a_hint() -> None:
    config = load(ar("<command>firewall-drop</command>", "<location>defined-agent</location>",
                     "<agent-id>032</agent-id>", "<level>5</level>"))
    error = only(config, "1230")
    assert error.severity is ERROR and "agent_id" in (error.hint or "")
    assert "1304" not in codes(config)  # the typo explains the missing agent_id


def test_c25_ca_store_is_accepted_and_ignored() -> None:
    config = load(ar("<command>firewall-drop</command>", "<location>local</location>",
                     "<level>5</level>", "<ca_store>etc/wpk_root.pem</ca_store>"))
    assert config.diagnostics == ()
    assert config.responses[0].kept


def test_c26_two_identical_blocks_give_two_responses_with_one_name() -> None:
    block = ar("<command>firewall-drop</command>", "<location>local</location>",
               "<level>5</level>", "<timeout>600</timeout>")
    config = load(block, block)
    names = [r.name for r in config.active_responses]
    assert names == ["firewall-drop600", "firewall-drop600"]
    assert ar_conf_lines(config).count("firewall-drop600 - firewall-drop - 600") == 2
    assert config.ok  # a warning names the duplicate, nothing more
    assert only(config, "AR-DUP-RESPONSE").severity is Severity.WARNING


def test_c27_ar_conf_has_the_builtin_lines_then_one_line_per_kept_block() -> None:
    config = load(
        ar("<command>firewall-drop</command>", "<location>local</location>",
           "<level>5</level>", "<timeout>600</timeout>"),
        ar("<disabled>yes</disabled>", "<command>host-deny</command>",
           "<location>local</location>", "<level>5</level>"),
        ar("<command>restart-wazuh</command>", "<location>server</location>",
           "<rules_id>550</rules_id>"),
    )
    assert ar_conf_lines(config) == [
        *BUILTIN_LINES,
        "firewall-drop600 - firewall-drop - 600",
        "restart-wazuh0 - restart-wazuh - 0",
    ]
    assert BUILTIN_LINES[0] == "restart-ossec0 - restart-ossec.sh - 0" and len(BUILTIN_LINES) == 6


@pytest.mark.parametrize(("kept", "warned"), [(62, False), (63, True)])
def test_c28_more_than_62_kept_blocks_is_warning_1307(kept: int, warned: bool) -> None:
    blocks = [ar("<command>firewall-drop</command>", "<location>local</location>",
                 f"<rules_id>{100000 + i}</rules_id>") for i in range(kept)]
    config = load(*blocks)
    assert ("1307" in codes(config, Severity.WARNING)) is warned
    assert len(config.active_responses) == kept


def test_c29_disabled_block_after_enabled_one_warns_and_keeps_the_enabled_one() -> None:
    config = load(
        ar("<command>firewall-drop</command>", "<location>local</location>",
           "<level>5</level>"),
        ar("<disabled>yes</disabled>", "<command>host-deny</command>",
           "<location>local</location>", "<level>5</level>"),
    )
    warning = only(config, "AR-DISABLED-AFTER")
    assert "never dispatch firewall-drop0" in warning.message
    assert config.ok and [r.name for r in config.active_responses] == ["firewall-drop0"]


def test_c30_disabled_block_before_the_enabled_one_is_harmless() -> None:
    config = load(
        ar("<disabled>yes</disabled>", "<command>host-deny</command>",
           "<location>local</location>", "<level>5</level>"),
        ar("<command>firewall-drop</command>", "<location>local</location>",
           "<level>5</level>"),
    )
    assert "AR-DISABLED-AFTER" not in codes(config)
    assert [r.name for r in config.active_responses] == ["firewall-drop0"]


def test_c31_first_disabled_yes_switches_the_managers_execd_off() -> None:
    config = load(
        ar("<disabled>yes</disabled>", "<command>host-deny</command>",
           "<location>local</location>", "<level>5</level>"),
        ar("<disabled>no</disabled>", "<command>firewall-drop</command>",
           "<location>local</location>", "<level>5</level>"),
    )
    assert config.execd_disabled
    assert only(config, "1350").severity is Severity.WARNING
    switch = load(ar("<disabled>yes</disabled>", "<repeated_offenders>5</repeated_offenders>"))
    assert switch.execd_disabled and only(switch, "1350").severity is Severity.INFO


def test_c32_repeated_offenders_keeps_five_pieces_and_atois_the_last() -> None:
    config = load(ar("<repeated_offenders>1,5,10,20,30,40</repeated_offenders>"))
    assert config.repeated_offenders == (1, 5, 10, 20, 30)
    assert only(config, "AR-RO-COUNT").severity is ERROR  # Part E F1: more than 5 values


def test_c33_repeated_offenders_with_text_first_disables_escalation() -> None:
    config = load(ar("<repeated_offenders>abc,5</repeated_offenders>"))
    assert config.repeated_offenders == ()
    error = only(config, "AR-RO-VALUE")
    assert error.severity is ERROR and "off" in error.message


def test_c34_only_the_first_repeated_offenders_counts() -> None:
    text = conf(ar("<repeated_offenders>10,20</repeated_offenders>"),
                ar("<repeated_offenders>30,60</repeated_offenders>"))
    config = load_text(text)
    assert config.repeated_offenders == (10, 20)
    warning = only(config, "AR-RO-IGNORED")
    assert (warning.line, warning.column) == line_of(text, "<repeated_offenders>30")


def test_c35_white_list_networks_netmasks_and_bang() -> None:
    config = load("<global><white_list>10.0.0.0/8</white_list>"
                  "<white_list>10.0.0.0/255.0.0.0</white_list>"
                  "<white_list>!10.1.2.3</white_list></global>")
    cidr, netmask, bang = config.white_list
    assert cidr.network == netmask.network == ipaddress.IPv4Network("10.0.0.0/8")
    assert bang.network == ipaddress.IPv4Network("10.1.2.3/32") and bang.negated
    assert "opposite" in only(config, "AR-WL-NEGATED").message
    assert config.ok


def test_c36_ipv6_and_host_names_are_text_patterns() -> None:
    config = load("<global><white_list>::1</white_list><white_list>myhost</white_list></global>")
    ipv6, host = config.white_list
    assert (ipv6.network, ipv6.pattern) == (None, "::1")
    assert (host.network, host.pattern) == (None, "myhost")
    assert config.ok


def test_c37_invalid_ip_matching_the_regex_is_a_startup_error() -> None:
    config = load("<global><white_list>999.1.1.1</white_list></global>")
    assert only(config, "1237").severity is ERROR
    assert config.white_list == ()


@pytest.mark.skipif(not (REAL / "ossec-hids-3.7.0.conf").exists(), reason="fixtures absent")
def test_c38_ossec_stock_config_loads_despite_the_comment() -> None:
    config = load_config(REAL / "ossec-hids-3.7.0.conf", flavour=Flavour.OSSEC)
    assert config.ok
    comment = only(config, "AR-XML")
    assert (comment.severity, comment.line, comment.column) == (Severity.WARNING, 40, 46)
    assert [r.name for r in config.active_responses] == ["host-deny600", "firewall-drop600"]
