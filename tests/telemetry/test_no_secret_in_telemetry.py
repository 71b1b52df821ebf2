"""No secret, token, full mobile number or user id in any span: a chaos run, walked whole.

A migration through the simulator with faults that make every error path talk (dropped
answers, 5xx, HTML pages, truncated bodies), bad rows, and the tokens revoked mid-run (a
401, a renewal). Then every attribute of every span, and of every event on it, is
searched for the password, the subscription key, each token the simulator issued (and
its signature alone), "Bearer", every resident's mobile number and user id, and any
E.164 number or UUID at all.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Final

import pytest

from bulk import (
    MigrationOptions,
    ProgressSnapshot,
    Resident,
    generate_portfolio,
    read_input,
    run_migration,
)
from bulk._calls import ENGINE_RETRY_POLICY
from schlage_async import SchlageClient
from schlage_async.simulator import FaultSpec, load_accounts
from schlage_async.simulator._jwt import TokenSigner

from .conftest import Recorded, walk

USERNAME: Final = "ops@otel.example"
PASSWORD: Final = "pw-OTEL-9d2c4b1e-do-not-leak"
KEY: Final = "sk-OTEL-3a7f0c5d-do-not-leak"
FAULTS: Final = "reset_after=0.03,500=0.02,503=0.02,html=0.02,truncate=0.02"
ACCOUNTS: Final = {
    "subscriptionKeys": [KEY],
    "integrations": [{"id": "otel-integration", "onboarded": True}],
    "accounts": [
        {
            "username": USERNAME,
            "password": PASSWORD,
            "role": "administrator",
            "status": "active",
            "integration": "otel-integration",
        }
    ],
}
_E164: Final = re.compile(r"\+[1-9][0-9]{7,14}")
_UUID: Final = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-")


@pytest.fixture
def issued_tokens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every token the simulator issues during the test."""
    tokens: list[str] = []
    original = TokenSigner.issue

    def issue(self: TokenSigner, subject: str, *, now: float) -> str:
        token = original(self, subject, now=now)
        tokens.append(token)
        return token

    monkeypatch.setattr(TokenSigner, "issue", issue)
    return tokens


async def test_a_chaos_run_leaves_no_secret_number_or_id_in_any_span_or_event(
    simulator_factory: Any, recorded: Recorded, issued_tokens: list[str], tmp_path: Path
) -> None:
    """Every attribute and event of every span: none holds a secret, number or id."""
    accounts = tmp_path / "accounts.json"
    accounts.write_text(json.dumps(ACCOUNTS))
    sim = await simulator_factory(
        accounts=load_accounts(accounts), faults=FaultSpec.parse(FAULTS), seed=11
    )
    path = generate_portfolio(tmp_path / "p.jsonl", 300, seed=13, bad_rows=6).path
    revoked: list[int] = []

    def progress(snapshot: ProgressSnapshot) -> None:
        if not revoked and snapshot.succeeded >= 100:
            sim.revoke_tokens()  # the next calls get a 401: renewal spans and events
            revoked.append(snapshot.succeeded)

    async with SchlageClient(
        base_url=sim.api_base_url,
        username=USERNAME,
        password=PASSWORD,
        subscription_key=KEY,
        retry=ENGINE_RETRY_POLICY,
        propagate=True,
        **recorded.providers(),
    ) as client:
        await run_migration(
            client,
            path,
            store=tmp_path / "s.sqlite",
            options=MigrationOptions(concurrency=8, retry_base_delay=0.01, retry_attempts=6),
            progress=progress,
            **recorded.providers(),
        )
    spans = recorded.spans()
    assert revoked
    assert len(issued_tokens) >= 2
    names = {s.name for s in spans}
    assert {"bulk.migration", "schlage.token_renewal", "schlage.create_credential"} <= names
    events = {e.name for s in spans for e in s.events}
    assert {"schlage.retry", "schlage.token_refused"} <= events  # the error paths talked

    secrets = {"password": PASSWORD, "subscription key": KEY, "bearer": "Bearer"}
    for n, token in enumerate(issued_tokens):
        secrets[f"token {n}"] = token
        secrets[f"token {n} signature"] = token.rsplit(".", 1)[1]
    residents = [r for r in read_input(path) if isinstance(r, Resident)]
    for resident in residents:
        secrets[f"line {resident.line}'s mobile number"] = resident.mobile_number
        secrets[f"line {resident.line}'s user id"] = resident.user_id
    walked = 0
    for where, key, value in walk(spans):
        walked += 1
        text = str(value)
        for name, secret in secrets.items():
            assert secret not in text, f"the {name} is in {where} {key}"
        assert not _E164.search(text), f"a phone number is in {where} {key}: {text}"
        assert not _UUID.search(text), f"an id is in {where} {key}: {text}"
    assert walked > 1000


def test_the_walk_sees_span_and_event_attributes(recorded: Recorded) -> None:
    """The search can fail: a value planted in a span or an event is found."""
    tracer = recorded.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("planted", attributes={"a": "in-span"}) as span:
        span.add_event("e", {"b": "in-event"})
    values = {str(value) for _where, _key, value in walk(recorded.spans())}
    assert {"in-span", "in-event"} <= values
