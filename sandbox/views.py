"""Views shared by all emulators: the fault settings endpoint."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from sandbox.common.faults import fault_setting_get, fault_setting_update
from sandbox.models import FaultSetting, SandboxSystem


def _as_json(setting: FaultSetting | None, system: str, tenant: str) -> dict:
    setting = setting or FaultSetting(system=system, tenant_key=tenant)
    return {
        "system": system,
        "tenant": tenant,
        "seed": setting.seed,
        "error_rate": float(setting.error_rate),
        "error_status": setting.error_status,
        "rate_limit_rate": float(setting.rate_limit_rate),
        "slow_rate": float(setting.slow_rate),
        "slow_ms": setting.slow_ms,
        "drop_rate": float(setting.drop_rate),
        "draws": setting.draws,
    }


@csrf_exempt
@require_http_methods(["GET", "PUT"])
def faults_endpoint(request: HttpRequest, system: str, tenant: str) -> HttpResponse:
    """GET or PUT ``/sandbox/faults/<system>/<tenant>``: a JSON object of FaultSetting fields.
    Only in the sandbox (it is mounted only when SANDBOX_ENABLED)."""
    if system not in SandboxSystem.values:
        return JsonResponse({"error": f"unknown system {system!r}"}, status=404)
    if request.method == "GET":
        return JsonResponse(_as_json(fault_setting_get(system=system, tenant_key=tenant), system, tenant))
    try:
        values = json.loads(request.body or b"{}")
        if not isinstance(values, dict):
            raise ValueError("the body must be a JSON object")
        for read_only in ("system", "tenant", "draws"):
            values.pop(read_only, None)
        setting = fault_setting_update(system=system, tenant_key=tenant, **values)
    except (ValueError, TypeError) as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse(_as_json(setting, system, tenant))
