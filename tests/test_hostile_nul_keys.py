"""White-list bypass with a NUL inside a key (issue 11 item 2, a shape it did not list).

Wazuh's cJSON decodes `\\u0000` inside a key into a NUL byte, and compares keys as C strings
(case-insensitively): `"srcip\\u0000"` and `"srcip\\u0000junk"` ARE `srcip` to Wazuh's scripts
(and the first one wins), while msgspec keeps them as other keys. So
`{"data":{"srcip\\u0000":"10.20.0.5","srcip":"8.8.8.8"}}` is checked by the engine as 8.8.8.8
and blocked by Wazuh's C firewall-drop (on the manager, or on an agent the fleet delivers to:
the raw alert is spliced into the message) as 10.20.0.5, inside a white-listed range.
The premise is proven with Wazuh 4.14.7's own cJSON (`libwazuhext.so`) when it is present;
such a line is refused as crafted (alerts/crafted.py compares keys as cJSON does).
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import pytest

from arconsole.alerts.jsonreader import decode_alert_line
from arconsole.alerts.model import AlertError
from tests.engine_support import command, make_home, new_engine, recorder, records, response
from tests.fleet_support import shared

RULE = '"rule":{"id":"5712","level":10,"groups":["sshd"]}'
SHAPES = [
    ("NUL-ended key", '{' + RULE + ',"data":{"srcip\\u0000":"10.20.0.5","srcip":"8.8.8.8"}}'),
    ("NUL then junk", '{' + RULE + ',"data":{"srcip\\u0000x":"10.20.0.5","srcip":"8.8.8.8"}}'),
    ("NUL in a case", '{' + RULE + ',"data":{"SRCIP\\u0000":"10.20.0.5","srcip":"8.8.8.8"}}'),
    # alone: the engine sees no srcip at all (nothing to white-list), the scripts see one
    ("lone NUL key", '{' + RULE + ',"data":{"srcip\\u0000":"10.20.0.5"}}'),
    ("NUL on the path", '{' + RULE + ',"data\\u0000":{"srcip":"10.20.0.5"},'
                        '"data":{"srcip":"8.8.8.8"}}'),
]
LIB = shared("tools", "wazuh-4.14.7", "agent", "lib", "libwazuhext.so")


@pytest.mark.skipif(not LIB.exists(), reason="Wazuh's libwazuhext.so absent")
@pytest.mark.parametrize(("name", "raw"), SHAPES, ids=[s[0] for s in SHAPES])
def test_wazuhs_own_cjson_reads_the_white_listed_address(name: str, raw: str) -> None:
    lib = ctypes.CDLL(str(LIB))
    lib.cJSON_Parse.restype = ctypes.c_void_p
    lib.cJSON_Parse.argtypes = [ctypes.c_char_p]
    lib.cJSON_GetObjectItem.restype = ctypes.c_void_p
    lib.cJSON_GetObjectItem.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.cJSON_GetStringValue.restype = ctypes.c_char_p
    lib.cJSON_GetStringValue.argtypes = [ctypes.c_void_p]
    lib.cJSON_Delete.argtypes = [ctypes.c_void_p]
    root = lib.cJSON_Parse(raw.encode())
    try:
        data = lib.cJSON_GetObjectItem(root, b"data")
        assert lib.cJSON_GetStringValue(lib.cJSON_GetObjectItem(data, b"srcip")) == b"10.20.0.5"
    finally:
        lib.cJSON_Delete(root)


@pytest.mark.parametrize(("name", "raw"), SHAPES, ids=[s[0] for s in SHAPES])
def test_a_nul_in_a_decision_key_is_refused_as_crafted(name: str, raw: str) -> None:
    with pytest.raises(AlertError, match=r"^crafted: "):
        decode_alert_line(raw.encode() + b"\n")


async def test_the_engine_runs_nothing_for_a_nul_key_alert(tmp_path: Path) -> None:
    home = make_home(tmp_path, [command("rec")], [response("rec", level=5, timeout=60)],
                     {"rec": recorder()})
    engine = new_engine(home)
    await engine.start(follow=False)
    try:
        await engine.handle_line(SHAPES[0][1].encode() + b"\n")
        await engine.drain()
        assert records(home) == [] and engine.blocks == {}
    finally:
        await engine.stop()
