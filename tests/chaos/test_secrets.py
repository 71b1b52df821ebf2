"""Secrets and mobile numbers: a whole migration, then every byte it left is searched.

The simulator (on a thread of this process) is given an accounts file with a distinctive
password and subscription key, and records every token it issues, so the search also
knows the tokens the engine really used. ``python -m bulk migrate --log-format json
--verbose`` (every HTTP request logged) is killed once mid-run, so the checkpoint's
write-ahead log is left on disk, then run to the end. Faults make the error paths talk:
dropped answers, 5xx, HTML pages and truncated bodies. Searched: every log line (stdout
and stderr of both runs), every report file, the raw bytes of the SQLite file and its
``-wal``, and the text, repr and traceback of the errors a client raises on each fault.
No password, subscription key or token may appear anywhere; a mobile number only masked.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest

from bulk import Resident, ServiceIdentity, generate_portfolio, read_input, verify_against_state
from bulk._binding import default_state_path
from schlage_async import NoTourPayload, RetryPolicy, SchlageClient, SchlageError, mask_mobile
from schlage_async.simulator import FaultSpec, load_accounts
from schlage_async.simulator._jwt import TokenSigner

USERNAME: Final = "ops@chaos.example"
PASSWORD: Final = "pw-CHAOS-7f3a9c2e-do-not-leak"
KEY: Final = "sk-CHAOS-5c1e9b7a-do-not-leak"
FAULTS: Final = "reset_after=0.03,500=0.02,503=0.02,html=0.02,truncate=0.02"
ACCOUNTS: Final = {
    "subscriptionKeys": [KEY],
    "integrations": [{"id": "chaos-integration", "onboarded": True}],
    "accounts": [
        {
            "username": USERNAME,
            "password": PASSWORD,
            "role": "administrator",
            "status": "active",
            "integration": "chaos-integration",
        }
    ],
}


@pytest.fixture
def issued_tokens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every token the simulator issues during the test, as the engine received it."""
    tokens: list[str] = []
    original = TokenSigner.issue

    def issue(self: TokenSigner, subject: str, *, now: float) -> str:
        token = original(self, subject, now=now)
        tokens.append(token)
        return token

    monkeypatch.setattr(TokenSigner, "issue", issue)
    return tokens


@pytest.fixture
def chaos_sim(threaded_simulator: Any, issued_tokens: list[str], tmp_path: Path) -> Any:
    """The simulator, with the distinctive accounts file and faults that make errors talk."""
    accounts = tmp_path / "accounts.json"
    accounts.write_text(json.dumps(ACCOUNTS))
    return threaded_simulator(
        accounts=load_accounts(accounts), faults=FaultSpec.parse(FAULTS), seed=17
    )


def _secrets(tokens: list[str]) -> dict[str, str]:
    """What must never appear: the password, the key, each token and its signature alone."""
    found = {"password": PASSWORD, "subscription key": KEY}
    for n, token in enumerate(tokens):
        found[f"token {n}"] = token
        found[f"token {n} signature"] = token.rsplit(".", 1)[1]
    return found


def _files(directory: Path) -> Iterator[Path]:
    return (p for p in sorted(directory.rglob("*")) if p.is_file())


def _assert_absent(where: str, data: bytes, secrets: dict[str, str]) -> None:
    for name, secret in secrets.items():
        assert secret.encode() not in data, f"the {name} is in {where}"


