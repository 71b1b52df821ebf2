"""Reading the clients' settings: constructor arguments first, then environment variables.

Also the transport-safety check on base URLs: plain ``http://`` only to a loopback host.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping

import aiohttp
import yarl

from ._errors import ConfigurationError

__all__ = ["build_timeout", "check_base_url", "setting"]


def setting(
    value: str | None,
    env_var: str,
    *,
    what: str,
    default: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """Return ``value``, else the environment variable ``env_var``, else ``default``.

    Raises :class:`ConfigurationError` naming the argument and the variable (never a value)
    when none of them is set.
    """
    env = os.environ if environ is None else environ
    resolved = value if value is not None else env.get(env_var) or default
    if not resolved:
        raise ConfigurationError(f"{what} is missing: pass {what}= or set {env_var}")
    return resolved


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(raw: str, *, allow_insecure_http: bool) -> yarl.URL:
    """Return the base URL, refusing what would not be safe or would not work.

    Plain ``http://`` is refused unless the host is loopback (127.0.0.0/8, ::1,
    localhost) or ``allow_insecure_http`` is set: the subscription key and the token
    travel in headers and must not cross a network in clear. Credentials embedded in the
    URL are refused too, since URLs end up in logs and exception text.
    """
    try:
        url = yarl.URL(raw.strip())
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"base_url is not a URL: {raw!r}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(f"base_url must be an http(s) URL with a host, not {raw!r}")
    if url.user is not None or url.password is not None:
        raise ConfigurationError("base_url must not carry a user name or password")
    if url.query_string or url.fragment:
        raise ConfigurationError("base_url must not carry a query or a fragment")
    if url.scheme == "http" and not allow_insecure_http and not _is_loopback(url.host):
        raise ConfigurationError(
            f"refusing plain http to {url.host}: secrets would travel in clear; use https "
            "(or allow_insecure_http=True for a test rig you control)"
        )
    return url.with_path(url.path.rstrip("/"), encoded=True)


def build_timeout(timeout: float | aiohttp.ClientTimeout) -> aiohttp.ClientTimeout:
    """Return an aiohttp timeout: a number is the whole request's budget in seconds."""
    if isinstance(timeout, aiohttp.ClientTimeout):
        return timeout
    if timeout <= 0:
        raise ConfigurationError(f"timeout must be positive, not {timeout!r}")
    # The connect phase gets its own bound so that "nothing was sent" is distinguishable
    # (aiohttp raises ConnectionTimeoutError there) from "sent, no answer".
    return aiohttp.ClientTimeout(total=timeout, sock_connect=min(10.0, timeout))
