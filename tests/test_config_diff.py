"""`diff_configs`: what a reload changed, for the logs and the console."""

from __future__ import annotations

from test_config_support import ar, load

from arconsole.config.diff import diff_configs

FD = ar("<command>firewall-drop</command>", "<location>local</location>",
        "<rules_id>5710</rules_id>", "<timeout>600</timeout>")
HD = ar("<command>host-deny</command>", "<location>local</location>", "<level>10</level>",
        "<timeout>1800</timeout>")
RN = ar("<command>route-null</command>", "<location>server</location>", "<level>12</level>")


def test_identical_configs_have_no_difference() -> None:
    diff = diff_configs(load(FD, HD), load(FD, HD))
    assert diff.empty and diff.lines() == []
    assert diff.summary() == "0 responses added, 0 removed, 0 changed"


def test_moved_blocks_are_the_same_responses() -> None:
    assert diff_configs(load(FD, HD), load(HD, FD)).empty


def test_added_and_removed() -> None:
    diff = diff_configs(load(FD), load(HD, RN))
    assert [r.name for r in diff.added] == ["host-deny1800", "route-null0"]
    assert [r.name for r in diff.removed] == ["firewall-drop600"]
    assert diff.summary() == "2 responses added, 1 removed, 0 changed"


def test_same_command_with_other_options_is_changed() -> None:
    longer = ar("<command>firewall-drop</command>", "<location>local</location>",
                "<rules_id>5710,5712</rules_id>", "<timeout>1200</timeout>")
    diff = diff_configs(load(FD, HD), load(longer, HD))
    (change,) = diff.changed
    assert change.fields == ("rules_id", "timeout")
    assert change.describe().startswith("firewall-drop1200 (line ")
    assert diff.summary() == "0 responses added, 0 removed, 1 changed"


def test_disabling_a_block_removes_its_response() -> None:
    disabled = HD.replace("<active-response>", "<active-response>\n    <disabled>no</disabled>")
    disabled_yes = RN.replace("<active-response>",
                              "<active-response>\n    <disabled>yes</disabled>")
    diff = diff_configs(load(disabled, RN), load(disabled, disabled_yes))
    assert [r.name for r in diff.removed] == ["route-null0"]
    assert diff.summary() == "0 responses added, 1 removed, 0 changed"


def test_a_new_command_executable_changes_the_responses_using_it() -> None:
    other = ("<command><name>firewall-drop</name><executable>firewall-drop-v2</executable>"
             "<timeout_allowed>yes</timeout_allowed></command>")
    old = load(FD)
    new = load(other, FD, stock=False)
    (change,) = diff_configs(old, new).changed
    assert change.fields == ("executable",)


def test_settings_changes_are_listed() -> None:
    old = load("<global><white_list>10.0.0.1</white_list></global>",
               ar("<repeated_offenders>10,20</repeated_offenders>"), FD)
    new = load("<global><white_list>10.0.0.2</white_list></global>",
               "<cluster><node_name>n2</node_name></cluster>",
               ar("<disabled>yes</disabled>", "<repeated_offenders>30</repeated_offenders>"),
               FD)
    diff = diff_configs(old, new)
    assert diff.settings == ("white list +10.0.0.2 -10.0.0.1", "repeated_offenders 10,20 -> 30",
                             "execd switched off", "node_name '' -> 'n2'")
    assert diff.summary() == ("0 responses added, 0 removed, 0 changed; white list +10.0.0.2 "
                              "-10.0.0.1; repeated_offenders 10,20 -> 30; execd switched off; "
                              "node_name '' -> 'n2'")
    assert diff.lines()[0] == "* white list +10.0.0.2 -10.0.0.1"
