"""The client's spans and metrics: one CLIENT span per call, its route, and each error path."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from schlage_async import (
    ConnectionFailedError,
    CredentialNotFoundError,
    EngageClient,
    NoTourPayload,
    Operation,
    RateLimitedError,
    RetryPolicy,
    SchlageClient,
    SchlageError,
    ServiceUnavailableError,
    ValidationError,
)
from schlage_async._routes import ENGAGE_ROUTES, ROUTES
from schlage_async.simulator import FaultSpec, SimulatorHandle

from .conftest import Recorded, client_for

HEX = "0123456789abcdef" * 6
USER_A = "0c0c0c0c-0000-4000-8000-0000000000a1"
USER_B = "0c0c0c0c-0000-4000-8000-0000000000b2"


async def _no_sleep(_seconds: float) -> None:
    await asyncio.sleep(0)


async def _every_operation(client: SchlageClient) -> None:
    """Call every API-Only operation once, each answered with its success status."""
    created = await client.create_credential(
        user_id=USER_A, mobile_number="+15550001111", card_format="26A", facility_code=1
    )
    await client.resend_invite(user_id=USER_A)
    payload = NoTourPayload(lock_id=1, serial_number="LOCK-1", no_tour_payload=HEX)
    await client.save_no_tour_payloads(created.credential_id, payloads=[payload])
    await client.get_credential(credential_id=created.credential_id)
    await client.get_credential_by_user(user_id=USER_A)
    await client.list_credentials(page_size=10)
    await client.delete_no_tour_payloads(credential_id=created.credential_id)
    await client.save_no_tour_payloads(created.credential_id, payloads=[payload])
    await client.delete_no_tour_payloads_by_device(serial_number="LOCK-1")
    await client.delete_credential(credential_id=created.credential_id)
    await client.create_credential(
        user_id=USER_B, mobile_number="+15550002222", card_format="26A", facility_code=1
    )
    await client.delete_credential_by_user(user_id=USER_B)


async def test_every_operation_is_one_client_span_named_for_it_with_its_route_template(
    simulator: SimulatorHandle, recorded: Recorded
) -> None:
    """``schlage.<operation>``, kind CLIENT, the HTTP conventions' attributes, no id in them."""
    from opentelemetry.trace import SpanKind, StatusCode

    async with client_for(simulator, recorded) as client:
        await _every_operation(client)
    spans = recorded.spans()
    by_name = {span.name: span for span in spans}
    for operation, route in ROUTES.items():
        span = by_name[f"schlage.{operation.value}"]
        attributes = dict(span.attributes or {})
        assert span.kind is SpanKind.CLIENT
        assert span.status.status_code is StatusCode.UNSET
        assert attributes == {
            "http.request.method": route.method,
            "http.response.status_code": route.success,
            "server.address": "127.0.0.1",
            "server.port": int(simulator.api_base_url.rsplit(":", 1)[1].split("/")[0]),
            "url.template": "/test/smc-api" + route.path,
            "schlage.operation": operation.value,
            "schlage.retry_count": 0,
        }, operation
        template = str(attributes["url.template"])
        assert not re.search(r"[0-9a-f]{8}-|\d{3,}", template), template  # placeholders only
    assert len([s for s in spans if s.name == "schlage.authentication_token"]) == 1
    calls = len([s for s in spans if s.name.startswith("schlage.") and "token" not in s.name])
    assert recorded.total("schlage.client.requests", **{"schlage.status_class": "2xx"}) == (
        calls + 1  # the login
    )
    assert len(recorded.points("schlage.client.duration")) == len(ROUTES)


async def test_every_engage_operation_is_a_span_too(
    simulator: SimulatorHandle, recorded: Recorded
) -> None:
    """Surface B: the same span per call, its own route templates."""
    admin = simulator.admin
    async with EngageClient(
        base_url=simulator.engage_base_url,
        username=admin.username,
        password=admin.password,
        subscription_key=admin.subscription_key,
        **recorded.providers(),
    ) as client:
        uploaded = await client.upload_credential(user_id="acs-42", access_profile="ap-1")
        await client.list_credentials(user_id="acs-42")
        await client.get_credential(credential_id=uploaded.credential_id)
        await client.delete_credential(credential_id=uploaded.credential_id)
        await client.list_devices()
    by_name = {span.name: span for span in recorded.spans()}
    for operation, route in ENGAGE_ROUTES.items():
        attributes = dict(by_name[f"schlage.{operation.value}"].attributes or {})
        assert attributes["url.template"] == "/engage" + route.path
        assert attributes["http.response.status_code"] == route.success


