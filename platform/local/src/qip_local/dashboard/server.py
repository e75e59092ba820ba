"""Serve the dashboard with uvicorn on a background thread, on 127.0.0.1 only."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

from qip_local.dashboard.app import create_app
from qip_local.dashboard.backend import DashboardBackend

HOST = "127.0.0.1"


class DashboardServer:
    """The dashboard of a running system, on `http://127.0.0.1:<port>` (0: a free port)."""

    def __init__(self, client: Any, *, port: int = 0) -> None:
        self.app = create_app(DashboardBackend(client))
        self.port = port
        self.url: str | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> str:
        """Bind, start serving on a daemon thread, and return the URL once it answers."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, self.port))
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        # On a non-main thread uvicorn leaves SIGINT/SIGTERM to the CLI, which stops us.
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="qip-dashboard", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the dashboard server did not start")
            time.sleep(0.02)
        self.url = f"http://{HOST}:{port}"
        return self.url

    def stop(self) -> None:
        """Ask uvicorn to finish and wait for its thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None


@contextlib.contextmanager
def serve_dashboard(client: Any, *, port: int = 0) -> Iterator[str]:
    """Serve the dashboard of `client`'s system while the block runs; yields its URL."""
    server = DashboardServer(client, port=port)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()
