"""Loading: XML recovery, exact positions, several roots, encodings, the tree, the role, the
home's executables, and that no input makes the loader fail."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_config_support import ar, codes, conf, line_of, load, load_text, only

from arconsole.config.diagnostics import Severity
from arconsole.config.loader import ConfigReadError, load_config, load_config_text
from arconsole.config.model import ConfigNode, Flavour, Role

FD = ar("<command>firewall-drop</command>", "<location>local</location>", "<level>5</level>")


def walk(nodes: tuple[ConfigNode, ...]) -> list[ConfigNode]:
    found: list[ConfigNode] = []
    for node in nodes:
        found.append(node)
        found.extend(walk(node.children))
    return found


# ---------------------------------------------------------------- positions

def test_every_element_gets_the_line_and_column_of_its_start_tag() -> None:
    text = conf(FD, FD)
    config = load_text(text)
    lines = text.split("\n")
    for node in walk(config.tree):
        assert lines[node.line - 1][node.column - 1:].startswith(f"<{node.tag}")
    first, second = config.responses
    assert (first.line, first.column) == line_of(text, "<active-response>", 1)
    assert (second.line, second.column) == line_of(text, "<active-response>", 2)


def test_several_same_tags_on_one_line_get_their_own_columns() -> None:
    text = ("<ossec_config><command><name>a</name><executable>a</executable></command>"
            "<command><name>b</name><executable>b</executable></command></ossec_config>")
    a, b = load_text(text).commands
    assert (a.line, a.column) == (1, text.index("<command>") + 1)
    assert (b.line, b.column) == (1, text.index("<command>", 20) + 1)


def test_a_start_tag_over_several_lines_is_placed_where_it_starts() -> None:
    text = '<ossec_config>\n  <command\n     id="x"\n  ><name>a</name><executable>a</executable>' \
           "</command>\n</ossec_config>\n"
    command = load_text(text).commands[0]
    assert (command.line, command.column) == (2, 3)


def test_several_roots_keep_their_line_numbers() -> None:
    text = ("<!-- header -->\n<ossec_config>\n" + "  <global/>\n" * 3 + "</ossec_config>\n\n"
            + conf(FD))
    config = load_text(text)
    assert [root.tag for root in config.tree] == ["ossec_config", "ossec_config"]
    assert (config.tree[1].line, config.tree[1].column) == line_of(text, "<ossec_config>", 2)
    assert (config.responses[0].line, config.responses[0].column) == line_of(
        text, "<active-response>")


def test_an_xml_declaration_does_not_move_columns_on_line_one() -> None:
    text = '<?xml version="1.0" encoding="UTF-8"?><ossec_config><command><name>a</name>' \
           "</command></ossec_config>"
    config = load_text(text)
    assert config.tree[0].column == len('<?xml version="1.0" encoding="UTF-8"?>') + 1
    assert only(config, "1280").column == text.index("<command>") + 1


def test_xml_errors_on_line_one_point_at_the_right_column() -> None:
    text = "<ossec_config><command><name>a</command></ossec_config>"
    (error,) = [d for d in load_text(text).diagnostics if "<name>" in d.message]
    assert (error.line, error.column) == (1, text.index("</command>") + 1)
    assert error.hint == "close <name> with </name>"


def test_positions_stay_exact_past_65535_lines() -> None:
    text = conf("\n" * 70000 + FD)
    config = load_text(text)
    assert (config.responses[0].line, config.responses[0].column) == line_of(
        text, "<active-response>")
    assert config.diagnostics == ()


def test_carriage_returns_count_as_line_breaks() -> None:
    text = conf(FD).replace("\n", "\r\n")
    config = load_text(text)
    assert config.responses[0].line == line_of(text.replace("\r\n", "\n"), "<active-resp")[0]
    old_mac = conf(FD).replace("\n", "\r")
    assert load_text(old_mac).responses[0].line == config.responses[0].line


# ---------------------------------------------------------------- recovery

def test_seed_002_firewall_drop_recovers_the_command() -> None:
    text = ("<ossec_config>\n<command>\n  <name>firewall-drop</command>\n"
            "  <executable>firewall-drop.sh</executable>\n</command>\n</ossec_config>\n")
    config = load_text(text)
    assert [(c.name, c.executable) for c in config.commands] == [("firewall-drop",
                                                                 "firewall-drop.sh")]
    error = only(config, "AR-XML")
    assert error.severity is Severity.ERROR
    assert (error.line, error.column) == line_of(text, "</command>")


def test_a_stray_end_tag_at_the_top_does_not_lose_what_follows() -> None:
    text = "</ossec_config>\n" + conf(FD)
    config = load_text(text)
    assert only(config, "AR-XML").line == 1
    assert len(config.active_responses) == 1


def test_an_unclosed_element_is_reported_where_it_opens() -> None:
    text = "<ossec_config>\n  <global>\n    <white_list>10.0.0.1</white_list>\n"
    config = load_text(text)
    messages = {(d.line, d.message) for d in config.diagnostics if d.code == "AR-XML"}
    assert (1, "the file ends before <ossec_config> opened at line 1 is closed") in messages
    assert (2, "the file ends before <global> opened at line 2 is closed") in messages
    assert str(config.white_list[0].network) == "10.0.0.1/32"


def test_text_outside_elements_and_unknown_roots() -> None:
    config = load_text("hello\n<agent_config/>\n")
    assert codes(config, Severity.ERROR) == ["AR-XML", "1230"]


def test_an_empty_file_has_nothing_to_do() -> None:
    assert codes(load_text("")) == ["AR-EMPTY"]


def test_entities_are_kept_as_written_like_os_xml() -> None:
    config = load(ar("<command>firewall-drop</command>", "<location>local</location>",
                     "<rules_group>a&amp;b|c&d</rules_group>"))
    assert config.responses[0].rules_group == "a&amp;b|c&d"


def test_an_escaped_less_than_is_a_character_like_os_xml() -> None:
    config = load(ar("<command>firewall-drop</command>", "<location>local</location>",
                     "<rules_group>a\\<b</rules_group>"))
    assert config.responses[0].rules_group == "a\\<b"
    assert "AR-XML" not in codes(config)


def test_a_doctype_is_ignored_and_never_expanded() -> None:
    text = ('<!DOCTYPE x [<!ENTITY big "aaaaaaaaaa">]>\n<ossec_config><global>'
            "<white_list>&big;</white_list></global></ossec_config>")
    config = load_text(text)
    assert config.white_list[0].pattern == "&big;"
    assert only(config, "AR-XML").severity is Severity.WARNING


def test_control_characters_are_reported_and_replaced() -> None:
    config = load_text("<ossec_config>\x00</ossec_config>")
    error = only(config, "AR-XML")
    assert (error.line, error.column) == (1, 15) and "U+0000" in error.message


def test_bytes_in_latin1_load_with_a_warning() -> None:
    data = conf(FD).replace("<ossec_config>", "<ossec_config><!-- caf\xe9 -->").encode("latin-1")
    config = load_text(data)
    assert only(config, "AR-ENCODING").line == 1
    assert config.active_responses


def test_utf8_bom_and_utf16_are_decoded() -> None:
    text = conf(FD)
    for data in (b"\xef\xbb\xbf" + text.encode(), text.encode("utf-16")):
        config = load_text(data)
        assert config.ok and config.responses[0].line == line_of(text, "<active-response>")[0]


# ---------------------------------------------------------------- the tree

def test_the_tree_keeps_every_element_text_and_attribute() -> None:
    text = ('<ossec_config>\n  <syscheck>\n    <directories check_all="yes">/etc</directories>\n'
            "  </syscheck>\n</ossec_config>\n")
    (root,) = load_text(text).tree
    directories = root.children[0].children[0]
    assert (directories.tag, directories.text, directories.attributes) == (
        "directories", "/etc", (("check_all", "yes"),))
    assert (directories.line, directories.column) == (3, 5)
    assert root.children[0].text is None  # only white space between children


# ---------------------------------------------------------------- role and flavour

def test_a_client_section_makes_an_agent_config() -> None:
    text = conf("<client><server><address>10.0.0.1</address></server></client>",
                ar("<disabled>no</disabled>"), stock=False)
    config = load_text(text)
    assert config.role is Role.AGENT and config.ok and config.diagnostics == ()
    assert load_text(text, role=Role.MANAGER).role is Role.MANAGER
    assert "1281" in codes(load_text(text, role=Role.MANAGER))


def test_flavour_is_recorded() -> None:
    assert load(FD, flavour=Flavour.OSSEC).flavour is Flavour.OSSEC
    assert load(FD).flavour is Flavour.WAZUH


def test_node_name_and_responses_in_file_order() -> None:
    config = load("<cluster><name>w</name><node_name>node01</node_name></cluster>", FD,
                  ar("<command>host-deny</command>", "<location>server</location>",
                     "<level>7</level>", "<timeout>60</timeout>"))
    assert config.node_name == "node01"
    assert [(r.index, r.name) for r in config.responses] == [(1, "firewall-drop0"),
                                                            (2, "host-deny60")]
    assert config.responses[1].executable == "host-deny"


def test_diagnostics_are_sorted_and_carry_the_path() -> None:
    config = load_config_text(conf(ar("<level>x</level>"), FD, ar("<foo/>")), "some/path.conf")
    keys = [(d.line, d.column) for d in config.diagnostics]
    assert keys == sorted(keys) and len(keys) >= 3
    assert {d.path for d in config.diagnostics} == {"some/path.conf"}


# ---------------------------------------------------------------- files and the home

def test_an_unreadable_file_raises_config_read_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigReadError):
        load_config(tmp_path / "missing.conf")
    with pytest.raises(ConfigReadError):
        load_config(tmp_path)


def test_executables_are_looked_for_in_the_home(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    config_path = tmp_path / "etc" / "ossec.conf"
    config_path.write_text(conf(FD, ar("<command>host-deny</command>",
                                       "<location>local</location>", "<level>7</level>")))
    assert load_config(config_path).diagnostics == ()  # no active-response/bin: not checked
    bin_dir = tmp_path / "active-response" / "bin"
    bin_dir.mkdir(parents=True)
    config = load_config(config_path)
    assert codes(config) == ["AR-EXEC-MISSING", "AR-EXEC-MISSING"]  # route-null etc. unused
    for name in ("firewall-drop", "host-deny"):
        (bin_dir / name).write_text("#!/bin/sh\n")
    assert codes(load_config(config_path)) == ["AR-EXEC-MODE", "AR-EXEC-MODE"]
    for name in ("firewall-drop", "host-deny"):
        os.chmod(bin_dir / name, 0o750)
    assert load_config(config_path).diagnostics == ()


# ---------------------------------------------------------------- never fails

FRAGMENTS = ["<ossec_config>", "</ossec_config>", "<command>", "</command>", "<name>", "</name>",
             "<active-response>", "</active-response>", "<location>", "local", "<level>",
             "</level>", "<timeout>", "600", "<!--", "-->", "--", "&", "&amp;", "<", ">", "/>",
             "\n", " ", "<global>", "<white_list>", "999.1.1.1", "!10.0.0.0/8", "<?xml?>",
             "<![CDATA[", "]]>", "<!DOCTYPE x>", "\x00", "é", "\r", '"', "'", "=",
             "<repeated_offenders>", "1,2,3,4,5,6", "<rules_id>", "5710;x"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40))
def test_any_mix_of_config_fragments_loads(parts: list[str]) -> None:
    text = "".join(parts)
    config = load_config_text(text, "fuzz.conf")
    assert "AR-INTERNAL" not in codes(config), config.diagnostics
    line_count = text.replace("\r\n", "\n").replace("\r", "\n").count("\n") + 1
    for diagnostic in config.diagnostics:
        assert 1 <= diagnostic.line <= line_count and diagnostic.column >= 1


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_any_text_or_bytes_loads(data: str | bytes) -> None:
    config = load_config_text(data, "fuzz.conf")
    assert "AR-INTERNAL" not in codes(config), config.diagnostics


# ---------------------------------------------------------------- cost

def test_check_does_not_import_the_console_or_the_engine() -> None:
    """`arconsole check` stays fast: no Textual, no engine, no asyncio on its path."""
    sample = Path(__file__).resolve().parents[1] / "sample-conf" / "etc" / "ossec.conf"
    code = ("import sys, io, contextlib\nfrom arconsole.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    main(['check', {str(sample)!r}])\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'rich'}))\n"
            "print(sorted(m for m in sys.modules if m.startswith('arconsole.engine.engine')))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=60)
    assert result.stdout.split("\n")[:2] == ["[]", "[]"]


# The time of `check` (start-up and loading, against baselines) is measured by bench/config.py.
