"""Routes of the emulators, served under /sandbox/ when SANDBOX_ENABLED is on.

Xero's hosts map to paths: login.xero.com/identity/connect/authorize and
identity.xero.com/connect/token → /sandbox/xero/identity/connect/...;
api.xero.com/connections → /sandbox/xero/connections; api.xero.com/api.xro/2.0 →
/sandbox/xero/api.xro/2.0.

A TIMS site's base URL is /sandbox/tims/<site code>: /oauth/token and /api/v1/... below it.
"""

from django.urls import path, re_path

from sandbox import views
from sandbox.tims import api as tims_api, tokens as tims_tokens
from sandbox.xero import api, identity

app_name = "sandbox"

urlpatterns = [
    path("faults/<str:system>/<str:tenant>", views.faults_endpoint, name="faults"),
    path("xero/identity/connect/authorize", identity.authorize, name="xero-authorize"),
    path("xero/identity/connect/token", identity.token, name="xero-token"),
    path("xero/identity/connect/revocation", identity.revocation, name="xero-revocation"),
    re_path(r"^xero/[Cc]onnections$", identity.connections, name="xero-connections"),
    re_path(
        r"^xero/[Cc]onnections/(?P<connection_id>[0-9a-fA-F-]{36})$",
        identity.connection_delete,
        name="xero-connection",
    ),
    re_path(r"^xero/api\.xro/2\.0/(?P<path>.+)$", api.accounting_api, name="xero-api"),
    re_path(r"^tims/(?P<site>[A-Za-z0-9_-]+)/oauth/token$", tims_tokens.token_view, name="tims-token"),
    re_path(r"^tims/(?P<site>[A-Za-z0-9_-]+)/api/v1/(?P<path>.*)$", tims_api.api_view, name="tims-api"),
]
