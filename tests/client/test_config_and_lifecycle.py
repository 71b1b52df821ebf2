"""Settings (arguments, then environment), transport safety, and the client's lifecycle."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from schlage_async import (
    ClientClosedError,
    ConfigurationError,
    ConnectionFailedError,
    EngageClient,
    SchlageClient,
)

CREDENTIAL_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
GET_PATH = f"/credentials/mobile/basic/{CREDENTIAL_ID}"
CREDENTIAL_JSON = {"credentialId": CREDENTIAL_ID, "userId": "u", "mobileNumber": "+15551237890"}
SECRETS = {"username": "ops@example.com", "password": "pw-123456", "subscription_key": "key-98765"}


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://api.securewebserv.com/test/smc-api", id="public-host"),
        pytest.param("http://10.0.0.5/smc-api", id="private-ip"),
        pytest.param("http://localhost.example.com/smc-api", id="localhost-lookalike"),
    ],
)
def test_plain_http_off_loopback_refused(url: str) -> None:
    """Plain http to anything but loopback is refused: secrets would travel in clear."""
    with pytest.raises(ConfigurationError) as caught:
        SchlageClient(base_url=url, **SECRETS)
    assert "http" in str(caught.value)
    for secret in SECRETS.values():
        if secret != SECRETS["username"]:
            assert secret not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://127.0.0.1:8080/smc-api", id="ipv4-loopback"),
        pytest.param("http://127.9.8.7/smc-api", id="ipv4-loopback-range"),
        pytest.param("http://[::1]:8080/smc-api", id="ipv6-loopback"),
        pytest.param("http://localhost:8080/smc-api", id="localhost"),
        pytest.param("https://api.securewebserv.com/test/smc-api/", id="https"),
    ],
)
def test_loopback_http_and_https_accepted(url: str) -> None:
    """Loopback may use plain http (the simulator); https is always fine."""
    client = SchlageClient(base_url=url, **SECRETS)
    assert client.base_url == url.rstrip("/")


def test_insecure_http_can_be_allowed_explicitly() -> None:
    """allow_insecure_http=True accepts plain http to another host (a rig you control)."""
    client = SchlageClient(
        base_url="http://rig.internal/smc-api", allow_insecure_http=True, **SECRETS
    )
    assert client.base_url == "http://rig.internal/smc-api"


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("ftp://example.com/x", id="ftp"),
        pytest.param("https://user:pw@example.com/x", id="credentials-in-url"),
        pytest.param("not a url", id="no-scheme"),
        pytest.param("https://example.com/x?key=1", id="query"),
    ],
)
def test_unusable_base_url_refused(url: str) -> None:
    """A base URL that is not plain http(s) with a host, or carries secrets, is refused."""
    with pytest.raises(ConfigurationError):
        SchlageClient(base_url=url, **SECRETS)


def test_settings_read_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Arguments left out are read from SCHLAGE_*; from_env takes overrides."""
    monkeypatch.setenv("SCHLAGE_BASE_URL", "https://example.com/smc-api")
    monkeypatch.setenv("SCHLAGE_USERNAME", "env@example.com")
    monkeypatch.setenv("SCHLAGE_PASSWORD", "env-password")
    monkeypatch.setenv("SCHLAGE_SUBSCRIPTION_KEY", "env-key")
    assert SchlageClient().username == "env@example.com"
    client = SchlageClient.from_env(username="other@example.com")
    assert client.username == "other@example.com"
    assert client.base_url == "https://example.com/smc-api"


