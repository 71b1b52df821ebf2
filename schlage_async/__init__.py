"""Async client for Schlage BLE mobile credentials (Allegion API-Only and ENGAGE Cloud)."""

from __future__ import annotations

from ._errors import *  # noqa: F403  # placeholder until the client lands; replaced by explicit re-exports
