"""execd's message building and check_keys parsing, byte for byte (spec 7.3, 8.2, 8.4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arconsole.engine.handshake import (
    KEY_MAX,
    block_key,
    build_add_message,
    dumps,
    key_exceeds_limit,
    loads,
    parse_check_keys,
    with_command,
)
from arconsole.engine.messages import ExecdMessage

SHARED = Path(__file__).resolve().parents[2] / "shared"
ALERTS = SHARED / "fixtures" / "real" / "alerts-sample.json"

# spec 8.4, with a small alert in place of {...}
ALERT = b'{"rule":{"id":"5712","level":10},"data":{"srcip":"192.168.0.223"}}'
FROM_ANALYSISD = (
    b'{"version":1,"origin":{"name":"node01","module":"wazuh-analysisd"},'
    b'"command":"firewall-drop600","parameters":{"extra_args":[],"alert":' + ALERT + b"}}"
)
TO_SCRIPT = (
    b'{"version":1,"origin":{"name":"node01","module":"wazuh-execd"},"command":"add",'
    b'"parameters":{"extra_args":[],"alert":' + ALERT
    + b',"program":"active-response/bin/firewall-drop"}}'
)
CHECK_KEYS = (
    b'{"version":1,"origin":{"name":"firewall-drop","module":"active-response"},'
    b'"command":"check_keys","parameters":{"keys":["192.168.0.223"]}}'
)


# ---------------------------------------------------------------- building the messages


def test_add_message_matches_spec_8_4_E6() -> None:
    assert build_add_message(FROM_ANALYSISD, "active-response/bin/firewall-drop") == TO_SCRIPT


def test_add_message_from_a_dict_leaves_the_dict_alone() -> None:
    message = json.loads(FROM_ANALYSISD)
    before = json.dumps(message)
    assert build_add_message(message, "active-response/bin/firewall-drop") == TO_SCRIPT
    assert json.dumps(message) == before


def test_continue_abort_delete_replace_only_the_top_level_command_T2() -> None:
    # An alert field named "command" (auditd, for one) must not be touched.
    alert = b'{"data":{"command":"add","audit":{"command":"rm"}},"rule":{"id":"1"}}'
    message = build_add_message(
        b'{"version":1,"origin":{"name":"n","module":"wazuh-analysisd"},"command":"x0",'
        b'"parameters":{"extra_args":["-v"],"alert":' + alert + b"}}",
        "active-response/bin/x",
    )
    for command in ("continue", "abort", "delete"):
        expected = message.replace(b'"command":"add","parameters"',
                                   b'"command":"' + command.encode() + b'","parameters"')
        assert with_command(message, command) == expected
    assert with_command(with_command(message, "delete"), "add") == message


def test_non_ascii_and_control_characters_print_as_cjson_does() -> None:
    alert = (
        '{"full_log":"Usuário inválido \u202e\u00e9 tab\there\\u0001 del\x7f slash/",'
        '"win":"C:\\\\Windows"}'
    ).encode()
    message = b'{"version":1,"origin":{"module":"m"},"command":"c","parameters":{"alert":' + alert
    out = build_add_message(message + b"}}", "p")
    # UTF-8 stays raw, "/" and DEL are not escaped, control characters use lowercase \u00xx.
    assert "Usuário inválido \u202e\u00e9".encode() in out
    assert b"tab\\there\\u0001 del\x7f slash/" in out
    assert b'"win":"C:\\\\Windows"' in out


def test_invalid_utf8_inside_strings_survives() -> None:
    message = b'{"version":1,"origin":{},"command":"c","parameters":{"alert":{"x":"\xff\xfe"}}}'
    assert b'"x":"\xff\xfe"' in build_add_message(message, "p")


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        (b"1", b"1"), (b"1.0", b"1"), (b"-0", b"0"), (b"1e2", b"100"), (b"0.1", b"0.1"),
        (b"2147483647", b"2147483647"), (b"2147483648", b"2147483648"),
        (b"3000000000", b"3000000000"), (b"1.5", b"1.5"), (b"-2.25e-5", b"-2.25e-05"),
        (b"12345678901234567890", b"1.2345678901234567e+19"), (b"1e400", b"null"),
        # compare_double's tolerance (1 ulp) accepts the 15-digit form: cJSON loses a digit.
        (b"0.30000000000000004", b"0.3"),
    ],
)
def test_numbers_print_through_a_double_like_cjson(text: bytes, printed: bytes) -> None:
    assert dumps(loads(b'{"n":' + text + b"}")) == b'{"n":' + printed + b"}"


def test_duplicate_members_are_all_kept_in_order() -> None:
    message = (
        b'{"version":1,"origin":{"name":"a","module":"x","module":"y"},"command":"c",'
        b'"parameters":{"alert":{"k":1,"k":2}}}'
    )
    out = build_add_message(message, "p")
    # cJSON replaces the first match only, and prints both members.
    assert b'"origin":{"name":"a","module":"wazuh-execd","module":"y"}' in out
    assert b'"alert":{"k":1,"k":2},"program":"p"}' in out


def test_missing_origin_module_or_parameters_are_not_invented() -> None:
    out = build_add_message(b'{"version":1,"origin":{"name":"a"},"command":"c"}', "p")
    assert out == b'{"version":1,"origin":{"name":"a"},"command":"add"}'


def test_messages_without_command_or_not_objects_are_refused() -> None:
    for bad in (b'{"version":1}', b"[1,2]", b"not json", b""):
        with pytest.raises(ValueError):
            build_add_message(bad, "p")
    with pytest.raises(ValueError):
        with_command(b'{"parameters":{"command":"add"}}', "delete")


@pytest.mark.skipif(not ALERTS.exists(), reason="shared fixtures absent")
def test_real_alert_lines_survive_byte_for_byte() -> None:
    """alerts.json is written by cJSON too: wrapping and re-printing keeps every byte of the
    canonical lines, and agrees with the engine's splicing ExecdMessage."""
    checked = 0
    for raw in ALERTS.read_bytes().splitlines():
        if dumps(loads(raw)) != raw:
            continue  # a hand-formatted sample line (with spaces), not cJSON output
        analysisd = (
            b'{"version":1,"origin":{"name":"node01","module":"wazuh-analysisd"},'
            b'"command":"firewall-drop600","parameters":{"extra_args":["a b"],"alert":'
            + raw + b"}}"
        )
        built = build_add_message(analysisd, "active-response/bin/firewall-drop")
        assert b'"alert":' + raw + b',"program":"active-response/bin/firewall-drop"}}' in built
        spliced = ExecdMessage.build(
            node_name="node01", extra_args=["a b"], alert_raw=raw, executable="firewall-drop"
        )
        for command in ("add", "continue", "abort", "delete"):
            assert with_command(built, command) == spliced.with_command(command)
        checked += 1
    assert checked >= 10


