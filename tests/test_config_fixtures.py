"""Real files: the Wazuh and OSSEC reference configs, the seed documents' examples, and the
sample home's ossec.conf."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_config_support import REAL, REPO, SEEDS_DATA, codes

from arconsole.config.diagnostics import Severity
from arconsole.config.loader import load_config, load_config_text
from arconsole.config.model import Config, ConfigNode, Flavour, LocationFlag, Role

WAZUH_FILES = ["ossec-wazuh-4.14-default.conf", "ossec-wazuh-4.14-server.conf",
               "ossec-wazuh-4.14-local.conf", "ossec-wazuh-4.14-agent.conf"]
OSSEC_FILES = {"ossec-hids-3.7.0.conf": 40, "ossec-hids-head.conf": 42}


def real(name: str) -> Path:
    path = REAL / name
    if not path.exists():
        pytest.skip(f"{path} absent")
    return path


# ---------------------------------------------------------------- ../shared/fixtures/real

@pytest.mark.parametrize("name", WAZUH_FILES)
def test_wazuh_reference_configs_give_no_error(name: str) -> None:
    config = load_config(real(name))
    assert config.ok, config.errors
    assert not codes(config, Severity.WARNING)
    assert config.tree and config.tree[0].tag == "ossec_config"


def test_wazuh_manager_config_is_read_completely() -> None:
    config = load_config(real("ossec-wazuh-4.14-default.conf"))
    assert config.role is Role.MANAGER and config.responses == ()
    assert [c.name for c in config.commands] == ["disable-account", "restart-wazuh",
                                                 "firewall-drop", "host-deny", "route-null",
                                                 "win_route-null"]
    assert not config.command("restart-wazuh").timeout_allowed  # type: ignore[union-attr]
    assert [e.text for e in config.white_list] == ["127.0.0.1", "^localhost.localdomain$",
                                                   "10.0.0.2"]
    # <localfile><command>df -P</command> is not an active-response command.
    assert all(c.line < 190 for c in config.commands)


def test_wazuh_agent_config_is_an_agent_with_the_switch_block() -> None:
    config = load_config(real("ossec-wazuh-4.14-agent.conf"))
    assert config.role is Role.AGENT and config.diagnostics == ()
    (switch,) = config.responses
    assert not switch.kept and not switch.disabled and not config.execd_disabled


@pytest.mark.parametrize("flavour", [Flavour.WAZUH, Flavour.OSSEC])
@pytest.mark.parametrize("name", sorted(OSSEC_FILES))
def test_ossec_configs_load_with_the_comment_diagnostic(name: str, flavour: Flavour) -> None:
    config = load_config(real(name), flavour=flavour)
    assert config.ok
    comment = [d for d in config.diagnostics if d.code == "AR-XML"]
    assert [(d.severity, d.line) for d in comment] == [(Severity.WARNING, OSSEC_FILES[name])]
    assert [r.name for r in config.active_responses] == ["host-deny600", "firewall-drop600"]
    for response in config.active_responses:
        assert response.level == 6 and response.location_flags == LocationFlag.REMOTE_AGENT
    if flavour is Flavour.OSSEC:
        assert codes(config) == ["AR-XML"]
        assert config.command("firewall-drop").expect == ("srcip",)  # type: ignore[union-attr]


# ---------------------------------------------------------------- ../shared/seeds examples

STOCK = (SEEDS_DATA / "stock-commands.xml").read_text()


def seed(name: str, *, stock: bool, flavour: Flavour = Flavour.WAZUH,
         role: Role | None = None) -> Config:
    snippet = (SEEDS_DATA / name).read_text()
    body = snippet if "<ossec_config>" in snippet else f"<ossec_config>\n{snippet}</ossec_config>\n"
    return load_config_text((STOCK if stock else "") + body, name, flavour=flavour, role=role)


# Each example, how it is judged (with the stock commands when it uses them undefined; OSSEC
# documentation with --flavour ossec; 003's agent side as an agent), and every code expected.
SEED_CASES = [
    ("000-section-name.xml", True, Flavour.WAZUH, None, ["AR-EMPTY-BLOCK"]),
    # <agent-id> for agent_id; repeated_offenders in a manager block for an agent; level AND
    # group (info).
    ("000-active-response.xml", True, Flavour.WAZUH, None, ["1230", "AR-AND", "AR-RO-PLACE"]),
    ("001-command.xml", False, Flavour.WAZUH, None, []),
    ("001-active-response.xml", True, Flavour.WAZUH, None, []),
    ("001-defined-agent.xml", True, Flavour.WAZUH, None, []),
    ("002-restart-ossec.xml", False, Flavour.OSSEC, None, []),
    ("002-restart-ossec.xml", False, Flavour.WAZUH, None, ["AR-EXPECT"]),
    ("002-win-route-null.xml", False, Flavour.OSSEC, None, []),
    # "either group" written with a comma: matches only both groups adjacent.
    ("002-pf-block.xml", False, Flavour.OSSEC, None, ["AR-GROUP-COMMA"]),
    # <name> closed by </command>; firewall-block undefined; the group comma; RO for agents.
    ("002-firewall-drop.xml", False, Flavour.OSSEC, None,
     ["1303", "AR-GROUP-COMMA", "AR-RO-PLACE", "AR-XML"]),
    ("002-host-deny.xml", False, Flavour.OSSEC, None, []),
    ("002-mail-test.xml", False, Flavour.OSSEC, None, []),
    # The page calls level+group "accumulative"; Wazuh 4.x ANDs them (info).
    ("003-manager-side.xml", True, Flavour.WAZUH, None, ["AR-AND"]),
    ("003-agent-side.xml", False, Flavour.WAZUH, Role.AGENT, []),
]


@pytest.mark.parametrize(("name", "stock", "flavour", "role", "expected"), SEED_CASES,
                         ids=[f"{c[0]}-{c[2].value}" for c in SEED_CASES])
def test_seed_example_gives_exactly_the_expected_diagnostics(
    name: str, stock: bool, flavour: Flavour, role: Role | None, expected: list[str]
) -> None:
    config = seed(name, stock=stock, flavour=flavour, role=role)
    assert sorted(codes(config)) == expected, config.diagnostics


def test_seed_examples_all_have_a_case() -> None:
    examples = {p.name for p in SEEDS_DATA.glob("0*.xml")}
    assert examples == {case[0] for case in SEED_CASES}


def test_seed_000_hint_and_seed_002_positions() -> None:
    config = seed("000-active-response.xml", stock=True)
    assert [d.hint for d in config.diagnostics if d.code == "1230"] == [
        "did you mean <agent_id>?"]
    broken = seed("002-firewall-drop.xml", stock=False, flavour=Flavour.OSSEC)
    xml = next(d for d in broken.diagnostics if d.code == "AR-XML")
    assert (xml.line, xml.column) == (3, 22)  # the </command> that closes <name>
    assert broken.command("firewall-drop") is not None  # the command is still read


# ---------------------------------------------------------------- sample-conf/etc/ossec.conf

SAMPLE = REPO / "sample-conf" / "etc" / "ossec.conf"
AR_OPTIONS = {"command", "location", "agent_id", "level", "rules_id", "rules_group", "timeout",
              "disabled", "repeated_offenders", "ca_store"}
COMMANDS = {"firewall-drop", "host-deny", "route-null", "disable-account", "restart-wazuh"}


def sections(config: Config, tag: str) -> list[ConfigNode]:
    return [s for root in config.tree for s in root.children if s.tag == tag]


def test_sample_config_checks_clean(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    copy = tmp_path / "etc" / "ossec.conf"
    shutil.copy(SAMPLE, copy)  # outside its home: executables are not looked for
    config = load_config(copy)
    assert config.ok and not codes(config, Severity.WARNING), config.diagnostics


def test_sample_config_uses_every_option() -> None:
    config = load_config(SAMPLE)
    used = {child.tag for block in sections(config, "active-response") for child in block.children}
    assert used == AR_OPTIONS
    command_options = {c.tag for block in sections(config, "command") for c in block.children}
    assert command_options == {"name", "executable", "timeout_allowed", "extra_args"}
    names = {c.name for c in config.commands}
    assert names > COMMANDS and len(names) == len(COMMANDS) + 1  # and a custom one
    assert not config.command("restart-wazuh").timeout_allowed  # type: ignore[union-attr]
    flags = {r.location_flags for r in config.responses if r.location}
    assert {LocationFlag.REMOTE_AGENT, LocationFlag.AS_ONLY, LocationFlag.SPECIFIC_AGENT,
            LocationFlag.ALL_AGENTS} <= flags
    assert any(r.disabled for r in config.responses)
    kinds = {(e.network is not None, "/" in e.text, "." in e.text.partition("/")[2])
             for e in config.white_list}
    assert {(True, False, False), (True, True, False), (True, True, True),
            (False, False, False)} <= kinds  # IP, CIDR, netmask, host name pattern
    assert config.node_name == "manager-01"
    assert config.repeated_offenders and not config.execd_disabled


def test_sample_home_has_every_executable() -> None:
    config = load_config(SAMPLE)  # in its home: active-response/bin is looked at
    bin_dir = SAMPLE.parent.parent / "active-response" / "bin"
    missing = [c.executable for c in config.commands if not (bin_dir / c.executable).exists()]
    if missing:
        pytest.skip(f"demo scripts not written yet: {missing}")
    assert config.ok and not codes(config, Severity.WARNING), config.diagnostics


def test_a_documentation_fragment_is_checked_as_if_wrapped() -> None:
    """`arconsole check` on a pasted example: the missing root is an error, and the content
    still gets the diagnostics a reviewer expects (seed 000: the agent-id typo, RO placement)."""
    config = load_config_text((SEEDS_DATA / "000-active-response.xml").read_text(), "x.xml")
    assert sorted(codes(config)) == ["1230", "1303", "AR-AND", "AR-NO-ROOT", "AR-RO-PLACE"]
    typo = next(d for d in config.diagnostics if d.code == "1230")
    assert typo.hint == "did you mean <agent_id>?"
    not_a_section = load_config_text("<foo><bar/></foo>", "y.xml")
    assert "AR-NO-ROOT" not in codes(not_a_section)
