"""Hostile clients on the control socket (issue 11 re-run, issue 14 surface): a request line
over the limit, a deeply nested JSON line, a client that never finishes its line, many
clients at once, huge integers. The socket answers each with one clear error and keeps
serving; nothing is left as an unretrieved task exception (conftest fails the test then).

Real engine, real Unix socket.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from engine_support import command, make_home, recorder, response, started

from arconsole.engine import control
from arconsole.engine.control import MAX_REQUEST, serve_control


def _home(tmp_path: Path) -> Path:
    return make_home(tmp_path, [command("firewall-drop")],
                     [response("firewall-drop", rules_id="5712", timeout=60)],
                     scripts={"firewall-drop": recorder()})


async def _ask(path: Path, raw: bytes) -> dict[str, object]:
    reader, writer = await asyncio.open_unix_connection(str(path), limit=MAX_REQUEST * 4)
    try:
        writer.write(raw)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 10)
        assert line, "the engine closed the connection without answering"
        answer: dict[str, object] = json.loads(line)
        return answer
    finally:
        writer.close()


async def _status_ok(path: Path) -> bool:
    return (await _ask(path, b'{"op":"status"}\n')).get("ok") is True


async def test_an_oversized_request_line_gets_one_clear_error(tmp_path: Path) -> None:
    engine = await started(_home(tmp_path), control_socket=True)
    server = await serve_control(engine)
    try:
        path = engine.options.socket_path
        huge = b'{"op":"reverse","keys":["' + b"a" * (MAX_REQUEST + 10) + b'"]}\n'
        answer = await _ask(path, huge)
        assert answer["ok"] is False
        assert "too long" in str(answer["error"])
        assert await _status_ok(path)
    finally:
        assert server is not None
        await server.stop()
        await engine.stop()


async def test_a_deeply_nested_request_is_a_bad_request_not_a_crash(tmp_path: Path) -> None:
    engine = await started(_home(tmp_path), control_socket=True)
    server = await serve_control(engine)
    try:
        path = engine.options.socket_path
        nested = b"[" * 200_000 + b"]" * 200_000 + b"\n"
        answer = await _ask(path, nested)
        assert answer["ok"] is False and "bad request" in str(answer["error"])
        assert await _status_ok(path)
    finally:
        assert server is not None
        await server.stop()
        await engine.stop()


async def test_silent_clients_are_dropped_and_do_not_block_others(
        tmp_path: Path, monkeypatch: object) -> None:
    """A client that connects and never ends its line is cut after the request deadline;
    200 of them at once do not stop a real request from being answered."""
    monkeypatch.setattr(control, "REQUEST_DEADLINE", 0.5)  # type: ignore[attr-defined]
    engine = await started(_home(tmp_path), control_socket=True)
    server = await serve_control(engine)
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        path = engine.options.socket_path
        for _ in range(200):
            reader, writer = await asyncio.open_unix_connection(str(path))
            writer.write(b'{"op":"sta')  # partial, never finished
            idle.append((reader, writer))
        assert await _status_ok(path)
        reader, _ = idle[0]
        line = await asyncio.wait_for(reader.readline(), 10)  # cut by the server
        assert b"no complete request" in line
        assert server is not None
        assert await asyncio.wait_for(_wait_streams_empty(server), 10)
    finally:
        for _, writer in idle:
            writer.close()
        assert server is not None
        await server.stop()
        await engine.stop()


async def _wait_streams_empty(server: control.ControlServer) -> bool:
    while server._streams:
        await asyncio.sleep(0.02)
    return True


async def test_huge_and_negative_numbers_over_the_socket_are_refused(tmp_path: Path) -> None:
    engine = await started(_home(tmp_path), control_socket=True)
    server = await serve_control(engine)
    try:
        path = engine.options.socket_path
        add = {"op": "add", "command": "firewall-drop", "srcip": "203.0.113.5",
               "timeout": 10**40}
        answer = await _ask(path, json.dumps(add).encode() + b"\n")
        assert answer["ok"] is False
        ext = {"op": "extend", "key": "firewall-drop-203.0.113.5", "seconds": 10**40}
        answer = await _ask(path, json.dumps(ext).encode() + b"\n")
        assert answer["ok"] is False and "OverflowError" not in json.dumps(answer)
        for bad in ({"op": "reverse", "keys": "x"}, {"op": 7}, {"op": "extend", "key": 1,
                                                                  "seconds": True}):
            answer = await _ask(path, json.dumps(bad).encode() + b"\n")
            assert answer["ok"] is False and "bad request" in str(answer["error"])
        assert await _status_ok(path)
        assert engine.blocks == {} or all(
            b.timeout < 10**12 for b in engine.blocks.values())  # type: ignore[attr-defined]
    finally:
        assert server is not None
        await server.stop()
        await engine.stop()
