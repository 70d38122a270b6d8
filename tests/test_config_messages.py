"""Messages that say what happened: the flavour's own name, a cut-short file said to be cut
short (not libxml2's raw words), and every error of a block at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_config_support import REPO, ar, conf, line_of, load, load_text

from arconsole.config.diagnostics import Severity
from arconsole.config.model import Flavour

SAMPLE = REPO / "sample-conf" / "etc" / "ossec.conf"


def check(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "arconsole", "check", *map(str, args)],
                          capture_output=True, text=True, timeout=60, cwd=REPO)


# ---------------------------------------------------------------- the flavour's name

SHARED_PITFALLS = (
    "<!-- a comment -- with a double hyphen -->\n"
    + ar("<command>firewall-drop</command>", "<location>local</location>",
         "<level>5</level>", "<timeout> 600</timeout>")
)


def test_ossec_hints_say_ossec(tmp_path: Path) -> None:
    path = tmp_path / "ossec.conf"
    path.write_text(conf(SHARED_PITFALLS, flavour=Flavour.OSSEC))
    ossec = check("--flavour", "ossec", path).stdout
    assert "OSSEC reads the file" in ossec and "OSSEC's parser accepts it" in ossec
    assert "Wazuh" not in ossec, ossec
    wazuh = check(path).stdout
    assert "Wazuh reads the file" in wazuh and "OSSEC reads" not in wazuh


def test_messages_contrasting_the_two_keep_both_names() -> None:
    config = load("<command><name>x</name><executable>x</executable><expect/>"
                  "<extra_args>-v</extra_args></command>", flavour=Flavour.OSSEC)
    hints = [d.hint for d in config.diagnostics if d.code == "1230"]
    assert hints == ["<extra_args> is a Wazuh option; OSSEC does not know it"]


# ---------------------------------------------------------------- a cut-short file

OURS = ("the file ends before <", "the file ends inside ")


@pytest.mark.parametrize("cut", range(200, 1400, 7))
def test_a_file_cut_anywhere_is_said_to_be_cut_short(cut: int) -> None:
    text = SAMPLE.read_text()[:cut]
    for diagnostic in [d for d in load_text(text).diagnostics if d.code == "AR-XML"]:
        assert diagnostic.message.startswith(OURS), diagnostic
        assert "\\<" not in (diagnostic.hint or ""), diagnostic


def test_a_file_cut_inside_a_tag_names_the_tag_and_every_open_element() -> None:
    text = ("<ossec_config>\n  <global>\n    <white_list>10.0.0.1</white_list>\n"
            "    <white_list>10.0.0.2</whi")
    xml = [(d.line, d.column, d.message, d.hint) for d in load_text(text).diagnostics
           if d.code == "AR-XML"]
    assert xml == [
        (1, 1, "the file ends before <ossec_config> opened at line 1 is closed",
         "add </ossec_config>, or restore the end of the file if it was cut short"),
        (2, 3, "the file ends before <global> opened at line 2 is closed",
         "add </global>, or restore the end of the file if it was cut short"),
        (4, 5, "the file ends before <white_list> opened at line 4 is closed",
         "add </white_list>, or restore the end of the file if it was cut short"),
        (4, 25, "the file ends inside the end tag '</whi' started here: it looks cut short",
         "restore the end of the file (from a backup, or the package's ossec.conf)"),
    ]
    started = "<ossec_config>\n  <global>\n    <white_l"
    [cut] = [d for d in load_text(started).diagnostics if "ends inside" in d.message]
    assert (cut.line, cut.column) == (3, 5) and "'<white_l'" in cut.message
    comment = "<ossec_config>\n  <!-- unfinished <global> -"
    [cut] = [d for d in load_text(comment).diagnostics if "ends inside" in d.message]
    assert cut.message.startswith("the file ends inside a comment started here")
    assert not any("--" in d.message for d in load_text(comment).diagnostics)


def test_a_complete_file_says_nothing_of_the_sort() -> None:
    assert not [d for d in load_text(SAMPLE.read_text()).diagnostics if d.code == "AR-XML"]


# ---------------------------------------------------------------- every error of a block

def test_a_bad_location_does_not_hide_the_other_errors_of_its_block() -> None:
    text = conf(ar("<command>fire-drop</command>", "<location>nowhere</location>",
                   "<level>5</level>"))
    config = load_text(text)
    errors = {d.code: (d.line, d.column) for d in config.errors}
    assert errors == {"1302": line_of(text, "<location>nowhere"),
                      "1303": line_of(text, "<command>fire-drop")}
    assert not config.responses[-1].kept


def test_ossec_reports_a_bad_location_and_a_refused_timeout_together() -> None:
    text = conf("  <command>\n    <name>once</name>\n    <executable>once.sh</executable>\n"
                "    <expect/>\n  </command>",
                ar("<command>once</command>", "<location>nowhere</location>",
                   "<level>5</level>", "<timeout>60</timeout>"), flavour=Flavour.OSSEC)
    config = load_text(text, flavour=Flavour.OSSEC)
    assert sorted(d.code for d in config.errors) == ["1302", "1305"]
    assert all(d.severity is Severity.ERROR for d in config.errors)