@pytest.mark.slow
def test_a_migration_leaves_no_secret_and_no_full_mobile_number_anywhere(
    chaos_sim: Any,
    issued_tokens: list[str],
    migrate_command: Any,
    tmp_path: Path,
) -> None:
    """Logs, reports, checkpoint pages (file and -wal): no secret; numbers only masked."""
    path = generate_portfolio(tmp_path / "p.jsonl", 600, seed=23, bad_rows=6).path
    reports = tmp_path / "reports"
    env = {
        **os.environ,
        "SCHLAGE_USERNAME": USERNAME,
        "SCHLAGE_PASSWORD": PASSWORD,
        "SCHLAGE_SUBSCRIPTION_KEY": KEY,
    }
    command = migrate_command(path, chaos_sim.handle.api_base_url, reports, "--verbose")
    command += ["--rate", "300", "--concurrency", "8"]
    state = default_state_path(path, ServiceIdentity.of(chaos_sim.handle.api_base_url, USERNAME))
    wal = Path(f"{state}-wal")

    # First run: killed once a third of the residents exist, leaving the WAL on disk.
    out_path, err_path = tmp_path / "first.out", tmp_path / "first.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:  # files: pipes would fill
        first = subprocess.Popen(  # noqa: S603  # our interpreter, our module
            command, env=env, stdout=out, stderr=err
        )
        deadline = time.monotonic() + 60
        while chaos_sim.call(lambda: len(chaos_sim.handle.state.credentials)) < 200:
            assert first.poll() is None, "the first run ended before the kill"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=30) == -signal.SIGKILL
    out1, err1 = out_path.read_bytes(), err_path.read_bytes()
    assert wal.exists()
    killed_pages = state.read_bytes() + wal.read_bytes()

    # Then reruns to the end (a resident deferred after its tries makes a run exit 75).
    reruns: list[subprocess.CompletedProcess[bytes]] = []
    while not reruns or reruns[-1].returncode == 75:
        assert len(reruns) < 5, reruns[-1].stderr[-3000:].decode()
        reruns.append(
            subprocess.run(  # noqa: S603  # our interpreter, our module
                command, env=env, capture_output=True, timeout=180, check=False
            )
        )
    assert reruns[-1].returncode == 0, reruns[-1].stderr[-3000:].decode()
    assert verify_against_state(
        read_input(path), chaos_sim.call(chaos_sim.handle.state.snapshot)
    ).ok
    final_pages = state.read_bytes() + (wal.read_bytes() if wal.exists() else b"")

    logs = out1 + err1 + b"".join(run.stdout + run.stderr for run in reruns)
    secrets = _secrets(issued_tokens)
    assert len(issued_tokens) >= 2  # a login per run at least
    _assert_absent("the logs", logs, secrets)
    _assert_absent("the checkpoint (killed run)", killed_pages, secrets)
    _assert_absent("the checkpoint (final)", final_pages, secrets)
    report_files = list(_files(reports))
    assert {p.name for p in report_files} >= {"summary.json", "failed.csv", "succeeded.csv"}
    for report in report_files:
        _assert_absent(f"report {report.name}", report.read_bytes(), secrets)
    assert b"Bearer" not in logs

    # Mobile numbers: masked in the logs (the request lines carry them), never whole.
    lines = [json.loads(line) for line in logs.splitlines() if line[:1] == b"{"]
    assert any(line.get("event") == "schlage.request" for line in lines)
    residents = [r for r in read_input(path) if isinstance(r, Resident)]
    masked_seen = 0
    for resident in residents:
        number = resident.mobile_number.encode()
        assert number not in logs, f"line {resident.line}'s mobile number is in the logs"
        assert number not in killed_pages + final_pages, "a mobile number is in the checkpoint"
        for report in report_files:
            assert number not in report.read_bytes(), f"a mobile number is in {report.name}"
        masked_seen += mask_mobile(resident.mobile_number).encode() in logs
    assert masked_seen > len(residents) // 2  # the create lines show them, masked


FAULT_KINDS: Final = ("500", "502", "503", "html", "truncate", "reset_before", "reset_after")


@pytest.mark.parametrize("fault", FAULT_KINDS, ids=FAULT_KINDS)
async def test_errors_raised_on_each_fault_carry_no_secret_and_no_full_number(
    simulator_factory: Any, issued_tokens: list[str], tmp_path: Path, fault: str
) -> None:
    """The text, repr and traceback of each error: no secret, the number only masked."""
    accounts = tmp_path / "accounts.json"
    accounts.write_text(json.dumps(ACCOUNTS))
    sim = await simulator_factory(accounts=load_accounts(accounts))
    mobile = "+15557654321"
    errors: list[BaseException] = []
    async with SchlageClient(
        base_url=sim.api_base_url,
        username=USERNAME,
        password=PASSWORD,
        subscription_key=KEY,
        retry=RetryPolicy.none(),
    ) as client:
        created = await client.create_credential(
            user_id="0c0c0c0c-0000-4000-8000-000000000001",
            mobile_number=mobile,
            card_format="26A",
            facility_code=1,
        )
        sim.set_faults(f"{fault}=1")
        calls = [
            client.get_credential(credential_id=created.credential_id),
            client.get_credential_by_user(user_id="0c0c0c0c-0000-4000-8000-000000000001"),
            client.create_credential(
                user_id="0c0c0c0c-0000-4000-8000-000000000002",
                mobile_number="+15557654322",
                card_format="26A",
                facility_code=1,
            ),
            client.save_no_tour_payloads(
                credential_id=created.credential_id,
                payloads=[NoTourPayload(lock_id=1, serial_number="SN", no_tour_payload="ab" * 48)],
            ),
            client.list_credentials(),
        ]
        for call in calls:  # a save's answer is not read: a 200 page is a success to it
            try:
                await call
            except SchlageError as exc:
                errors.append(exc)
        sim.set_faults("none")
        sim.revoke_tokens()
        sim.set_faults("html=1")  # the login itself answered with an HTML page
        try:
            await client.list_credentials()
        except SchlageError as exc:
            errors.append(exc)
    assert len(errors) >= 3
    secrets = _secrets(issued_tokens)
    for error in errors:
        text = "".join(traceback.format_exception(error)) + repr(error)
        _assert_absent(f"{type(error).__name__}", text.encode(), secrets)
        assert mobile not in text
        assert "+15557654322" not in text
