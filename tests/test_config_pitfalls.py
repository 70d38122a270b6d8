"""Spec 1.4 item 4 (configs Wazuh mishandles: load as Wazuh does, warn with the consequence),
Part E F1/F4 (repeated_offenders and timeout values), misspelt options and other checks."""

from __future__ import annotations

import pytest
from test_config_support import ar, codes, conf, line_of, load, load_text, only

from arconsole.config.diagnostics import Severity
from arconsole.config.model import Flavour, Role

WARNING = Severity.WARNING


def fd(*extra: str) -> str:
    """A firewall-drop block on `local` with extra options."""
    return ar("<command>firewall-drop</command>", "<location>local</location>", *extra)


# ---------------------------------------------------------------- spec 1.4 item 4, one by one

def test_pitfall_disabled_block_after_enabled_ones() -> None:
    config = load(fd("<level>5</level>"),
                  ar("<disabled>yes</disabled>", "<command>host-deny</command>",
                     "<location>server</location>", "<level>5</level>"))
    warning = only(config, "AR-DISABLED-AFTER")
    assert warning.severity is WARNING and "would then never dispatch" in warning.message
    assert "arconsole still runs them" in warning.message


def test_pitfall_disabled_block_followed_by_an_enabled_block_of_the_same_queues() -> None:
    # The later `local` block sets both queue flags again: nothing before it is lost.
    config = load(fd("<level>5</level>"),
                  ar("<disabled>yes</disabled>", "<command>host-deny</command>",
                     "<location>local</location>", "<level>5</level>"),
                  fd("<level>9</level>"))
    assert "AR-DISABLED-AFTER" not in codes(config)


@pytest.mark.parametrize(("flavour", "words"), [
    (Flavour.WAZUH, "the opposite of what it says"),
    (Flavour.OSSEC, "every address except 10.1.1.1"),
])
def test_pitfall_bang_in_a_white_list_ip(flavour: Flavour, words: str) -> None:
    config = load("<global><white_list>!10.1.1.1</white_list></global>", flavour=flavour)
    warning = only(config, "AR-WL-NEGATED")
    assert warning.severity is WARNING and words in warning.message


def test_pitfall_repeated_offenders_shorter_than_the_block() -> None:
    config = load(ar("<repeated_offenders>1,5,10</repeated_offenders>"),
                  fd("<level>5</level>", "<timeout>600</timeout>"))
    warning = only(config, "AR-RO-SHORT")
    assert warning.severity is WARNING
    assert "blocked for less time than a first one" in warning.message
    assert "at least 10 minutes" in (warning.hint or "")


def test_repeated_offenders_as_long_as_the_block_is_fine() -> None:
    config = load(ar("<repeated_offenders>10,20</repeated_offenders>"),
                  fd("<level>5</level>", "<timeout>600</timeout>"))
    assert config.diagnostics == ()


@pytest.mark.parametrize(("location", "reads"), [("localhost", "local"), ("anywhere", "all"),
                                                 ("database", "server")])
def test_pitfall_substring_location_words(location: str, reads: str) -> None:
    config = load(ar("<command>firewall-drop</command>", f"<location>{location}</location>",
                     "<level>5</level>"))
    warning = only(config, "AR-LOCATION-WORD")
    assert warning.severity is WARNING and "substring" in warning.message
    assert f"reads as {reads}" in warning.message
    assert config.responses[0].kept


@pytest.mark.parametrize(("rules_id", "read", "ignored"), [
    ("5710;5712", "5710", "';5712'"),
    ("5710-5712", "5710", "'-5712'"),
    ("x,5710", "no rule id at all", "'x,5710'"),
])
def test_pitfall_rules_id_text_after_a_stray_character(rules_id: str, read: str,
                                                       ignored: str) -> None:
    config = load(fd(f"<rules_id>{rules_id}</rules_id>"))
    warning = only(config, "AR-RULES-ID")
    assert warning.severity is WARNING
    assert f"is read as {read}: Wazuh ignores {ignored}" in warning.message


def test_rules_id_on_several_lines_stops_at_the_line_break() -> None:
    config = load(fd("<rules_id>5710,\n      5712</rules_id>"))
    assert config.responses[0].rules_ids == (5710,)
    assert "one line" in (only(config, "AR-RULES-ID").hint or "")


def test_rules_id_with_spaces_and_double_commas_is_fine() -> None:
    config = load(fd("<rules_id>5710, 5712,,5716</rules_id>"))
    assert config.diagnostics == ()
    assert config.responses[0].rules_ids == (5710, 5712, 5716)


def test_pitfall_a_block_that_binds_nothing() -> None:
    config = load(fd("<timeout>600</timeout>"))
    warning = only(config, "AR-BINDS-NOTHING")
    assert warning.severity is WARNING and "never fires" in warning.message


def test_pitfall_invalid_rules_group_regex() -> None:
    config = load(fd("<rules_group>a(b</rules_group>"))
    warning = only(config, "AR-GROUP-REGEX")
    assert warning.severity is WARNING and "never matches" in warning.message
    assert "AR-BINDS-NOTHING" in codes(config)  # the group was its only filter


