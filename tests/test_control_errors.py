"""The control socket's own failures (review findings): an unexpected exception while
answering a request reaches the engine's log once, with the request's command name
escaped, and the client still gets its one-line answer; a stopping server's connection
tasks end cancelled (CancelledError is not swallowed).

Real engine, real Unix socket; the unexpected exception is injected into the request
dispatcher, as no shipped request raises one.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from engine_support import command, make_home, recorder, response, started

from arconsole.engine import requests
from arconsole.engine.control import MAX_REQUEST, serve_control
from arconsole.engine.engine import Engine


def _home(tmp_path: Path) -> Path:
    return make_home(tmp_path, [command("firewall-drop")],
                     [response("firewall-drop", rules_id="5712", timeout=60)],
                     scripts={"firewall-drop": recorder()})


async def _ask(path: Path, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_unix_connection(str(path), limit=MAX_REQUEST)
    try:
        writer.write(raw)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)  # all of it, to the server's close
    finally:
        writer.close()


def _logged(engine: Engine, text: str) -> list[str]:
    return [e.message for e in engine.context.store.list_events(1000) if text in e.message]


async def test_an_unexpected_error_is_logged_once_and_answered_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*_: object) -> dict[str, object]:
        raise RuntimeError("store gone \x1b[31mred")

    engine = await started(_home(tmp_path), control_socket=True)
    server = await serve_control(engine)
    assert server is not None
    try:
        path = engine.options.socket_path
        monkeypatch.setattr(requests, "_handle", broken)
        raw = await _ask(path, json.dumps({"op": "li\x1b]0;st"}).encode() + b"\n")
        assert raw.count(b"\n") == 1
        assert json.loads(raw) == {"ok": False, "error": "RuntimeError: store gone \x1b[31mred"}
        logged = _logged(engine, "control request")
        assert logged == ["control request li\\x1b]0;st failed: "
                          "RuntimeError: store gone \\x1b[31mred"]
        monkeypatch.undo()
        status = json.loads(await _ask(path, b'{"op":"status"}\n'))
        assert status["ok"] is True  # the socket survives
        assert len(_logged(engine, "control request")) == 1
    finally:
        await server.stop()
        await engine.stop()


async def test_stopping_the_server_ends_its_connections_cancelled(tmp_path: Path) -> None:
    engine = await started(_home(tmp_path), control_socket=True)
    server = await serve_control(engine)
    assert server is not None
    reader, writer = await asyncio.open_unix_connection(str(engine.options.socket_path),
                                                        limit=MAX_REQUEST)
    try:
        writer.write(b'{"op":"subscribe"}\n')
        await writer.drain()
        first = json.loads(await asyncio.wait_for(reader.readline(), 10))
        assert first["ok"] is True  # subscribed: its task now waits for events
        serving = [t for t in asyncio.all_tasks()
                   if t.get_coro().__qualname__ == "ControlServer._serve"]  # type: ignore[union-attr]
        assert len(serving) == 1
        await server.stop()
        await asyncio.wait(serving, timeout=5)
        assert serving[0].done() and serving[0].cancelled()
        assert await asyncio.wait_for(reader.read(), 10) == b""  # its writer was closed
        assert _logged(engine, "control socket") == []
    finally:
        writer.close()
        await engine.stop()
