"""The shared HTTP client: retry policy by class, Retry-After, the rate budget, 401 refresh,
unknown outcomes of writes, the call log, exact-Decimal JSON, paging."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from datetime import date
from decimal import Decimal

import httpx
import pytest
import respx

from connectors.base import (
    AuthError,
    ErrorClass,
    MemoryCallRecorder,
    NotFound,
    RateLimited,
    RateObservation,
    TransientError,
    UnknownOutcome,
    ValidationFailed,
)
from connectors.http import (
    Backoff,
    HttpClient,
    Page,
    RateHeaders,
    RetryPolicy,
    items,
    json_dumps,
    json_encode,
    json_loads,
    pages_by_cursor,
    pages_by_number,
    parse_retry_after,
    redact_url,
)
from connectors.rate import InProcessRateBudget, RateLimits, Window

BASE = "https://api.example.test/v1/"
HEADERS = RateHeaders(remaining={"minute": "X-MinLimit-Remaining", "day": "X-DayLimit-Remaining"}, problem="X-Rate-Limit-Problem", request_id="X-Request-Id")


class FakeClock:
    """Simulated time: sleeping advances it, so minute windows run in microseconds."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class StaticAuth:
    def __init__(self) -> None:
        self.token = "token-1"
        self.refreshes = 0

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def handle_unauthorized(self, refused: Mapping[str, str]) -> bool:
        self.refreshes += 1
        self.token = f"token-{self.refreshes + 1}"
        return True


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def recorder():
    return MemoryCallRecorder()


def make_client(clock: FakeClock, recorder=None, **kwargs) -> HttpClient:
    return HttpClient(BASE, recorder=recorder, rate_headers=HEADERS, sleep=clock.sleep, clock=clock, **kwargs)


# --- Retry policy ------------------------------------------------------------------------------


@respx.mock
def test_transient_errors_are_retried_with_growing_jittered_waits(clock, recorder):
    route = respx.get(BASE + "things").mock(
        side_effect=[httpx.Response(502), httpx.ConnectError("refused"), httpx.Response(503), httpx.Response(200, json={"ok": True})]
    )
    client = make_client(clock, recorder)
    assert client.get_json("things") == {"ok": True}
    assert route.call_count == 4
    assert len(clock.sleeps) == 3
    # initial * 2**n, plus at most `jitter` (1 s) at random.
    for n, wait in enumerate(clock.sleeps):
        assert 2**n <= wait <= 2**n + 1
    assert [c.attempt for c in recorder.calls] == [1, 2, 3, 4]
    assert [c.error_class for c in recorder.calls] == ["transient", "transient", "transient", ""]


@respx.mock
def test_retries_are_logged_without_query_strings(clock, caplog):
    respx.get(BASE + "things").mock(side_effect=[httpx.Response(503, text="Organisation offline"), httpx.Response(200, json={})])
    with caplog.at_level("INFO", logger="connectors.http"):
        make_client(clock, auth=StaticAuth()).get_json("things", params={"code": "secret-code"})
    [record] = caplog.records
    assert record.getMessage().startswith("retrying GET things (attempt 2) in ")
    assert record.getMessage().endswith("after transient: Organisation offline")
    assert "secret-code" not in caplog.text and "token-1" not in caplog.text


@respx.mock
def test_transient_retries_stop_at_the_policy_and_raise(clock):
    respx.get(BASE + "things").mock(return_value=httpx.Response(500, text="Internal error"))
    policy = RetryPolicy(by_class={ErrorClass.TRANSIENT: Backoff(attempts=3, initial=0.5, maximum=1, jitter=0)})
    with pytest.raises(TransientError) as caught:
        make_client(clock, retry_policy=policy).get_json("things")
    assert caught.value.status_code == 500 and caught.value.message == "Internal error"
    assert clock.sleeps == [0.5, 1.0]


@respx.mock
def test_a_keyed_write_answered_with_an_error_is_not_resent_under_the_same_key(clock):
    """Xero caches error answers per Idempotency-Key: resending would replay the 503."""
    route = respx.put(BASE + "things").mock(side_effect=[httpx.Response(503, text="Offline"), httpx.Response(200, json={})])
    with pytest.raises(TransientError):
        make_client(clock).request("PUT", "things", json={"n": 1}, idempotency_key="batch-1")
    assert route.call_count == 1 and clock.sleeps == []
    # Without a key the same write is retried as usual.
    route.side_effect = [httpx.Response(503, text="Offline"), httpx.Response(200, json={})]
    make_client(clock).request("PUT", "things", json={"n": 1})
    assert route.call_count == 3