def test_execd_message_agrees_with_an_inline_alert() -> None:
    # The engine's splicing builder and ours must agree on any cJSON-printed alert.
    spliced = ExecdMessage.build(
        node_name="n\u00e9", extra_args=["$(x)"], alert_raw=ALERT, executable="fw"
    )
    analysisd = (
        '{"version":1,"origin":{"name":"n\u00e9","module":"wazuh-analysisd"},"command":"fw0",'
        '"parameters":{"extra_args":["$(x)"],"alert":'
    ).encode() + ALERT + b"}}"
    assert build_add_message(analysisd, "active-response/bin/fw") == spliced.with_command("add")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**31), 2**31 - 1) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_printing_equals_compact_json_for_ints_and_text(value: object) -> None:
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    assert dumps(value) == expected.encode("utf-8", "surrogatepass")


# Near DBL_MAX cJSON itself prints a 15-digit text that reads back as infinity: left out.
@given(json_values | st.floats(min_value=-1e300, max_value=1e300))
def test_parse_then_print_is_stable(value: object) -> None:
    once = dumps(loads(json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")))
    assert dumps(loads(once)) == once


# ---------------------------------------------------------------- check_keys


def test_parse_check_keys_reads_the_spec_example() -> None:
    assert parse_check_keys(CHECK_KEYS) == ["192.168.0.223"]


@pytest.mark.parametrize(
    "line",
    [
        b"hello",  # E13
        b"",
        b'{"origin":{},"command":"check_keys","parameters":{"keys":["a"]}}',  # no version
        b'{"version":"1","origin":{},"command":"check_keys","parameters":{"keys":["a"]}}',
        b'{"version":true,"origin":{},"command":"check_keys","parameters":{"keys":["a"]}}',
        b'{"version":1,"origin":[],"command":"check_keys","parameters":{"keys":["a"]}}',
        b'{"version":1,"origin":{},"command":1,"parameters":{"keys":["a"]}}',
        b'{"version":1,"origin":{},"command":"check_keys"}',  # no parameters
        b'{"version":1,"origin":{},"command":"continue","parameters":{"keys":["a"]}}',
        b'{"version":1,"origin":{},"command":"Check_Keys","parameters":{"keys":["a"]}}',
        b'{"version":1,"origin":{},"command":"check_keys","parameters":{"keys":"a"}}',
        b'{"version":1,"origin":{},"command":"check_keys","parameters":{}}',
        b'{"version":NaN,"origin":{},"command":"check_keys","parameters":{"keys":["a"]}}',
    ],
)
def test_parse_check_keys_rejects_what_execd_rejects(line: bytes) -> None:
    assert parse_check_keys(line) is None


def test_parse_check_keys_follows_cjson_leniency() -> None:
    body = b'"origin":{},"command":"check_keys","parameters":{"keys":["a",1,null,"b"]}}'
    # Leading blanks and trailing text are ignored by cJSON_Parse; non-string keys skipped.
    assert parse_check_keys(b'  {"version":1,' + body + b" trailing") == ["a", "b"]
    # Member names are matched case-insensitively (cJSON_GetObjectItem).
    assert parse_check_keys(b'{"VERSION":1.5,' + body.replace(b'"keys"', b'"Keys"')) == [
        "a", "b"
    ]
    # A NUL ends the C string: inside a key it cuts the key, in the line it cuts the line.
    nul_key = (
        b'{"version":1,"origin":{},"command":"check_keys","parameters":{"keys":["a\\u0000b"]}}'
    )
    assert parse_check_keys(nul_key) == ["a"]
    assert parse_check_keys(CHECK_KEYS[:40] + b"\0" + CHECK_KEYS[40:]) is None
    # The first of duplicate members wins.
    dup = b'{"version":1,"origin":{},"command":"check_keys","command":"x","parameters":{"keys":[]}}'
    assert parse_check_keys(dup) == []


# ---------------------------------------------------------------- block keys


@pytest.mark.parametrize(
    ("executable", "keys", "expected"),
    [
        ("firewall-drop", ["1.2.3.4"], "firewall-drop-1.2.3.4"),
        ("restart-wazuh", ["10.0.0.1", "root"], "restart-wazuh-10.0.0.1-root"),
        ("s", ["a", "b"], "s-a-b"),  # E14
        ("s", [], "s"),  # E15
        ("s", None, "s"),  # E12/E13
        ("active-response/bin/firewall-drop", ["1.2.3.4"], "firewall-drop-1.2.3.4"),
    ],
)
def test_block_key(executable: str, keys: list[str] | None, expected: str) -> None:
    assert block_key(executable, keys) == expected


def test_block_key_is_cut_at_4095_bytes_keeping_the_basename_E16() -> None:
    # Wazuh's unit test test_ExecdStart_long_ar_keys: "disable-account" + "-" + 4089 "A".
    keys = ["A" * 4089]
    key = block_key("disable-account", keys)
    assert len(key.encode()) == KEY_MAX == 4095
    assert key == ("disable-account-" + "A" * 4089)[:4095]
    assert key_exceeds_limit("disable-account", keys)
    assert not key_exceeds_limit("disable-account", ["A" * (4095 - 16)])
    assert len(block_key("disable-account", ["A" * (4095 - 16)]).encode()) == 4095


def test_block_key_never_splits_a_utf8_character() -> None:
    key = block_key("x", ["é" * 3000])  # "x-" then 2-byte characters: the cut falls inside one
    assert len(key.encode()) == 4094 and key.endswith("é") and "\ufffd" not in key


def test_block_key_is_deterministic_for_parsed_keys() -> None:
    line = (
        b'{"version":1,"origin":{},"command":"check_keys",'
        b'"parameters":{"keys":["2001:db8::1","\xff"]}}'
    )
    keys = parse_check_keys(line)
    assert keys == ["2001:db8::1", "\ufffd"]
    assert block_key("firewall-drop", keys) == "firewall-drop-2001:db8::1-\ufffd"
