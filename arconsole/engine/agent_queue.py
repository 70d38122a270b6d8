"""The `wazuh-queue` transport's socket: datagrams to the manager's `HOME/queue/alerts/ar`.

That Unix datagram socket belongs to wazuh-remoted (fleet.md F1). Like analysisd, the sender
connects lazily and, after an error, closes and reconnects on the next send; unlike analysisd
it tells the caller which errors are worth retrying (remoted restarting: the socket missing,
refusing, or its queue full) so that no message is lost.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from pathlib import Path

# Errors that pass when remoted is back or has read its queue: retry with backoff.
RETRYABLE = frozenset({
    errno.ENOENT, errno.ECONNREFUSED, errno.ENOBUFS, errno.EAGAIN, errno.ENOTCONN,
    errno.ECONNRESET,
})


class QueueSender:
    """One connected, non-blocking datagram socket to the AR queue."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._socket: socket.socket | None = None

    def connected(self) -> socket.socket:
        """The connected socket (connecting now if needed); OSError when remoted's is not
        there. The sender calls its `send` directly (a short send is `short_send`), and
        `failed` on an error."""
        sock = self._socket
        if sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.setblocking(False)
            try:
                sock.connect(str(self.path))
            except OSError:
                sock.close()
                raise
            self._socket = sock
        return sock

    def failed(self, error: OSError) -> None:
        """A send on the connected socket raised `error`."""
        if error.errno not in (errno.EAGAIN, errno.ENOBUFS):
            # The receiver went away (remoted restarted): a fresh connect finds the new one.
            self.close()

    async def wait_writable(self, limit: float) -> None:
        """Until the receiver's queue has room (the kernel says so), at most `limit` s."""
        sock = self._socket
        if sock is None:
            await asyncio.sleep(limit)
            return
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def writable() -> None:
            if not ready.done():
                ready.set_result(None)

        # A plain timer rather than `wait_for` (no task per wait: a burst waits often).
        loop.add_writer(sock.fileno(), writable)
        timer = loop.call_later(limit, writable)
        try:
            await ready
        finally:
            timer.cancel()
            loop.remove_writer(sock.fileno())

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def is_retryable(error: OSError) -> bool:
    return error.errno in RETRYABLE


def short_send(sent: int, size: int) -> OSError:
    return OSError(errno.EMSGSIZE, f"sent {sent} of {size} bytes")
