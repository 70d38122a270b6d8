"""The config tree's outline: responses and commands first, diagnostics on their nodes, and
what changed between two loads, by semantic path."""

from __future__ import annotations

from arconsole.config.loader import load_config_text
from arconsole.console.config_outline import build_outline, changed_paths, removed_items

CONF = """<ossec_config>
  <global>
    <white_list>127.0.0.1</white_list>
  </global>
  <command>
    <name>firewall-drop</name>
    <executable>firewall-drop</executable>
    <timeout_allowed>yes</timeout_allowed>
  </command>
  <active-response>
    <command>firewall-drop</command>
    <location>local</location>
    <level>{level}</level>
    <timeout>{timeout}</timeout>
  </active-response>
</ossec_config>
"""


def outline(level: int = 10, timeout: int = 600):  # type: ignore[no-untyped-def]
    config = load_config_text(CONF.format(level=level, timeout=timeout), "/etc/ossec.conf")
    return config, build_outline(config, generation=1)


def test_responses_and_commands_come_first_with_their_fields() -> None:
    _, root = outline()
    assert [child.path for child in root.children] == [
        "responses", "commands", "white_list", "diagnostics", "tree"]
    response = root.children[0].children[0]
    assert response.path == "responses/1" and response.title == "firewall-drop600"
    assert "local" in response.detail and "level>=10" in response.detail
    assert response.line == 10
    fields = {child.title: child.detail for child in response.children}
    assert fields["timeout"] == "600" and fields["location"] == "local"
    command = root.children[1].children[0]
    assert command.title == "firewall-drop" and command.line == 5
    tree = root.children[4]
    assert tree.children[0].path == "tree/ossec_config[0]"


def test_diagnostics_sit_on_their_nodes_with_line_numbers() -> None:
    config, root = outline(level=20)  # <level> outside 1..16: check warns
    warnings = [d for d in config.diagnostics if d.line == 13]
    assert warnings, config.diagnostics
    response = root.children[0].children[0]
    assert any(d.line == 13 for d in response.diagnostics)
    level_node = next(item for item in root.walk() if item.path.endswith("/level[0]"))
    assert level_node.line == 13 and level_node.diagnostics
    listed = root.children[3].children
    assert any(item.title.startswith("13:") for item in listed)


def test_changes_between_two_loads_are_found_by_path() -> None:
    _, before = outline(timeout=600)
    _, after = outline(timeout=900)
    changed = changed_paths(before, after)
    assert "responses/1" in changed and "responses/1/timeout" in changed
    assert "tree/ossec_config[0]/active-response[0]/timeout[0]" in changed
    assert "commands/firewall-drop#0" not in changed
    assert changed_paths(None, after) == set()  # a first load marks nothing
    assert removed_items(before, after) == []
    config = load_config_text(CONF.replace("<white_list>127.0.0.1</white_list>", "").format(
        level=10, timeout=600), "/etc/ossec.conf")
    gone = removed_items(before, build_outline(config))
    assert [item.path for item in gone] == ["white_list/0",
                                            "tree/ossec_config[0]/global[0]/white_list[0]"]
