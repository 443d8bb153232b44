"""``POST /oauth/token``: the client credentials grant (RFC 6749 §4.4), and bearer checks.

Credentials come in HTTP Basic or in the form body, never both. No refresh token: clients ask
again before ``expires_in`` runs out. Errors are RFC 6749 JSON, except 429 and 5xx, which are
problem+json like the rest of the API.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import unquote

from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from sandbox.common import limits
from sandbox.models import TimsAccessToken, TimsApiClient, TimsSite
from sandbox.models.tims import ALL_SCOPES
from sandbox.tims.policy import anonymous_policy, client_policy, rate_headers
from sandbox.tims.problems import ApiProblem, json_response, new_request_id, oauth_error, problem_response

KNOWN_SCOPES = frozenset(ALL_SCOPES.split())


class TokenError(Exception):
    def __init__(self, error: str, status: int = 400, description: str = "", basic: bool = False):
        super().__init__(error)
        self.error, self.status, self.description, self.basic = error, status, description, basic


@dataclass(frozen=True)
class Access:
    client: TimsApiClient
    scopes: frozenset[str]


def _credentials(request: HttpRequest, form: QueryDict) -> tuple[str, str, bool]:
    header = request.headers.get("Authorization", "")
    in_body = "client_id" in form or "client_secret" in form
    if header.lower().startswith("basic "):
        if in_body:
            raise TokenError("invalid_request", 400, "Send the client credentials in HTTP Basic or in the body, not both.")
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise TokenError("invalid_client", 401, "Malformed Basic credentials.", basic=True) from None
        client_id, _, secret = decoded.partition(":")
        return unquote(client_id), unquote(secret), True
    if not in_body:
        raise TokenError("invalid_client", 401, "Client authentication is required.")
    return form.get("client_id", ""), form.get("client_secret", ""), False


def _issue(site: TimsSite, request: HttpRequest, form: QueryDict) -> tuple[TimsApiClient | None, dict]:
    client_id, secret, basic = _credentials(request, form)
    client = TimsApiClient.objects.filter(site=site, client_id=client_id).first()
    if client is None or not client.is_active or not hmac.compare_digest(client.client_secret, secret):
        raise TokenError("invalid_client", 401, "Unknown client or wrong secret.", basic=basic)
    grant_type = form.get("grant_type")
    if not grant_type:
        raise TokenError("invalid_request", 400, "grant_type is required.")
    if grant_type != "client_credentials":
        raise TokenError("unsupported_grant_type", 400, "Only client_credentials is supported.")
    requested = set(form.get("scope", "").split()) if form.get("scope", "").strip() else None
    if requested is not None and requested - KNOWN_SCOPES:
        raise TokenError("invalid_scope", 400, f"Unknown scope: {' '.join(sorted(requested - KNOWN_SCOPES))}.")
    granted = client.scope_set if requested is None else requested & client.scope_set
    if not granted:
        raise TokenError("invalid_scope", 400, "None of the requested scopes is granted to this client.")
    now = timezone.now()
    seconds = max(60, client.token_seconds)
    scope = " ".join(sorted(granted))
    token = TimsAccessToken.objects.create(
        token="tims_at_" + secrets.token_urlsafe(32), client=client, scopes=scope, created_at=now, expires_at=now + timedelta(seconds=seconds)
    )
    return client, {"access_token": token.token, "token_type": "Bearer", "expires_in": seconds, "scope": scope}


def _client_hint(site: TimsSite, request: HttpRequest, form: QueryDict) -> TimsApiClient | None:
    """Whose budget a token request spends: the named client's, valid secret or not."""
    try:
        client_id = _credentials(request, form)[0]
    except TokenError:
        return None
    return TimsApiClient.objects.filter(site=site, client_id=client_id).first()


@csrf_exempt
def token_view(request: HttpRequest, site: str) -> HttpResponse:
    request_id = new_request_id()
    site_row = TimsSite.objects.filter(code=site).first()
    if site_row is None:
        return problem_response(ApiProblem(404, "not-found", "No such TIMS site."), request_id)
    form = request.POST if request.method == "POST" else QueryDict()
    hint = _client_hint(site_row, request, form)
    policy = client_policy(hint) if hint else anonymous_policy(site_row)
    verdict = limits.consume(policy)
    headers = rate_headers(policy, verdict)
    if not verdict.allowed:
        retry = verdict.retry_after or 1
        response = problem_response(ApiProblem(429, "rate-limited", f"Rate limit exceeded; retry in {retry} s.", headers={"Retry-After": str(retry)}), request_id)
    elif request.method != "POST":
        response = oauth_error("invalid_request", 400, "Use POST.")
    elif request.content_type != "application/x-www-form-urlencoded":
        response = oauth_error("invalid_request", 400, "The body must be application/x-www-form-urlencoded.")
    else:
        try:
            _, body = _issue(site_row, request, form)
            response = json_response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
        except TokenError as exc:
            extra = {"WWW-Authenticate": 'Basic realm="tims"'} if exc.status == 401 and exc.basic else {}
            response = oauth_error(exc.error, exc.status, exc.description, extra)
    for name, value in headers.items():
        response[name] = value
    response["Request-Id"] = request_id
    return response


def bearer_access(request: HttpRequest, site: TimsSite) -> Access:
    """The token's client and scopes, or a 401 ``unauthorized`` problem."""
    header = request.headers.get("Authorization", "")
    challenge = {"WWW-Authenticate": 'Bearer realm="tims", error="invalid_token"'}
    if not header.lower().startswith("bearer "):
        raise ApiProblem(401, "unauthorized", "A bearer token is required.", headers={"WWW-Authenticate": 'Bearer realm="tims"'})
    token = TimsAccessToken.objects.select_related("client__site").filter(token=header[7:].strip()).first()
    if token is None or token.client.site_id != site.pk or not token.client.is_active:
        raise ApiProblem(401, "unauthorized", "The access token is invalid or revoked.", headers=challenge)
    if token.expires_at <= timezone.now():
        raise ApiProblem(401, "unauthorized", "The access token has expired.", headers=challenge)
    return Access(token.client, frozenset(token.scopes.split()))