@respx.mock
def test_validation_errors_are_not_retried(clock, recorder):
    route = respx.post(BASE + "things").mock(return_value=httpx.Response(400, json={"error": "bad_thing", "message": "Name is required"}))
    with pytest.raises(ValidationFailed) as caught:
        make_client(clock, recorder).request("POST", "things", json={"name": ""})
    assert (recorder.calls[0].error_class, recorder.calls[0].error) == ("validation", "Name is required")
    assert route.call_count == 1 and clock.sleeps == []
    assert caught.value.code == "bad_thing" and caught.value.message == "Name is required"
    assert caught.value.response == {"error": "bad_thing", "message": "Name is required"}


@respx.mock
def test_404_is_not_found(clock):
    respx.get(BASE + "things/1").mock(return_value=httpx.Response(404))
    with pytest.raises(NotFound):
        make_client(clock).request("GET", "things/1")


@respx.mock
def test_429_waits_for_retry_after_then_succeeds(clock, recorder):
    respx.get(BASE + "things").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "17", "X-Rate-Limit-Problem": "minute"}),
            httpx.Response(200, json=[]),
        ]
    )
    assert make_client(clock, recorder).get_json("things") == []
    assert len(clock.sleeps) == 1 and 17 <= clock.sleeps[0] <= 19
    assert recorder.calls[0].status_code == 429
    assert recorder.calls[0].rate.retry_after == 17 and recorder.calls[0].rate.problem == "minute"


@respx.mock
def test_429_for_the_day_is_not_slept_through(clock):
    respx.get(BASE + "things").mock(return_value=httpx.Response(429, headers={"Retry-After": "36000", "X-Rate-Limit-Problem": "day"}))
    with pytest.raises(RateLimited) as caught:
        make_client(clock).get_json("things")
    assert caught.value.retry_after == 36000 and caught.value.problem == "day"
    assert clock.sleeps == []


@respx.mock
def test_a_429_pauses_every_worker_of_the_tenant(clock):
    budget = InProcessRateBudget(RateLimits(windows=(Window("minute", 60, 60),)), clock=clock)
    respx.get(BASE + "a").mock(side_effect=[httpx.Response(429, headers={"Retry-After": "30"}), httpx.Response(200, json={})])
    respx.get(BASE + "b").mock(return_value=httpx.Response(200, json={}))
    first = make_client(clock, budget=budget, budget_key="sys:t1", retry_policy=RetryPolicy(by_class={}))
    other = make_client(clock, budget=budget, budget_key="sys:t1")
    with pytest.raises(RateLimited):
        first.get_json("a")  # no in-call retries in this policy: the 429 surfaces
    other.get_json("b")
    # The other worker waited out the 429's Retry-After through the shared budget.
    assert sum(clock.sleeps) >= 30


# --- 401 ----------------------------------------------------------------------------------------


@respx.mock
def test_401_refreshes_once_and_retries_with_the_new_token(clock):
    route = respx.get(BASE + "me").mock(side_effect=[httpx.Response(401), httpx.Response(200, json={"me": 1})])
    auth = StaticAuth()
    assert make_client(clock, auth=auth).get_json("me") == {"me": 1}
    assert auth.refreshes == 1
    assert [c.request.headers["Authorization"] for c in route.calls] == ["Bearer token-1", "Bearer token-2"]


@respx.mock
def test_the_retry_after_a_401_is_drawn_from_the_budget_too(clock):
    respx.get(BASE + "me").mock(side_effect=[httpx.Response(401), httpx.Response(200, json={})])
    budget = InProcessRateBudget(RateLimits(windows=(Window("minute", 60, 60),)), clock=clock)
    make_client(clock, auth=StaticAuth(), budget=budget, budget_key="sys:t1").get_json("me")
    assert len(budget._grants[("sys:t1", "minute")]) == 2


@respx.mock
def test_second_401_is_an_auth_error(clock):
    respx.get(BASE + "me").mock(return_value=httpx.Response(401, json={"title": "Unauthorized", "detail": "TokenExpired"}))
    auth = StaticAuth()
    with pytest.raises(AuthError) as caught:
        make_client(clock, auth=auth).get_json("me")
    assert auth.refreshes == 1 and caught.value.message == "TokenExpired"


# --- Writes and unknown outcomes ---------------------------------------------------------------


@respx.mock
@pytest.mark.parametrize("failure", [httpx.ReadTimeout("read timed out"), httpx.RemoteProtocolError("Server disconnected"), httpx.ReadError("reset")])
def test_a_write_that_loses_its_answer_is_an_unknown_outcome_not_retried(clock, recorder, failure):
    route = respx.post(BASE + "orders").mock(side_effect=failure)
    with pytest.raises(UnknownOutcome) as caught:
        make_client(clock, recorder).request("POST", "orders", json={"n": 1}, idempotency_key="order-1")
    assert route.call_count == 1 and clock.sleeps == []
    assert caught.value.error_class is ErrorClass.TRANSIENT
    assert recorder.calls[0].status_code is None and recorder.calls[0].idempotency_key == "order-1"


