"""A stand-in X-Ray daemon for tests: the UDP socket the X-Ray SDK sends its segments to."""

from __future__ import annotations

import json
import socket
import threading
from typing import Any


class XRayDaemon:
    """Listens on 127.0.0.1 until closed, keeping every datagram it receives."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.datagrams: list[bytes] = []
        threading.Thread(target=self._receive, name="xray-daemon", daemon=True).start()

    @property
    def address(self) -> str:
        """`host:port` for AWS_XRAY_DAEMON_ADDRESS."""
        host, port = self.sock.getsockname()
        return f"{host}:{port}"

    def _receive(self) -> None:
        while True:
            try:
                data, _ = self.sock.recvfrom(65536)
            except OSError:
                return
            self.datagrams.append(data)

    def segments(self) -> list[dict[str, Any]]:
        """The documents received (each datagram is a JSON header line, then the document)."""
        return [json.loads(d.split(b"\n", 1)[1]) for d in self.datagrams if b"\n" in d]

    def close(self) -> None:
        """Stop listening."""
        self.sock.close()
