"""A light stand-in server for the client benchmarks: canned answers, next to no CPU.

The simulator is faithful, and that costs: serving raw aiohttp it needs most of a core,
so on a two-core machine a client benchmark against it measures the simulator as much
as the client and squeezes every ratio toward 1. This server answers the three calls
the client benchmark makes (login, create credential, get credential) with fixed,
well-formed bodies from an ``asyncio.Protocol`` that parses just enough HTTP/1.1
(request line, ``Content-Length``, keep-alive): a few microseconds per request. The
harness prints the share of a core it used beside every client figure.

Run alone: ``python -m benchmarks._standin --port 0`` (prints ``listening on URL``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import signal
import sys
from collections.abc import Iterator

from ._simproc import SimProcess, listening_process

__all__ = ["CREDENTIAL_ID", "serve", "standin_process"]

CREDENTIAL_ID = "6f1c2a3e-8b7d-4c5e-9a0f-1b2c3d4e5f60"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _token() -> str:
    # A JWT the client can read an expiry from (far in the future); the signature is
    # nobody's business here.
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    claims = _b64(json.dumps({"sub": "bench", "exp": 4_102_444_800}).encode())
    return f"{header}.{claims}.c3RhbmQtaW4"


def _answer(status: str, body: object) -> bytes:
    data = json.dumps(body, separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json; charset=utf-8\r\n"
        f"x-request-id: 00000000-0000-0000-0000-000000000000\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


_CREDENTIAL = {
    "credentialId": CREDENTIAL_ID,
    "userId": "0b7e1c52-58a8-4d0e-9c55-1d1f3a0e2b11",
    "mobileNumber": "+12025550143",
    "cardNumber": 123456,
    "facilityCode": 100,
    "issueCode": 0,
    "cardFormat": "37X",
    "payloadType": "NoTour",
    "isDownloaded": False,
}
_LOGIN = _answer("200 OK", {"token": _token()})
_CREATED = _answer("201 Created", _CREDENTIAL)
_GOT = _answer("200 OK", _CREDENTIAL)
_SAVED = _answer("200 OK", {})
_NOT_FOUND = _answer("404 Not Found", {"message": "not found"})
_LENGTH = b"\r\ncontent-length:"


def _route(method: bytes, target: bytes) -> bytes:
    if target.endswith(b"/authentication/token"):
        return _LOGIN
    if method == b"POST" and target.endswith(b"/credentials/mobile/basic"):
        return _CREATED
    if method == b"GET" and b"/credentials/mobile/basic/" in target:
        return _GOT
    if target.endswith(b"/notourpayloads"):
        return _SAVED
    return _NOT_FOUND


class _Http(asyncio.Protocol):
    """One keep-alive connection: requests in, canned answers out, in order."""

    __slots__ = ("_buffer", "_transport")

    def __init__(self) -> None:
        self._buffer = b""  # bytes of a request not complete yet
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        answers: list[bytes] = []
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buffer[:end]
            length = 0
            at = head.lower().find(_LENGTH)
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + len(_LENGTH) : stop if stop >= 0 else None])
            total = end + 4 + length
            if len(buffer) < total:
                break
            method, target, _ = head[: head.find(b"\r\n")].split(b" ", 2)
            answers.append(_route(method, target))
            buffer = buffer[total:]
        self._buffer = buffer
        if answers and self._transport is not None:
            self._transport.write(b"".join(answers))


async def serve(host: str, port: int) -> None:
    """Serve until SIGTERM/SIGINT; print ``listening on URL`` once ready."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Http, host, port)
    bound = server.sockets[0].getsockname()
    print(f"listening on http://{bound[0]}:{bound[1]}", flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


@contextlib.contextmanager
def standin_process() -> Iterator[SimProcess]:
    """Start the stand-in server in its own process; stop it on exit."""
    command = [sys.executable, "-m", "benchmarks._standin", "--port", "0"]
    with listening_process(command, "stand-in server") as proc:
        yield proc


def main() -> None:
    """``python -m benchmarks._standin [--host H] [--port P]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