@respx.mock
def test_a_gateway_timeout_on_a_write_is_an_unknown_outcome(clock):
    respx.put(BASE + "orders").mock(return_value=httpx.Response(504))
    with pytest.raises(UnknownOutcome):
        make_client(clock).request("PUT", "orders", json={})


@respx.mock
def test_a_write_that_never_connected_is_retried(clock):
    route = respx.post(BASE + "orders").mock(side_effect=[httpx.ConnectError("refused"), httpx.Response(201, json={"id": 7})])
    assert make_client(clock).request("POST", "orders", json={}).status_code == 201
    assert route.call_count == 2


@respx.mock
def test_a_read_that_loses_its_answer_is_retried(clock):
    route = respx.get(BASE + "orders").mock(side_effect=[httpx.ReadTimeout("slow"), httpx.Response(200, json=[])])
    assert make_client(clock).get_json("orders") == []
    assert route.call_count == 2


# --- Call log -----------------------------------------------------------------------------------


@respx.mock
def test_call_log_has_no_secrets_and_carries_ids_and_rate_headers(clock, recorder):
    route = respx.get(BASE + "things").mock(
        return_value=httpx.Response(200, json={}, headers={"X-MinLimit-Remaining": "41", "X-DayLimit-Remaining": "4100", "X-Request-Id": "req-9"})
    )
    client = make_client(clock, recorder, auth=StaticAuth(), correlation_id="corr-123")
    client.request("GET", "things", params={"code": "auth-code-secret", "page": 2, "state": "xyz"})
    sent = route.calls[0].request
    assert sent.headers["X-Correlation-Id"] == "corr-123"
    call = recorder.calls[0]
    assert call.path == "/v1/things?code=***&page=2&state=***"
    assert "token-1" not in repr(call) and "auth-code-secret" not in repr(call)
    assert call.correlation_id == "corr-123" and call.request_id == "req-9"
    assert call.rate == RateObservation(remaining={"minute": 41, "day": 4100})
    assert call.method == "GET" and call.status_code == 200 and call.started_at.tzinfo is not None


def test_redact_url_keeps_safe_params():
    url = httpx.URL("https://h/p?where=Name%3D%3D%22x%22&refresh_token=abc&client_secret=def")
    assert redact_url(url) == "/p?where=Name%3D%3D%22x%22&refresh_token=***&client_secret=***"


# --- Rate budget through the client ---------------------------------------------------------------


@respx.mock
def test_the_budget_keeps_a_burst_under_the_remote_limit(clock):
    """A stand-in that 429s past 10 calls a minute; 35 calls through the budget never meet it."""
    seen: list[float] = []

    def limited(request):
        recent = [t for t in seen if t > clock.now - 60]
        if len(recent) >= 10:
            return httpx.Response(429, headers={"Retry-After": "60"})
        seen.append(clock.now)
        return httpx.Response(200, json={}, headers={"X-MinLimit-Remaining": str(10 - len(recent) - 1)})

    respx.get(BASE + "burst").mock(side_effect=limited)
    budget = InProcessRateBudget(RateLimits(windows=(Window("minute", 10, 60),), concurrency=5), clock=clock)
    client = make_client(clock, budget=budget, budget_key="sys:t1", retry_policy=RetryPolicy(by_class={}))
    for _ in range(35):
        client.get_json("burst")
    assert len(seen) == 35
    assert max(sum(1 for t in seen if start <= t < start + 60) for start in seen) <= 10
    assert clock.now - 1_000.0 >= 180  # three full minutes of pacing happened


@respx.mock
def test_remaining_headers_pace_a_backfill_below_the_limit(clock):
    """Someone else spent most of the minute: the API says 3 left after our first call, so
    the budget allows 2 more (keeping `reserve`=1 back), then waits for the window."""
    times: list[float] = []

    def answer(request):
        times.append(clock.now)
        return httpx.Response(200, json={}, headers={"X-MinLimit-Remaining": str(4 - len(times))})

    respx.get(BASE + "x").mock(side_effect=answer)
    budget = InProcessRateBudget(RateLimits(windows=(Window("minute", 60, 60),), reserve=1), clock=clock)
    client = make_client(clock, budget=budget, budget_key="sys:t1")
    for _ in range(4):
        client.get_json("x")
    assert times[1] == times[2] == times[0]
    assert times[3] >= times[0] + 60


@respx.mock
def test_budget_wait_beyond_max_wait_raises_rate_limited(clock):
    respx.get(BASE + "x").mock(return_value=httpx.Response(200, json={}))
    budget = InProcessRateBudget(RateLimits(windows=(Window("day", 1, 86_400),)), clock=clock)
    client = make_client(clock, budget=budget, budget_key="sys:t1")
    client.get_json("x")
    with pytest.raises(RateLimited) as caught:
        client.get_json("x")
    assert caught.value.retry_after == pytest.approx(86_400)
    assert budget.enter("sys:t1") is not None  # the slot was given back


