"""The JSON protocol of the shipped scripts, function by function (spec 8.2, 8.3, 8.5)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_scripts_helpers import ar_message, line_of

from arconsole.scripts.options import OptionError, parse_options
from arconsole.scripts.protocol import (
    ArLog,
    Message,
    check_keys_message,
    home_from_argv0,
    ip_version,
    is_valid_username,
    parse_json,
    timestamp,
)


def parsed(body: dict[str, object] | str) -> Message | None:
    return Message.parse(line_of(body) + "\n")


class TestValidation:
    """get_json_from_input (spec 8.2; scenario S7)."""

    def test_a_whole_execd_message_passes(self) -> None:
        message = parsed(ar_message())
        assert message is not None
        assert message.command == "add"

    @pytest.mark.parametrize("missing", ["version", "origin", "command", "parameters"])
    def test_each_required_member_is_required(self, missing: str) -> None:
        body = ar_message()
        del body[missing]
        assert parsed(body) is None

    @pytest.mark.parametrize(("member", "value"), [
        ("version", "1"), ("version", True), ("version", None), ("origin", "node01"),
        ("origin", []), ("command", 1), ("command", None), ("parameters", []),
        ("parameters", "x"),
    ])
    def test_members_of_the_wrong_type_fail(self, member: str, value: object) -> None:
        body = ar_message()
        body[member] = value
        assert parsed(body) is None

    def test_a_fractional_version_is_a_number(self) -> None:
        body = ar_message()
        body["version"] = 1.5
        assert parsed(body) is not None

    @pytest.mark.parametrize("text", ["", "\n", "not json", "[1,2]", '"add"', "{", "NaN"])
    def test_not_an_object_fails(self, text: str) -> None:
        assert Message.parse(text) is None

    def test_text_after_the_object_is_ignored_like_cjson(self) -> None:
        """cJSON_ParseWithOpts(..., require_null_terminated=0)."""
        assert parsed(line_of(ar_message()) + " trailing words") is not None

    def test_leading_whitespace_is_skipped(self) -> None:
        assert parsed(" \t" + line_of(ar_message())) is not None

    def test_member_names_are_matched_without_case_first_one_wins(self) -> None:
        """cJSON_GetObjectItem is case-insensitive and returns the first match."""
        text = line_of(ar_message()).replace('"command":"add"', '"COMMAND":"foo","command":"add"')
        message = parsed(text)
        assert message is not None
        assert message.command == "foo"

    def test_nesting_too_deep_is_invalid_not_a_crash(self) -> None:
        with pytest.raises(ValueError, match="nested"):
            parse_json("[" * 100_000)


class TestSrcip:
    """Spec 8.3 and scenarios S4, S5, D1."""

    @staticmethod
    def srcip(data: dict[str, object]) -> str | None:
        message = parsed(ar_message(data=data))
        assert message is not None
        return message.srcip()

    def test_data_srcip(self) -> None:
        assert self.srcip({"srcip": "192.168.0.223"}) == "192.168.0.223"

    def test_windows_ip_address_wins_over_srcip(self) -> None:
        data = {"srcip": "10.2.2.2", "win": {"eventdata": {"ipAddress": "10.1.1.1"}}}
        assert self.srcip(data) == "10.1.1.1"

    def test_destination_ip_comes_after_ip_address(self) -> None:
        both = {"win": {"eventdata": {"ipAddress": "10.1.1.1", "destinationIp": "10.3.3.3"}}}
        assert self.srcip(both) == "10.1.1.1"
        only = {"srcip": "10.2.2.2", "win": {"eventdata": {"destinationIp": "10.3.3.3"}}}
        assert self.srcip(only) == "10.3.3.3"

    def test_a_bad_windows_address_is_not_skipped(self) -> None:
        data = {"srcip": "10.2.2.2", "win": {"eventdata": {"ipAddress": "-"}}}
        assert self.srcip(data) is None

    def test_ipv6(self) -> None:
        assert self.srcip({"srcip": "2001:db8::1"}) == "2001:db8::1"

    def test_the_value_is_kept_as_written(self) -> None:
        """The key execd dedupes on is the text the alert carried (spec 7.3 step 9)."""
        assert self.srcip({"srcip": "2001:DB8::1"}) == "2001:DB8::1"

    @pytest.mark.parametrize("value", [
        "not-an-ip", "1.2.3.4;id", "$(touch x)", "1.2.3.4\nid", "-1.2.3.4", "-j ACCEPT",
        "1.2.3.4 ", " 1.2.3.4", "127.1", "010.0.0.1", "1.2.3.4/32", "256.1.1.1",
        "fe80::1%eth0", "fe80::1%$(id)", "", "::ffff:1.2.3.4.5", "1.2.3.4.5",
    ])
    def test_anything_but_a_plain_numeric_address_is_refused(self, value: str) -> None:
        assert self.srcip({"srcip": value}) is None

    @pytest.mark.parametrize("data", [
        {}, {"srcip": 1}, {"srcip": None}, {"srcip": ["1.2.3.4"]}, {"win": "x"},
    ])
    def test_absent_or_not_a_string(self, data: dict[str, object]) -> None:
        assert self.srcip(data) is None

    def test_no_data_at_all(self) -> None:
        body = ar_message()
        del body["parameters"]["alert"]["data"]
        message = parsed(body)
        assert message is not None and message.srcip() is None


class TestUsername:
    """is_valid_username (spec 8.3; scenarios S6, D2)."""

    @pytest.mark.parametrize("name", [
        "", "root", "-rf", "+x", "~x", "../x", "a..b", "a:b", "a,b", "a b", "a\tb", "a\nb",
        "a/b", "DOMAIN\\bob", "x" * 257, "é" * 129, "bob\x00",
    ])
    def test_refused(self, name: str) -> None:
        assert not is_valid_username(name)

    @pytest.mark.parametrize("name", ["bob", "svc$", "first.last", "a-b_c", "x" * 256, "Root"])
    def test_accepted(self, name: str) -> None:
        assert is_valid_username(name)

    def test_dstuser_is_read_from_data(self) -> None:
        message = parsed(ar_message(data={"dstuser": "bob", "srcip": "1.2.3.4"}))
        assert message is not None and message.dstuser() == "bob"
        refused = parsed(ar_message(data={"dstuser": "root"}))
        assert refused is not None and refused.dstuser() is None


def test_ip_version() -> None:
    assert ip_version("127.0.0.2") == 4
    assert ip_version("::1") == 6
    assert ip_version("::ffff:1.2.3.4") == 6
    assert ip_version("localhost") is None


def test_check_keys_message_is_wazuhs_byte_for_byte() -> None:
    """Spec 8.4, the script's line to execd."""
    assert check_keys_message("firewall-drop", ["192.168.0.223"]) == (
        '{"version":1,"origin":{"name":"firewall-drop","module":"active-response"},'
        '"command":"check_keys","parameters":{"keys":["192.168.0.223"]}}'
    )


