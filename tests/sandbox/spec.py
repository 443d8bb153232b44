"""Validation of the emulator's traffic against Xero's official OpenAPI documents, read from
``../shared/specs/xero`` beside the repository (never copied into it)."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import yaml
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

SPEC_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "specs" / "xero"
ACCOUNTING = SPEC_DIR / "xero_accounting.yaml"
IDENTITY = SPEC_DIR / "xero-identity.yaml"
WEBHOOKS = SPEC_DIR / "xero-webhooks.yaml"
API_PREFIX = "/sandbox/xero/api.xro/2.0"


def specs_present() -> bool:
    return ACCOUNTING.exists() and IDENTITY.exists() and WEBHOOKS.exists()


def _xero_datetime(value: object) -> bool:
    # Xero's /connections dates have no offset ("2019-12-07T18:46:19.5165400", the spec's own
    # example), which strict RFC 3339 date-time refuses; accept ISO datetimes with or without it.
    if not isinstance(value, str):
        return True
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00"))
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


@cache
def load(path: Path) -> OpenAPI:
    with path.open() as handle:
        document = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    # The accounting document fails its own meta-schema (e.g. boolean defaults written as
    # "false"), so the document itself is not validated; requests and responses still are.
    config = Config(spec_validator_cls=None, extra_format_validators={"date-time": _xero_datetime})
    return OpenAPI.from_dict(document, config=config)


@dataclass
class SpecRequest:
    host_url: str
    path: str
    method: str
    parameters: RequestParameters
    body: bytes | None
    content_type: str


@dataclass
class SpecResponse:
    status_code: int
    headers: Headers
    data: bytes | None
    content_type: str


def to_spec_request(*, method: str, url_path: str, query: str, headers: dict[str, str], body: bytes | None, content_type: str, host_url: str, prefix: str) -> SpecRequest:
    assert url_path.startswith(prefix), url_path
    path = url_path[len(prefix) :] or "/"
    return SpecRequest(
        host_url=host_url,
        path=path,
        method=method.lower(),
        parameters=RequestParameters(
            query=ImmutableMultiDict(parse_qsl(query, keep_blank_values=True)),
            header=Headers(headers),
            cookie=ImmutableMultiDict(),
            path={},
        ),
        body=body or None,
        content_type=content_type or "application/json",
    )


def to_spec_response(*, status: int, headers: dict[str, str], body: bytes) -> SpecResponse:
    content_type = headers.get("Content-Type", "application/json").split(";")[0]
    return SpecResponse(status_code=status, headers=Headers(headers), data=body, content_type=content_type)


def check_accounting(method: str, url: str, req_headers: dict, req_body: bytes | None, status: int, resp_headers: dict, resp_body: bytes, *, check_request: bool = True) -> None:
    """Raise when the request (for a 2xx answer) or the answer (200/204/400, what the spec
    models) does not match the accounting document."""
    parts = urlsplit(url)
    request = to_spec_request(
        method=method,
        url_path=parts.path,
        query=parts.query,
        headers=req_headers,
        body=req_body,
        content_type=req_headers.get("Content-Type", "application/json"),
        host_url="https://api.xero.com",
        prefix=API_PREFIX,
    )
    request.path = "/api.xro/2.0" + request.path
    spec = load(ACCOUNTING)
    warnings.filterwarnings("ignore", "Unsupported scheme type")  # OAuth2 security is checked by the emulator
    if check_request and 200 <= status < 300:
        spec.validate_request(request)
    if status in (200, 204, 400):
        spec.validate_response(request, to_spec_response(status=status, headers=resp_headers, body=resp_body))