async def _login_first(client: SchlageClient) -> None:
    await client.list_credentials(page_size=1)


ErrorCase = tuple[
    str,  # the fault spec set after the login ("" for none)
    Callable[[SchlageClient], Awaitable[object]],  # the failing call
    type[SchlageError],
    int | None,  # the last status, None: no answer
    str,  # the status class of the metric
    int,  # retries the span counts
]

ERRORS: dict[str, ErrorCase] = {
    "400": (
        "",
        lambda c: c.create_credential(
            user_id=USER_A, mobile_number="+1555", card_format="26A", facility_code=1
        ),
        ValidationError,
        400,
        "4xx",
        0,
    ),
    "404": (
        "",
        lambda c: c.get_credential(credential_id=USER_B),
        CredentialNotFoundError,
        404,
        "4xx",
        0,
    ),
    "429": ("storm=1.0", lambda c: c.get_credential(credential_id=USER_B),
            RateLimitedError, 429, "429", 3),
    "5xx": ("503=1.0", lambda c: c.get_credential(credential_id=USER_B),
            ServiceUnavailableError, 503, "5xx", 3),
}  # fmt: skip


@pytest.mark.parametrize("case", ERRORS, ids=ERRORS)
async def test_an_error_answer_fails_the_span_with_its_class_status_and_retries(
    simulator: SimulatorHandle, recorded: Recorded, case: str
) -> None:
    """``error.type`` is the class name, status ERROR, each retry an event with its wait."""
    from opentelemetry.trace import StatusCode

    faults, call, error, status, label, retries = ERRORS[case]
    async with client_for(
        simulator, recorded, validate=False, sleep=_no_sleep, retry=RetryPolicy(attempts=4)
    ) as client:
        await _login_first(client)
        if faults:
            simulator.set_faults(FaultSpec.parse(faults))
        with pytest.raises(error) as raised:
            await call(client)
    (span,) = [s for s in recorded.spans() if s.status.status_code is StatusCode.ERROR]
    attributes = dict(span.attributes or {})
    assert attributes["error.type"] == type(raised.value).__name__
    assert attributes["http.response.status_code"] == status
    assert attributes["schlage.retry_count"] == retries
    events = [e for e in span.events if e.name == "schlage.retry"]
    assert [e.attributes["schlage.retry.number"] for e in events] == list(  # type: ignore[index]
        range(1, retries + 1)
    )
    assert all(e.attributes["http.response.status_code"] == status for e in events)  # type: ignore[index]
    assert all(float(e.attributes["schlage.retry.wait"]) >= 0 for e in events)  # type: ignore[arg-type,index]
    operation = str(attributes["schlage.operation"])
    assert (
        recorded.total(
            "schlage.client.requests",
            **{"schlage.operation": operation, "schlage.status_class": label},
        )
        == retries + 1
    )
    rate_limited = recorded.total("schlage.client.rate_limited", **{"schlage.operation": operation})
    assert rate_limited == (retries + 1 if status == 429 else 0)


async def test_a_refused_token_is_an_event_then_a_renewal_span_with_the_login_under_it(
    simulator: SimulatorHandle, recorded: Recorded
) -> None:
    """401: the call's span notes it, one ``schlage.token_renewal`` span logs in again."""
    from opentelemetry.trace import StatusCode

    async with client_for(simulator, recorded) as client:
        await _login_first(client)
        simulator.revoke_tokens()
        await client.list_credentials(page_size=1)
    renewals = recorded.spans("schlage.token_renewal")
    assert [dict(r.attributes or {}) for r in renewals] == [
        {"schlage.token.reason": "none", "schlage.token.outcome": "login"},
        {"schlage.token.reason": "refused", "schlage.token.outcome": "login"},
    ]
    refused = renewals[1]
    (call,) = [s for s in recorded.spans("schlage.list_credentials") if s.events]
    assert [e.name for e in call.events] == ["schlage.token_refused"]
    assert call.status.status_code is StatusCode.UNSET  # it succeeded after the renewal
    assert refused.parent is not None
    assert refused.parent.span_id == call.context.span_id
    logins = recorded.spans("schlage.authentication_token")
    assert logins[1].parent is not None
    assert logins[1].parent.span_id == refused.context.span_id
    assert (
        recorded.total(
            "schlage.client.requests",
            **{"schlage.operation": "list_credentials", "schlage.status_class": "4xx"},
        )
        == 1
    )


