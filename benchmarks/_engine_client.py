"""The client the engine gets from ``python -m bulk migrate``, for Python-API benchmarks."""

from __future__ import annotations

from bulk._calls import ENGINE_RETRY_POLICY
from schlage_async import SchlageClient

from ._simproc import ADMIN_PASSWORD, ADMIN_USERNAME, SUBSCRIPTION_KEY

__all__ = ["engine_client"]


def engine_client(base_url: str, concurrency: int) -> SchlageClient:
    """A client built as the CLI builds it: no 429 retries, a connection per worker, and
    no second validation of rows the reader validated."""
    return SchlageClient(
        base_url=base_url,
        username=ADMIN_USERNAME,
        password=ADMIN_PASSWORD,
        subscription_key=SUBSCRIPTION_KEY,
        retry=ENGINE_RETRY_POLICY,
        connector_limit=max(concurrency, 10),
        validate=False,
    )
