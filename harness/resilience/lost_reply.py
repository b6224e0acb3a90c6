"""A loopback TCP proxy that loses replies: it forwards each request to the server and cuts the client's connection
(a TCP reset) as soon as the first byte of the answer arrives. The server has done the work (and committed: the
answer is written only after the statement returns), but the client never hears of it, as on a phone that loses its
signal. Used to prove that a retried keyed create writes nothing twice."""

from __future__ import annotations

import socket
import struct
import threading
from types import TracebackType

from harness.net import free_port

IO_TIMEOUT_SECONDS = 20.0


class ReplyDropper:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.dropped = 0  # answers that began to arrive and were cut
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ReplyDropper:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone does not
        self._listener.close()
        self._thread.join(timeout=IO_TIMEOUT_SECONDS)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # the listener was closed
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        with client, socket.create_connection(("127.0.0.1", self.upstream_port), IO_TIMEOUT_SECONDS) as upstream:
            client.settimeout(IO_TIMEOUT_SECONDS)
            threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
            if upstream.recv(1):
                self.dropped += 1
            # SO_LINGER 0: close with a reset. shutdown() also wakes the pump's recv(): a close() alone waits for it.
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.shutdown(socket.SHUT_RDWR)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copies the request to the server until either side closes."""
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        return