async def test_no_answer_fails_the_span_and_counts_as_error(recorded: Recorded) -> None:
    """A connection that never opens: ``error.type`` on the login and the call, class error."""
    from opentelemetry.trace import StatusCode

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with SchlageClient(
        base_url=f"http://127.0.0.1:{port}/test/smc-api",
        username="ops@example.com",
        password="pw",
        subscription_key="key",
        retry=RetryPolicy.none(),
        sleep=_no_sleep,
        **recorded.providers(),
    ) as client:
        with pytest.raises(ConnectionFailedError):
            await client.get_credential(credential_id=USER_B)
    failed = {s.name: s for s in recorded.spans() if s.status.status_code is StatusCode.ERROR}
    assert set(failed) == {
        "schlage.get_credential",
        "schlage.token_renewal",
        "schlage.authentication_token",
    }
    for span in failed.values():
        assert (span.attributes or {})["error.type"] == "ConnectionFailedError"
        assert "http.response.status_code" not in (span.attributes or {})
    assert (
        recorded.total(
            "schlage.client.requests",
            **{"schlage.operation": "authentication_token", "schlage.status_class": "error"},
        )
        == 1
    )


async def test_the_trace_context_is_sent_only_when_asked(
    simulator: SimulatorHandle, recorded: Recorded
) -> None:
    """Off by default; ``propagate=True`` sends the call span's ``traceparent``, no baggage."""
    sent: list[dict[str, str]] = []

    async def on_request_start(
        _session: aiohttp.ClientSession, _context: Any, params: aiohttp.TraceRequestStartParams
    ) -> None:
        sent.append({k.lower(): v for k, v in params.headers.items()})

    trace_config = aiohttp.TraceConfig()
    trace_config.on_request_start.append(on_request_start)
    async with aiohttp.ClientSession(trace_configs=[trace_config]) as session:
        async with client_for(simulator, recorded, session=session) as client:
            await client.list_credentials(page_size=1)
        assert sent
        assert not any("traceparent" in headers for headers in sent)
        sent.clear()
        recorded.exporter.clear()
        async with client_for(simulator, recorded, session=session, propagate=True) as client:
            await client.list_credentials(page_size=1)
    by_name = {span.name: span for span in recorded.spans()}
    login, call = sent  # the login first, then the call
    pairs = ((login, "schlage.authentication_token"), (call, "schlage.list_credentials"))
    for headers, name in pairs:
        span = by_name[name]
        version, trace_id, span_id, _flags = headers["traceparent"].split("-")
        assert (version, trace_id, span_id) == (
            "00",
            f"{span.context.trace_id:032x}",
            f"{span.context.span_id:016x}",
        )
        assert "baggage" not in headers


def test_propagate_without_opentelemetry_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Asked to send trace context it cannot: refused at construction, naming the extra."""
    from schlage_async import ConfigurationError, _client_base

    monkeypatch.setattr(_client_base, "OTEL_AVAILABLE", False)
    with pytest.raises(ConfigurationError, match=r"schlage-async\[otel\]"):
        SchlageClient(
            base_url="https://api.example.com/test/smc-api",
            username="u",
            password="p",
            subscription_key="k",
            propagate=True,
        )


async def test_no_provider_records_nothing_and_builds_no_span(simulator: SimulatorHandle) -> None:
    """Without a provider (the API's own no-op), a call starts no span and no record."""
    pytest.importorskip("opentelemetry")
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.trace import NoOpTracerProvider

    async with client_for(
        simulator, tracer_provider=NoOpTracerProvider(), meter_provider=NoOpMeterProvider()
    ) as client:
        telemetry = client._transport.telemetry
        assert telemetry is not None
        assert telemetry.begin(ROUTES[Operation.GET_CREDENTIAL]) is None
        await client.list_credentials(page_size=1)