@pytest.mark.parametrize("level", ["0", "17", "20"])
def test_pitfall_level_outside_1_to_16(level: str) -> None:
    config = load(fd(f"<level>{level}</level>", "<rules_id>5710</rules_id>"))
    assert config.ok
    assert only(config, "AR-LEVEL").severity is WARNING


def test_pitfall_expect_in_wazuh_flavour() -> None:
    config = load("<command><name>x</name><executable>x</executable><expect>srcip</expect>"
                  "</command>", stock=False)
    warning = only(config, "AR-EXPECT")
    assert "responses fire even when the alert lacks the field" in warning.message


def test_pitfall_not_well_formed_xml_that_loads_with_recovery() -> None:
    text = conf("  <!-- every 2 hours -- default -->", fd("<level>5</level>"))
    config = load_text(text)
    warning = only(config, "AR-XML")
    assert (warning.severity, warning.line, warning.column) == (WARNING, *line_of(text, "-- d"))
    assert config.ok and config.active_responses


# ---------------------------------------------------------------- Part E F1 and F4

@pytest.mark.parametrize("value", ["0", "-30", "abc"])
def test_f4_zero_negative_or_text_timeout_is_an_error_with_its_line(value: str) -> None:
    text = conf(fd("<level>5</level>", f"<timeout>{value}</timeout>"))
    error = only(load_text(text), "AR-TIMEOUT")
    assert error.severity is Severity.ERROR
    assert (error.line, error.column) == line_of(text, "<timeout>")


@pytest.mark.parametrize("value", ["0,5", "5,-1", "5,0", "1.5"])
def test_f4_zero_negative_or_fractional_repeated_offenders_is_an_error(value: str) -> None:
    text = conf(ar(f"<repeated_offenders>{value}</repeated_offenders>"))
    error = only(load_text(text), "AR-RO-VALUE")
    assert error.severity is Severity.ERROR
    assert (error.line, error.column) == line_of(text, "<repeated_offenders>")


def test_f1_five_values_are_allowed_six_are_not() -> None:
    assert load(ar("<repeated_offenders>1,2,3,4,5</repeated_offenders>")).ok
    assert not load(ar("<repeated_offenders>1,2,3,4,5,6</repeated_offenders>")).ok


def test_repeated_offenders_going_down_is_a_warning() -> None:
    config = load(ar("<repeated_offenders>30,10</repeated_offenders>"))
    assert only(config, "AR-RO-ORDER").severity is WARNING


def test_repeated_offenders_in_a_block_that_runs_on_agents() -> None:
    config = load(ar("<command>host-deny</command>", "<location>defined-agent</location>",
                     "<agent_id>032</agent_id>", "<level>10</level>",
                     "<repeated_offenders>1,5,10</repeated_offenders>"))
    warning = only(config, "AR-RO-PLACE")
    assert "does not escalate this block" in warning.message
    assert config.ok


# ---------------------------------------------------------------- misspelt names

@pytest.mark.parametrize(("typo", "meant"), [
    ("agent-id", "agent_id"), ("rule_id", "rules_id"),
    ("repeat_offenders", "repeated_offenders"), ("Location", "location"),
    ("rules-group", "rules_group"),
])
def test_unknown_elements_get_a_did_you_mean_hint(typo: str, meant: str) -> None:
    config = load(fd("<level>5</level>", f"<{typo}>1</{typo}>"))
    error = only(config, "1230")
    assert error.hint == f"did you mean <{meant}>?"


def test_misspelt_command_name_in_a_block_gets_a_hint() -> None:
    config = load(ar("<command>firewall-dorp</command>", "<location>local</location>",
                     "<level>5</level>"))
    assert only(config, "1303").hint == "did you mean 'firewall-drop'?"


def test_misspelt_section_name_is_error_1230() -> None:
    config = load("<active_response><command>firewall-drop</command></active_response>")
    assert only(config, "1230").hint == "did you mean <active-response>?"


def test_value_with_spaces_is_read_raw_as_wazuh_does() -> None:
    config = load(fd("<level> 5</level>"))
    error = only(config, "1235")
    assert "spaces" in (error.hint or "")


# ---------------------------------------------------------------- other checks

def test_ca_verification_is_for_agents_only() -> None:
    block = ar("<disabled>no</disabled>", "<ca_store>etc/wpk_root.pem</ca_store>",
               "<ca_verification>yes</ca_verification>")
    assert "1230" in codes(load(block))
    assert load(block, role=Role.AGENT, stock=False).diagnostics == ()


def test_agent_side_block_with_a_command_is_ignored_on_an_agent() -> None:
    config = load(fd("<level>5</level>"), role=Role.AGENT)
    assert only(config, "AR-AGENT-IGNORED").severity is WARNING
    assert config.active_responses == ()


@pytest.mark.parametrize("executable", ["../../bin/ls", "/bin/ls", "x/y", "a..b", ""])
def test_executable_with_a_path_is_an_error(executable: str) -> None:
    config = load(f"<command><name>x</name><executable>{executable}</executable></command>",
                  stock=False)
    assert only(config, "AR-EXEC-PATH").severity is Severity.ERROR


