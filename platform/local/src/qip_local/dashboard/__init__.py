"""The live dashboard of a running local system: upload, watch images travel the workflow.

`qip serve` starts it with `serve_dashboard(client, port=...)`; tests build the ASGI app with
`create_app(DashboardBackend(client))`.
"""

from qip_local.dashboard.app import create_app
from qip_local.dashboard.backend import DashboardBackend
from qip_local.dashboard.server import DashboardServer, serve_dashboard

__all__ = ["DashboardBackend", "DashboardServer", "create_app", "serve_dashboard"]
