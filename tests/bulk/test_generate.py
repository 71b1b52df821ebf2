"""Synthetic portfolios: valid, unique, reproducible, with the malformed rows asked for."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from bulk import RejectedRow, Resident, generate_portfolio, read_input
from bulk._generate import BAD_ROW_KINDS
from bulk._input import Deduplicator


@pytest.mark.slow
@pytest.mark.parametrize("suffix", ["jsonl", "csv"], ids=["jsonl", "csv"])
def test_every_good_row_parses_into_a_unique_resident(suffix: str, tmp_path: Path) -> None:
    """Unique user ids and mobile numbers, valid formats, 0 to 3 doors each."""
    result = generate_portfolio(tmp_path / f"p.{suffix}", 3000, seed=5)
    dedup = Deduplicator()
    rows = [dedup.check(r) for r in read_input(result.path)]
    assert all(isinstance(r, Resident) for r in rows)
    residents = [r for r in rows if isinstance(r, Resident)]
    assert len(residents) == 3000
    assert {r.card_format for r in residents} == {"26A", "37X"}
    assert Counter(len(r.doors) for r in residents).keys() == {0, 1, 2, 3}
    assert sum(len(r.doors) for r in residents) == result.doors
    assert all(r.mobile_number.startswith("+1") and len(r.mobile_number) == 12 for r in residents)
    assert sum(r.external_id is not None for r in residents) == 1500  # mixed ids


def test_the_same_seed_writes_the_same_file(tmp_path: Path) -> None:
    """Benchmarks and tests can regenerate the exact portfolio."""
    a = generate_portfolio(tmp_path / "a.jsonl", 200, seed=9, bad_rows=5).path.read_bytes()
    b = generate_portfolio(tmp_path / "b.jsonl", 200, seed=9, bad_rows=5).path.read_bytes()
    c = generate_portfolio(tmp_path / "c.jsonl", 200, seed=10, bad_rows=5).path.read_bytes()
    assert a == b
    assert a != c


@pytest.mark.parametrize("suffix", ["jsonl", "csv"], ids=["jsonl", "csv"])
def test_bad_rows_are_rejected_one_kind_after_another(suffix: str, tmp_path: Path) -> None:
    """``--bad-rows K``: exactly K rows fail, spread over the file, of every kind."""
    result = generate_portfolio(tmp_path / f"p.{suffix}", 600, seed=1, bad_rows=12)
    dedup = Deduplicator()
    rejected = [
        r for r in (dedup.check(r) for r in read_input(result.path)) if isinstance(r, RejectedRow)
    ]
    assert len(rejected) == 12
    reasons = " ".join(r.reason for r in rejected)
    for fragment in (
        "Card Format is invalid",
        "96 characters",
        "neither a userId",
        "duplicate mobile",
    ):
        assert fragment in reasons
    assert rejected[0].line < 100
    assert rejected[-1].line > 500


def test_user_id_and_external_id_kinds(tmp_path: Path) -> None:
    """``--ids user`` writes only userIds, ``--ids external`` only externalIds."""
    users = generate_portfolio(tmp_path / "u.jsonl", 20, id_kind="user").path
    external = generate_portfolio(tmp_path / "e.jsonl", 20, id_kind="external").path
    assert all("userId" in json.loads(line) for line in users.read_text().splitlines())
    assert all("externalId" in json.loads(line) for line in external.read_text().splitlines())


def test_every_bad_row_kind_is_listed() -> None:
    """The kinds the docs name are the ones the generator cycles through."""
    assert BAD_ROW_KINDS == (
        "bad_json", "bad_phone", "bad_card_format", "bad_payload", "missing_id", "duplicate_mobile",
    )  # fmt: skip