def test_budget_needs_a_key():
    with pytest.raises(ValueError):
        HttpClient(BASE, budget=InProcessRateBudget(RateLimits(windows=())))


# --- JSON and paging ----------------------------------------------------------------------------


def test_json_money_stays_decimal_both_ways():
    assert json_loads(b'{"Amount": 148062.76, "Qty": 1.0000, "n": 3}') == {"Amount": Decimal("148062.76"), "Qty": Decimal("1.0000"), "n": 3}
    body = json_dumps({"Amount": Decimal("0.10"), "Rate": Decimal("1E+2"), "Lines": [{"x": None, "ok": True}], "Name": 'quo"te'})
    assert body == '{"Amount":0.10,"Rate":100,"Lines":[{"x":null,"ok":true}],"Name":"quo\\"te"}'
    assert json.loads(body, parse_float=Decimal)["Amount"] == Decimal("0.10")
    with pytest.raises(TypeError):
        json_dumps({"Amount": 0.1})
    with pytest.raises(ValueError):
        json_dumps(Decimal("NaN"))


def test_json_body_refuses_what_it_cannot_write_exactly_wherever_it_sits():
    from collections import namedtuple
    from enum import Enum
    from types import MappingProxyType

    class Kind(str, Enum):
        SALE = "ACCREC"

    class Lines(list):
        pass

    Pair = namedtuple("Pair", "code amount")
    body = {"Type": Kind.SALE, "Lines": ({"Qty": Decimal("2.5000"), "Tags": ["a", 1]},),
            "Extra": MappingProxyType({"Rate": Decimal("-0.125")}), 7: "seven", "Name": "Café",
            "Pair": Pair("200", Decimal("1.50")), "More": Lines([Decimal("3")])}
    assert json_encode(body) == ('{"Type":"ACCREC","Lines":[{"Qty":2.5000,"Tags":["a",1]}],"Extra":{"Rate":-0.125},'
                                 '"7":"seven","Name":"Café","Pair":["200",1.50],"More":[3]}').encode()
    assert json_dumps(body) == json_encode(body).decode()
    for bad, error in [
        ({"Lines": [{"Amount": [Decimal("1"), 0.5]}]}, TypeError),  # a float deep in a list
        ({"Extra": MappingProxyType({"Rate": 1.5})}, TypeError),  # in a mapping that is no dict
        ({"Lines": ({"Amount": Decimal("Infinity")},)}, ValueError),
        ({"Date": date(2026, 1, 2)}, TypeError),  # dates are the codecs' to write as text
        ({"Tags": {"a"}}, TypeError),
        ({"Pair": Pair("200", 1.5)}, TypeError),  # in a named tuple
    ]:
        with pytest.raises(error):
            json_encode(bad)


def test_parse_retry_after_seconds_and_dates():
    assert parse_retry_after("12") == 12
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # in the past
    assert parse_retry_after("soon") is None


def test_page_number_paging_stops_on_has_more():
    fetched = []

    def fetch(n):
        fetched.append(n)
        return Page(items=[n * 10, n * 10 + 1], has_more=n < 3)

    assert list(items(pages_by_number(fetch))) == [10, 11, 20, 21, 30, 31]
    assert fetched == [1, 2, 3]


def test_page_number_paging_stops_on_an_empty_page():
    assert list(items(pages_by_number(lambda n: Page(items=[] if n > 1 else ["a"], has_more=True)))) == ["a"]


def test_cursor_paging_follows_cursors_and_stops_on_a_repeat():
    pages = {None: Page(["a"], next_cursor="c1"), "c1": Page(["b"], next_cursor="c2"), "c2": Page(["c"])}
    assert list(items(pages_by_cursor(lambda c: pages[c]))) == ["a", "b", "c"]
    looping = itertools.count()
    assert len(list(pages_by_cursor(lambda c: Page([next(looping)], next_cursor="same")))) == 2


def _ssl_context(client: HttpClient) -> object:
    return client._client._transport._pool._ssl_context


def test_clients_share_one_system_trust_store_and_keep_their_own_bundle() -> None:
    import ssl

    from connectors.http import system_trust

    first, second = HttpClient(BASE), HttpClient(BASE)
    own = ssl.create_default_context()
    private = HttpClient(BASE, verify=own)
    try:
        assert _ssl_context(first) is _ssl_context(second) is system_trust()
        assert system_trust().verify_mode == ssl.CERT_REQUIRED and system_trust().check_hostname
        assert _ssl_context(private) is own
    finally:
        for client in (first, second, private):
            client.close()
