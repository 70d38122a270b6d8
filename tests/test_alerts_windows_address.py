"""Windows alerts: decisions are made on the address Wazuh's stock scripts will block.

The scripts take `data.win.eventdata.ipAddress`, then `destinationIp`, then `data.srcip`
(spec 8.3); Wazuh's analysisd white-lists on `data.srcip` only. Deliberately stricter than
Wazuh: arconsole white-lists and checks the address that will really be blocked, and refuses
an alert whose two addresses disagree (else a public srcip would carry a white-listed block).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arconsole.alerts.jsonreader import decode_alert_line
from arconsole.alerts.model import AlertError
from tests.engine_support import command, make_home, recorder, records, response, started


def windows_alert(alert_id: str, *, srcip: str | None = None, ip_address: str | None = None,
                  destination_ip: str | None = None) -> bytes:
    eventdata: dict[str, str] = {"targetUserName": "Administrator"}
    if ip_address is not None:
        eventdata["ipAddress"] = ip_address
    if destination_ip is not None:
        eventdata["destinationIp"] = destination_ip
    data: dict[str, object] = {"win": {"system": {"eventID": "4625"}, "eventdata": eventdata}}
    if srcip is not None:
        data["srcip"] = srcip
    return json.dumps({
        "timestamp": "2026-12-03T10:00:00.000+0000", "id": alert_id,
        "rule": {"level": 10, "id": "60122", "description": "Logon failure",
                 "groups": ["windows", "authentication_failed"]},
        "agent": {"id": "000", "name": "manager"}, "data": data,
        "location": "EventChannel",
    }, separators=(",", ":")).encode()


def test_the_scripts_address_is_the_one_decided_on() -> None:
    assert decode_alert_line(windows_alert("1", ip_address="203.0.113.9")).srcip == "203.0.113.9"
    assert decode_alert_line(
        windows_alert("2", destination_ip="198.51.100.4")).srcip == "198.51.100.4"
    both = windows_alert("3", ip_address="203.0.113.9", destination_ip="198.51.100.4")
    assert decode_alert_line(both).srcip == "203.0.113.9"  # ipAddress first, as the scripts
    same = windows_alert("4", srcip="203.0.113.9", ip_address="203.0.113.9")
    assert decode_alert_line(same).srcip == "203.0.113.9"


@pytest.mark.parametrize("eventdata", [{"ip_address": "10.1.2.3"}, {"destination_ip": "10.1.2.3"}])
def test_disagreeing_addresses_are_refused_as_crafted(eventdata: dict[str, str]) -> None:
    line = windows_alert("5", srcip="203.0.113.9", **eventdata)
    with pytest.raises(AlertError, match=r"^crafted: data\.srcip '203\.0\.113\.9' and"):
        decode_alert_line(line)


async def test_a_white_listed_windows_address_is_never_blocked(tmp_path: Path) -> None:
    home = make_home(tmp_path, [command("rec")], [response("rec", level=5, timeout=60)],
                     {"rec": recorder()})
    engine = await started(home)
    # 10.0.0.0/8 is white-listed by the test home; Wazuh would fire here (no data.srcip).
    await engine.handle_line(windows_alert("w.1", ip_address="10.1.2.3"))
    # The bypass: a public srcip to pass the white list, a white-listed ipAddress to block.
    await engine.handle_line(windows_alert("w.2", srcip="203.0.113.9", ip_address="10.1.2.3"))
    await engine.handle_line(windows_alert("w.3", ip_address="203.0.113.9"))
    await engine.drain()
    assert engine.stats.input_errors == 1
    ran = [json.loads(r["stdin"])["parameters"]["alert"]["id"] for r in records(home)]
    assert ran == ["w.3"]
    # (the test recorder keys on data.srcip, so its key is bare; the address is the block's)
    assert [block.srcip for block in engine.blocks.values()] == ["203.0.113.9"]
    await engine.stop()
