"""OS_Regex as `rules_group` uses it (spec 5.4; os_regex_compile.c, os_regex_execute.c)."""

from __future__ import annotations

import pytest

from arconsole.osregex import compile_osregex

G5712 = "syslog,sshd,authentication_failures,pci_dss_11.4,pci_dss_10.2.4,gdpr_IV_35.7.d,"

# (pattern, subject, Wazuh's verdict, why)
TABLE = [
    ("sshd", "syslog,sshd,", True, "plain substring"),
    ("sshd", "web_sshd_custom,", True, "M12: substring inside another group"),
    ("sshd,", "sshd_custom,", False, "M13: the trailing comma guards the end"),
    ("sshd,", "web_sshd,", True, "the comma guards only the end, not the start"),
    ("SSHD,", "syslog,sshd,", True, "M14: case-insensitive"),
    ("sshd,", "SYSLOG,SSHD,", True, "the subject is case-folded too"),
    ("sshd,|pci_dss_11.4,", G5712.replace("sshd,", ""), True, "M15: second alternative"),
    ("sshd,|pci_dss_11.4,", "web,accesslog,", False, "no alternative matches"),
    ("^syslog,", "syslog,sshd,", True, "M16: anchored at the start"),
    ("^syslog,", "sshd,syslog,", False, "M16: ^ anchors the whole string"),
    ("attack,$", "web,attack,", True, "$ anchors at the end"),
    ("attack$", "web,attack,", False, "$ needs the very end"),
    ("^web,|^sshd,", "sshd,x,", True, "^ anchors each alternative"),
    ("web\\.attack", "web,attack,", True, "M17: \\. is any character"),
    ("web\\.attack", "webXattack,", True, "\\. matches a letter too"),
    ("web.attack", "web,attack,", False, "a plain . is a literal dot"),
    ("pci_dss_11.4,", "pci_dss_11.4,", True, "literal dots in compliance groups"),
    ("pci_dss_11.4,", "pci_dss_1134,", False, "the dot is not a wildcard"),
    ("\\d\\d\\d", "gpg13_4.11,", False, "\\d is one digit each"),
    ("gpg\\d+_", "gpg13_4.11,", True, "\\d+ repeats"),
    ("x\\d*y", "xy", True, "\\d* may match nothing"),
    ("a\\sb", "a b", True, "\\s is the space"),
    ("a\\sb", "a\tb", False, "\\s is not a tab"),
    ("a\\tb", "a\tb", True, "\\t is the tab"),
    ("\\w+@\\w+", "user@host", True, "\\w includes @"),
    ("a\\wb", "a-b", True, "\\w includes -"),
    ("a\\wb", "a.b", False, "\\w excludes ."),
    ("a\\Wb", "a.b", True, "\\W is the complement"),
    ("a\\pb", "a,b", True, "\\p includes the comma"),
    ("a\\pb", "a/b", False, "\\p excludes /"),
    ("a\\Db", "axb", True, "\\D is a non-digit"),
    ("a\\Sb", "a b", False, "\\S is a non-space"),
    ("a\\$b", "a$b", True, "\\$ is a literal dollar"),
    ("cost\\$", "cost$", True, "an escaped $ at the end is not an anchor"),
    ("a\\|b", "a|b", True, "\\| is a literal bar"),
    ("a\\|b", "a", False, "\\| does not split alternatives"),
    ("\\(x\\)", "(x)", True, "\\( and \\) are literal parentheses"),
    ("a\\<b", "a<b", True, "\\< is a literal <"),
    ("a\\\\b", "a\\b", True, "\\\\ is a literal backslash"),
    ("(ssh)d", "sshd", True, "parentheses group and match nothing"),
    ("sshd+", "sshd+", True, "+ after a literal is a literal"),
    ("sshd+", "sshdd", False, "+ after a literal does not repeat"),
    ("a^b", "a^b", True, "^ inside is a literal"),
    ("a$b", "a$b", True, "$ inside is a literal"),
    ("", "anything", False, "an empty pattern never matches"),
    ("sshd|", "web", False, "an empty alternative never matches"),
    ("^", "anything", False, "a lone ^ is an empty pattern"),
    ("$", "anything", False, "a lone $ is an empty pattern"),
]


@pytest.mark.parametrize(("pattern", "subject", "expected", "why"), TABLE,
                         ids=[f"{row[0]!r}~{row[1]!r}" for row in TABLE])
def test_matches_like_os_regex(pattern: str, subject: str, expected: bool, why: str) -> None:
    compiled = compile_osregex(pattern)
    assert compiled.valid, compiled.error
    assert compiled.search(subject) is expected, why


INVALID = [
    ("a(b", "M18: an unclosed parenthesis"),
    ("a)b", "a stray closing parenthesis"),
    ("((a))", "nested parentheses"),
    ("(a|b)", "| inside parentheses"),
    ("a\\qb", "an unknown escape"),
    ("a\\", "a trailing backslash"),
    ("a" * 2049, "longer than OS_PATTERN_MAXSIZE"),
]


@pytest.mark.parametrize(("pattern", "why"), INVALID, ids=[row[1] for row in INVALID])
def test_invalid_patterns_never_match_and_say_why(pattern: str, why: str) -> None:
    compiled = compile_osregex(pattern)
    assert not compiled.valid, why
    assert compiled.error
    for subject in ("", "a(b", "ab", "a\\qb", "a" * 3000, G5712):
        assert compiled.search(subject) is False


def test_compiled_once_reused() -> None:
    compiled = compile_osregex("sshd,|^web,")
    assert compiled.compiled is not None
    assert [compiled.search(s) for s in ("sshd,", "web,x,", "x,web,")] == [True, True, False]
