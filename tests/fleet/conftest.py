"""The real PostgreSQL and Redis servers the fleet tests run against (never mocks).

URLs come from ``SCHLAGE_TEST_POSTGRES_URL`` / ``SCHLAGE_TEST_REDIS_URL``, else the local
defaults when they answer. Without a server the tests skip with one line saying how to
enable them, except under ``CI=true``, where a missing server fails them: CI starts both.
Every test isolates itself (its own PostgreSQL schema, its own Redis key prefix), since
other test runs share the servers.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def _answers(url: str, port: int) -> bool:
    host = url.split("@")[-1].split("//")[-1].split("/")[0].rsplit(":", 1)[0] or "127.0.0.1"
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _server(env: str, default: str, port: int, what: str) -> str:
    url = os.environ.get(env, "")
    if url:
        return url
    if _answers(default, port):
        return default
    message = f"{what} is not reachable: set {env} (or start it on 127.0.0.1:{port})"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " -- CI must provide it", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL server's URL (skips, or fails in CI, when there is none)."""
    return _server("SCHLAGE_TEST_POSTGRES_URL", DEFAULT_POSTGRES, 5432, "PostgreSQL")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis server's URL (skips, or fails in CI, when there is none)."""
    return _server("SCHLAGE_TEST_REDIS_URL", DEFAULT_REDIS, 6379, "Redis")


@pytest.fixture
def key_prefix() -> str:
    """A Redis key prefix of this test's own."""
    return f"schlage-test:{uuid.uuid4().hex}:"


@pytest.fixture
async def redis(redis_url: str, key_prefix: str) -> AsyncIterator[Redis]:
    """A client of the shared Redis; this test's keys are deleted after it."""
    client = Redis.from_url(redis_url)
    yield client
    keys = [key async for key in client.scan_iter(match=f"{key_prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def state_url(postgres_url: str) -> Iterator[str]:
    """A PostgreSQL state URL with a schema of this test's own (dropped after)."""
    schema = f"fleet_test_{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in postgres_url else "?"
    yield f"{postgres_url}{sep}schema={schema}"
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")  # type: ignore[arg-type]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    """A redis-server of this test's own on a free port, to stop and start at will."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            message = "redis-server is not installed: apt-get install redis-server"
            if os.environ.get("CI") == "true":
                pytest.fail(message, pytrace=False)
            pytest.skip(message)
        self.binary = binary
        self.port = _free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Where it listens."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it (empty: no persistence) and wait until it answers."""
        self.proc = subprocess.Popen(  # noqa: S603  # the system's redis-server, loopback only
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not _answers(self.url, self.port):
            assert time.monotonic() < deadline, "the private redis-server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        """Kill it (as a crash would): every key is lost."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A started private redis-server; stopped after the test."""
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()
