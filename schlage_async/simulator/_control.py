"""The simulator-only ``/_sim/`` endpoints: state, clock, outbox, faults, reset, revoke.

They need no subscription key or token (the simulator is a test server) and no fault
ever touches them.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

from ._answers import Answer, decode_body, error_answer
from ._clock import SimClock
from ._faults import FaultInjector, FaultSpec, FaultSpecError
from ._jwt import TokenSigner
from ._state import DownloadRefused, SimulatorState

__all__ = ["CONTROL_ENDPOINTS", "add_control_routes"]

CONTROL_ENDPOINTS: tuple[tuple[str, str, str], ...] = (
    ("GET", "/_sim/state", "every credential, ENGAGE credential and counter"),
    ("POST", "/_sim/credentials/{credentialId}/download", "the patron downloads it"),
    ("POST", "/_sim/clock", 'advance the clock: {"advanceSeconds": N}'),
    ("GET", "/_sim/outbox", "every text message sent"),
    (
        "POST",
        "/_sim/reset",
        "forget credentials, counters, windows; faults back to config; clock back to real time",
    ),
    ("GET", "/_sim/faults", "the fault spec in force"),
    ("POST", "/_sim/faults", 'replace the fault spec: {"spec": "500=0.1,..."}'),
    ("POST", "/_sim/tokens/revoke", "invalidate every token issued so far"),
)
"""Method, path and purpose of each control endpoint (for ``--help`` and the README)."""


class Controlled(Protocol):
    """What the control endpoints reach of a simulator (``SimulatorApp`` is one)."""

    clock: SimClock
    faults: FaultInjector
    state: SimulatorState
    signer: TokenSigner

    def reset(self) -> None:
        """Forget everything; faults and clock back to the configuration."""

    def set_faults(self, spec: FaultSpec) -> None:
        """Replace the fault spec in force."""


def add_control_routes(app: web.Application, sim: Controlled) -> None:
    """Register every ``/_sim/`` endpoint of ``sim`` on ``app``."""

    def endpoint(
        handler: Callable[[web.Request], Awaitable[Answer]],
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            try:
                answer = await handler(request)
            except web.HTTPException as exc:
                answer = error_answer(exc.status, [exc.reason])
            headers = answer.headers or {}
            headers["x-request-id"] = str(uuid.uuid4())
            return web.Response(
                body=answer.body or None,
                status=answer.status,
                content_type=answer.content_type,
                headers=headers,
            )

        return handle

    async def state(request: web.Request) -> Answer:
        return Answer.json(200, sim.state.snapshot())

    async def download(request: web.Request) -> Answer:
        try:
            record = sim.state.download(request.match_info["credentialId"])
        except DownloadRefused as refused:
            return error_answer(refused.status, [refused.reason])
        return Answer.json(200, record.answer())

    async def clock(request: web.Request) -> Answer:
        body = decode_body(await request.read())
        seconds = body.get("advanceSeconds") if isinstance(body, dict) else None
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or seconds < 0
        ):
            return error_answer(400, ['Send {"advanceSeconds": N} with N >= 0.'])
        try:
            sim.clock.advance(float(seconds))
        except ValueError as exc:  # beyond the bound: refused, the clock unchanged
            return error_answer(400, [str(exc)])
        return Answer.json(
            200, {"now": sim.clock.now().isoformat(), "offsetSeconds": sim.clock.offset}
        )

    async def outbox(request: web.Request) -> Answer:
        return Answer.json(200, {"messages": [sms.as_json() for sms in sim.state.outbox]})

    async def reset(request: web.Request) -> Answer:
        sim.reset()
        return Answer(204)

    async def get_faults(request: web.Request) -> Answer:
        return Answer.json(200, {"spec": str(sim.faults.spec)})

    async def set_faults(request: web.Request) -> Answer:
        body = decode_body(await request.read())
        text = body.get("spec") if isinstance(body, dict) else None
        if not isinstance(text, str):
            return error_answer(400, ['Send {"spec": "<fault spec>"}.'])
        try:
            spec = FaultSpec.parse(text)
        except FaultSpecError as exc:
            return error_answer(400, [str(exc)])
        sim.set_faults(spec)
        return Answer.json(200, {"spec": str(spec)})

    async def revoke(request: web.Request) -> Answer:
        sim.signer.revoke_all()
        return Answer(204)

    handlers = {
        ("GET", "/_sim/state"): state,
        ("POST", "/_sim/credentials/{credentialId}/download"): download,
        ("POST", "/_sim/clock"): clock,
        ("GET", "/_sim/outbox"): outbox,
        ("POST", "/_sim/reset"): reset,
        ("GET", "/_sim/faults"): get_faults,
        ("POST", "/_sim/faults"): set_faults,
        ("POST", "/_sim/tokens/revoke"): revoke,
    }
    for method, path, _purpose in CONTROL_ENDPOINTS:
        app.router.add_route(method, path, endpoint(handlers[(method, path)]))
