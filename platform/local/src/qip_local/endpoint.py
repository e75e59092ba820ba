"""The session, resources and cached boto3 clients every part of `LocalClient` works with."""

from __future__ import annotations

import threading
from typing import Any

from qip_local.provision import Resources
from qip_shared.config import DEFAULT_MAX_BYTES


class ClientBase:
    """A boto3 session on one endpoint (None: AWS itself) and the system's resources.

    `direct_upload`: put files straight into the upload bucket (with the session's credentials,
    under the key upload-url would give) instead of asking the upload-url function: a deployed
    stack's upload-url sits behind Cognito.
    """

    def __init__(
        self,
        session: Any,
        resources: Resources,
        *,
        endpoint_url: str | None = None,
        direct_upload: bool = False,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.session = session
        self.resources = resources
        self.endpoint_url = endpoint_url
        self.direct_upload = direct_upload
        self.max_bytes = max_bytes
        self._clients: dict[str, Any] = {}
        # Creating clients from one session is not thread-safe; using them is.
        self._clients_lock = threading.Lock()

    def client(self, service: str) -> Any:
        """A (cached) boto3 client of the local endpoint."""
        with self._clients_lock:
            if service not in self._clients:
                self._clients[service] = self.session.client(
                    service, endpoint_url=self.endpoint_url
                )
            return self._clients[service]