def test_extra_args_keep_only_strings() -> None:
    message = parsed(line_of(ar_message()).replace('"extra_args":[]', '"extra_args":["a",1,"b"]'))
    assert message is not None and message.extra_args() == ["a", "b"]


@pytest.mark.parametrize(("argv0", "cwd_relative", "expected"), [
    ("/var/ossec/active-response/bin/firewall-drop", False, "/var/ossec"),
    ("/opt/active-response/homes/h/active-response/bin/x", False, "/opt/active-response/homes/h"),
    ("/active-response/bin/x", False, "/"),
    ("active-response/bin/firewall-drop", True, ""),
    ("./active-response/bin/firewall-drop", True, ""),
])
def test_home_from_argv0(argv0: str, cwd_relative: bool, expected: str,
                         monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    want = str(tmp_path) if cwd_relative else expected
    assert home_from_argv0(argv0) == want


def test_log_lines_are_wazuhs_format(tmp_path: Path) -> None:
    """Scenario S9: `YYYY/MM/DD HH:MM:SS <argv0>: <msg>`; a read line keeps its newline."""
    log = ArLog(str(tmp_path / "logs" / "active-responses.log"), "active-response/bin/host-deny")
    log.write("Starting")
    log.write('{"a":1}\n')
    lines = (tmp_path / "logs" / "active-responses.log").read_text().split("\n")
    assert re.fullmatch(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d active-response/bin/host-deny: Starting",
                        lines[0])
    assert lines[1].endswith(': {"a":1}')
    assert lines[2] == ""


def test_timestamp_is_local_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        assert timestamp(0) == "1970/01/01 05:30:00"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


class TestOptions:
    def test_defaults(self) -> None:
        options = parse_options([])
        assert options.search_path == "/usr/sbin:/usr/bin:/sbin:/bin"
        assert options.lock_wait == 20.0

    def test_both_spellings_and_unknown_words(self) -> None:
        from arconsole.scripts.firewall_drop import BACKEND

        options = parse_options(["--backend", "nft", "--lock-wait=2", "-x", "word"], [BACKEND])
        assert options.get("--backend") == "nft"
        assert options.lock_wait == 2.0
        assert options.ignored == ("-x", "word")

    @pytest.mark.parametrize("words", [
        ["--backend"], ["--backend", "ipfw"], ["--lock-wait", "soon"], ["--lock-wait", "-1"],
        ["--lock-wait", "nan"], ["--search-path", "bin:/usr/bin"],
    ])
    def test_bad_values(self, words: list[str]) -> None:
        from arconsole.scripts.firewall_drop import BACKEND

        with pytest.raises(OptionError):
            parse_options(words, [BACKEND])


def test_messages_round_trip_through_json() -> None:
    """The helpers build what execd sends: a JSON object per line."""
    assert json.loads(line_of(ar_message()))["parameters"]["program"] == (
        "active-response/bin/firewall-drop")
