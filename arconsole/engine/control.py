"""The control socket: how `arconsole blocks ...` and an attached console talk to an engine.

One JSON object per line each way. The socket sits next to the state file with mode 0600,
and the operator is identified by the kernel (SO_PEERCRED), not by what the client claims;
the client only adds its SSH_CLIENT address and the command line it was given.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import socket
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arconsole.engine.events import Event
from arconsole.engine.operator import ssh_client_address
from arconsole.engine.requests import handle_request, status_of
from arconsole.safetext import literal

if TYPE_CHECKING:
    from arconsole.engine.engine import Engine

MAX_REQUEST = 1 << 20
# A client has this long to send its whole request line: one that connects and stays silent
# (or trickles) must not hold a task and a descriptor for ever.
REQUEST_DEADLINE = 30.0
MAX_LOGGED_OP = 80  # the longest command name an error line quotes


class ControlError(Exception):
    """No engine answers on the socket, or it answered with an error."""


def _peer_user(writer: asyncio.StreamWriter) -> str:
    sock = writer.get_extra_info("socket")
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _, uid, _ = struct.unpack("3i", creds)
    except (OSError, AttributeError):
        return "unknown"
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid:{uid}"


async def serve_control(engine: Engine) -> ControlServer | None:
    """The control socket for an engine a command runs, when its options ask for one.

    Commands that run an engine call this after `engine.start()` and stop the server before
    `engine.stop()`; the engine itself knows nothing of sockets.
    """
    if not engine.options.control_socket:
        return None
    server = ControlServer(engine, engine.options.socket_path)
    await server.start()
    return server


class ControlServer:
    def __init__(self, engine: Engine, path: Path) -> None:
        self.engine = engine
        self.path = path
        self._server: asyncio.AbstractServer | None = None
        self._streams: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        # We own the state file's lock, so any socket left here is stale.
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        old_umask = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(
                self._accept, path=str(self.path), limit=MAX_REQUEST
            )
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            streams = list(self._streams)
            for task in streams:
                task.cancel()
            if streams:  # each ends cancelled (its writer closed): none outlives the server
                await asyncio.wait(streams, timeout=2)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Our own task, not asyncio's: Python 3.11's streams call task.exception() on the
        # connection's task, which raises for one that ended cancelled, as ours do on stop.
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self._streams.add(task)
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._streams.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:  # a bug in serving, not in a request: told, never lost
            self.engine.context.notice("error", "control socket connection failed: "
                                       f"{literal(_described(error))}")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                line = await asyncio.wait_for(reader.readline(), REQUEST_DEADLINE)
            except TimeoutError:
                await _send(writer, {"ok": False, "error": "bad request: no complete request "
                                     f"line within {REQUEST_DEADLINE:g} s"})
                return
            except ValueError:  # asyncio's LimitOverrunError, as readline raises it
                await _send(writer, {"ok": False, "error": "bad request: request line too "
                                     f"long (over {MAX_REQUEST} bytes)"})
                return
            if not line:
                return
            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ValueError("request is not an object")
            except RecursionError:
                await _send(writer, {"ok": False, "error": "bad request: nested too deeply"})
                return
            except ValueError as error:
                await _send(writer, {"ok": False, "error": f"bad request: {error}"})
                return
            operator = _peer_user(writer)
            claimed_ssh = request.get("ssh_client")
            if isinstance(claimed_ssh, str) and claimed_ssh:
                operator = f"{operator} from {claimed_ssh}"
                request["requester_address"] = claimed_ssh
            if request.get("op") == "subscribe":
                await self._stream_events(writer)
                return
            try:
                response = await handle_request(self.engine, request, operator)
            except Exception as error:  # a bug: the engine's log has it, the socket survives
                self.engine.context.notice(
                    "error", f"control request {literal(_command_name(request))} failed: "
                    f"{literal(_described(error))}")
                response = {"ok": False, "error": _described(error)}
            await _send(writer, response)
        except ConnectionError:
            pass  # the client went away; CancelledError goes on, so a stopping server ends us
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _stream_events(self, writer: asyncio.StreamWriter) -> None:
        subscription = self.engine.bus.subscribe()
        try:
            await _send(writer, {"ok": True, **status_of(self.engine),
                                 "blocks": [b.to_json() for b in self.engine.list_blocks()],
                                 "fleet": self.engine.fleet.listing()})
            while True:
                batch = await subscription.next_batch()
                payload = b"".join(
                    json.dumps({"event": e.to_json()}, separators=(",", ":")).encode() + b"\n"
                    for e in batch
                )
                writer.write(payload)
                await writer.drain()
        finally:
            subscription.close()


def _command_name(request: dict[str, Any]) -> str:
    """The request's `op`, as much of it as a log line needs."""
    op = request.get("op")
    return (op if isinstance(op, str) else repr(op))[:MAX_LOGGED_OP]


def _described(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


async def _send(writer: asyncio.StreamWriter, payload: dict[str, Any]) -> None:
    writer.write(json.dumps(payload, separators=(",", ":")).encode() + b"\n")
    await writer.drain()


def request(path: Path, payload: dict[str, Any], *, timeout: float = 120.0) -> dict[str, Any]:
    """Send one request to the engine owning `path` and return its answer (blocking)."""
    payload = dict(payload)
    ssh_client = ssh_client_address()
    if ssh_client:
        payload["ssh_client"] = ssh_client
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(str(path))
        except OSError as error:
            raise ControlError(f"no engine answers on {path}: {error.strerror}") from error
        sock.sendall(json.dumps(payload, separators=(",", ":")).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    if not data:
        raise ControlError(f"the engine on {path} closed the connection without answering")
    answer: dict[str, Any] = json.loads(data)
    return answer


def engine_listening(path: Path) -> bool:
    """True when an engine answers on the control socket."""
    if not path.exists():
        return False
    try:
        return bool(request(path, {"op": "status"}, timeout=2.0).get("ok"))
    except (ControlError, OSError, ValueError):
        return False


async def subscribe(path: Path) -> tuple[dict[str, Any], asyncio.StreamReader,
                                         asyncio.StreamWriter]:
    """Attach to a running engine: its status and blocks, then a stream of event lines."""
    reader, writer = await asyncio.open_unix_connection(str(path), limit=MAX_REQUEST)
    writer.write(b'{"op":"subscribe"}\n')
    await writer.drain()
    first = await reader.readline()
    if not first:
        raise ControlError(f"the engine on {path} closed the connection")
    return json.loads(first), reader, writer


def decode_event_line(line: bytes) -> Event:
    from arconsole.engine.events import event_from_json

    return event_from_json(json.loads(line)["event"])