def test_missing_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing password names the argument and SCHLAGE_PASSWORD, and no value."""
    monkeypatch.delenv("SCHLAGE_PASSWORD", raising=False)
    with pytest.raises(ConfigurationError, match="SCHLAGE_PASSWORD"):
        SchlageClient(
            base_url="https://example.com", username="a@example.com", subscription_key="k-1234"
        )


def test_engage_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """EngageClient reads ENGAGE_* (and the shared key); the base URL has no default."""
    monkeypatch.setenv("ENGAGE_BASE_URL", "https://api.allegion.com/engage")
    monkeypatch.setenv("ENGAGE_USERNAME", "engage-user")
    monkeypatch.setenv("ENGAGE_PASSWORD", "engage-pass")
    monkeypatch.setenv("SCHLAGE_SUBSCRIPTION_KEY", "key-1234")
    client = EngageClient.from_env()
    assert client.base_url == "https://api.allegion.com/engage"
    assert client.username == "engage-user"
    monkeypatch.delenv("ENGAGE_BASE_URL")
    with pytest.raises(ConfigurationError, match="ENGAGE_BASE_URL"):
        EngageClient.from_env()


def test_repr_shows_base_url_and_username_only() -> None:
    """repr(client) shows where and who, never a secret."""
    client = SchlageClient(base_url="https://example.com/smc-api", **SECRETS)
    assert repr(client) == (
        "SchlageClient(base_url='https://example.com/smc-api', username='ops@example.com')"
    )


async def test_closed_client_raises(fake: Any, client: Any) -> None:
    """Any call after aclose() raises ClientClosedError; so does re-entering."""
    fake.on("GET", GET_PATH, fake.Reply(200, CREDENTIAL_JSON))
    async with client:
        await client.get_credential(credential_id=CREDENTIAL_ID)
    assert client.closed
    with pytest.raises(ClientClosedError):
        await client.get_credential(credential_id=CREDENTIAL_ID)
    with pytest.raises(ClientClosedError):
        async with client:
            pass


async def test_callers_session_is_used_and_left_open(fake: Any, make_client: Any) -> None:
    """A session the caller passes is used, and still open after the client closes."""
    async with aiohttp.ClientSession() as session:
        client = make_client(session=session)
        fake.on("GET", GET_PATH, fake.Reply(200, CREDENTIAL_JSON))
        async with client:
            await client.get_credential(credential_id=CREDENTIAL_ID)
        assert not session.closed
        assert len(fake.requests) == 2


async def test_callers_closed_session_raises_client_closed(fake: Any, make_client: Any) -> None:
    """If the caller closes their session first, calls raise ClientClosedError."""
    session = aiohttp.ClientSession()
    await session.close()
    client = make_client(session=session)
    with pytest.raises(ClientClosedError):
        await client.get_credential(credential_id=CREDENTIAL_ID)


async def test_owned_session_closed_on_exit(fake: Any, make_client: Any) -> None:
    """The client's own session is closed by aclose (no unclosed-session warning)."""
    fake.on("GET", GET_PATH, fake.Reply(200, CREDENTIAL_JSON))
    client = make_client()
    async with client:
        await client.get_credential(credential_id=CREDENTIAL_ID)
        session = client._transport._session
        assert session is not None
    assert session.closed


async def test_timeout_configurable(fake: Any, make_client: Any) -> None:
    """A number is the per-request budget; an aiohttp.ClientTimeout is taken as is."""
    custom = aiohttp.ClientTimeout(total=3)
    assert make_client(timeout=custom)._transport._timeout is custom
    assert make_client(timeout=5)._transport._timeout.total == 5
    with pytest.raises(ConfigurationError):
        make_client(timeout=0)


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A throwaway self-signed certificate for 127.0.0.1 (made with the openssl CLI)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl CLI is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            key,
            "-out",
            cert,
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_tls_verified_by_default(
    self_signed: tuple[str, str], make_client: Any, sleeps: Any
) -> None:
    """An https server with an untrusted certificate is refused; trusting it works."""
    cert, key = self_signed
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)

    async def handle(request: web.Request) -> web.Response:
        if request.path.endswith("/authentication/token"):
            return web.json_response({"token": "a.b.c"})
        return web.json_response(CREDENTIAL_JSON)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1", scheme="https")
    await server.start_server(ssl=server_ctx)
    try:
        base = str(server.make_url("/smc-api"))
        assert base.startswith("https://")
        untrusting = make_client(base_url=base)
        with pytest.raises(ConnectionFailedError, match="TLS"):
            await untrusting.get_credential(credential_id=CREDENTIAL_ID)
        assert sleeps.delays == []  # a certificate failure is not retried
        trusting = make_client(base_url=base, ssl_context=ssl.create_default_context(cafile=cert))
        credential = await trusting.get_credential(credential_id=CREDENTIAL_ID)
        assert credential.credential_id == CREDENTIAL_ID
    finally:
        await server.close()