def test_agent_id_outside_defined_agent_is_ignored_with_a_warning() -> None:
    config = load(fd("<level>5</level>", "<agent_id>001</agent_id>"))
    assert only(config, "AR-AGENT-ID").severity is WARNING


def test_agent_id_list_uses_the_first_agent_only() -> None:
    config = load(ar("<command>host-deny</command>", "<location>defined-agent</location>",
                     "<agent_id>001,002</agent_id>", "<level>5</level>"))
    assert config.responses[0].agent_target == "001"
    assert "001 only" in only(config, "AR-AGENT-ID").message


def test_repeated_option_in_a_block_uses_the_last() -> None:
    text = conf(fd("<level>5</level>", "<level>9</level>"))
    config = load_text(text)
    assert config.responses[0].level == 9
    warning = only(config, "AR-DUP-OPTION")
    assert (warning.line, warning.column) == line_of(text, "<level>5")


def test_group_with_a_comma_inside_warns_it_needs_a_pipe() -> None:
    config = load(fd("<rules_group>authentication_failed,authentication_failures"
                     "</rules_group>"))
    assert "authentication_failed,|authentication_failures," in (
        only(config, "AR-GROUP-COMMA").hint or "")
    assert "AR-GROUP-COMMA" not in codes(load(fd("<rules_group>sshd,|pci_dss_11.4,"
                                                  "</rules_group>")))


def test_level_and_group_and_explained_as_infos() -> None:
    config = load(fd("<level>10</level>", "<rules_group>sshd,</rules_group>",
                     "<rules_id>5710</rules_id>"))
    assert codes(config) == ["AR-AND", "AR-OR"]
    assert codes(load(fd("<level>10</level>", "<rules_group>sshd,</rules_group>"),
                      flavour=Flavour.OSSEC, stock=False)) != ["AR-AND"]


def test_duplicate_command_names_use_the_first() -> None:
    text = conf("<command><name>firewall-drop</name><executable>other</executable></command>",
                fd("<level>5</level>"))
    config = load_text(text)
    assert config.responses[0].executable == "firewall-drop"
    assert only(config, "AR-DUP-COMMAND").severity is WARNING


@pytest.mark.parametrize(("entry", "code", "severity"), [
    ("10.0.0.0/33", "1237", Severity.ERROR),
    ("10.0.0.0/255.0.255.0", "1237", Severity.ERROR),
    ("010.0.0.1", "1237", Severity.ERROR),
    ("0.0.0.0/0", "AR-WL-ALL", WARNING),
    ("a|", "AR-WL-ALL", WARNING),
    (" 10.0.0.1", "AR-WL-SPACE", WARNING),
    ("!host", "AR-WL-NEGATED", WARNING),
    ("::1", "AR-WL-IPV6", WARNING),
    ("", "AR-WL-EMPTY", Severity.ERROR),
])
def test_white_list_entry_checks(entry: str, code: str, severity: Severity) -> None:
    config = load(f"<global><white_list>{entry}</white_list></global>")
    assert only(config, code).severity is severity


def test_netmask_form_gives_the_prefix() -> None:
    config = load("<global><white_list>192.168.1.0/255.255.255.128</white_list></global>")
    assert str(config.white_list[0].network) == "192.168.1.0/25"


def test_allow_list_is_read_in_ossec_flavour_only() -> None:
    block = "<global><allow_list>10.0.0.1</allow_list></global>"
    assert load(block, flavour=Flavour.OSSEC).white_list[0].text == "10.0.0.1"
    wazuh = load(block)
    assert wazuh.white_list == () and "AR-WL-ALLOW-LIST" in codes(wazuh)


def test_ossec_flavour_expect_words() -> None:
    config = load("<command><name>u</name><executable>u.sh</executable>"
                  "<expect>username</expect></command>"
                  "<command><name>s</name><executable>s.sh</executable>"
                  "<expect>scrip</expect></command>", stock=False, flavour=Flavour.OSSEC)
    user, typo = config.commands
    assert user.expect == ("user",) and typo.expect == ()
    assert only(config, "AR-EXPECT-VALUE").hint == "did you mean srcip?"


def test_ossec_flavour_refuses_extra_args_and_ca_store() -> None:
    config = load("<command><name>x</name><executable>x.sh</executable><expect/>"
                  "<extra_args>-v</extra_args></command>",
                  ar("<command>x</command>", "<location>local</location>", "<level>5</level>",
                     "<ca_store>x</ca_store>"), stock=False, flavour=Flavour.OSSEC)
    assert codes(config, Severity.ERROR) == ["1230", "1230"]


def test_empty_blocks_are_ignored_with_a_warning() -> None:
    config = load("<active-response/>", "<command></command>")
    assert codes(config) == ["AR-EMPTY-BLOCK", "AR-EMPTY-BLOCK"]
    assert config.responses[0].kept is False and config.ok
