"""Synthetic portfolios for demos, tests and benchmarks, streamed to a file.

Every good row is a resident the service accepts: a unique ``+1`` mobile number of ten
digits, a unique ``userId`` (UUIDv4) or ``externalId``, card format 26A or 37X with a
facility code in range, issue code 0, a site, and 0 to 3 doors each with a lock id,
a serial number and a 96-hex no-tour payload. ``bad_rows`` of the rows are malformed
on purpose, one kind after another (see :data:`BAD_ROW_KINDS`), for demos of
``failed.csv``. The same seed gives the same file.
"""

from __future__ import annotations

import csv
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import msgspec

from ._input import CSV_COLUMNS, InputFormat, detect_format

__all__ = ["BAD_ROW_KINDS", "GeneratedPortfolio", "IdKind", "generate_portfolio"]

IdKind = Literal["mixed", "user", "external"]
BAD_ROW_KINDS: Final[tuple[str, ...]] = (
    "bad_json",
    "bad_phone",
    "bad_card_format",
    "bad_payload",
    "missing_id",
    "duplicate_mobile",
)
"""The malformed rows ``bad_rows`` cycles through, in this order."""

_SITES: Final = ("Elm Court", "Harbor View", "Maple Commons", "Riverside Lofts", "Oak Terrace")
# Mobile numbers come from an affine permutation of this space (area x exchange x line),
# so they are unique without remembering them: i -> (A*i + B) mod SPACE is a bijection
# because A shares no factor with SPACE (2^5 * 5^5 * 79 * ...).
_AREAS: Final = tuple(a for a in range(201, 990) if a % 100 != 11)
_SPACE: Final = len(_AREAS) * 800 * 10_000
_MULTIPLIER: Final = 1_000_003


@dataclass(frozen=True, slots=True)
class GeneratedPortfolio:
    """What :func:`generate_portfolio` wrote."""

    path: Path
    rows: int
    bad_rows: int
    doors: int


def _mobile(index: int, offset: int) -> str:
    n = (_MULTIPLIER * index + offset) % _SPACE
    n, line = divmod(n, 10_000)
    area_index, exchange = divmod(n, 800)
    return f"+1{_AREAS[area_index]}{200 + exchange}{line:04d}"


def _resident(
    index: int, rng: random.Random, seed: int, offset: int, id_kind: IdKind
) -> dict[str, Any]:
    use_external = id_kind == "external" or (id_kind == "mixed" and index % 2 == 1)
    row: dict[str, Any] = {}
    if use_external:
        row["externalId"] = f"PACS-{seed}-{index:07d}"
    else:
        row["userId"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    row["mobileNumber"] = _mobile(index, offset)
    if rng.random() < 0.5:
        row["cardFormat"] = "26A"
        row["facilityCode"] = rng.randint(0, 255)
    else:
        row["cardFormat"] = "37X"
        row["facilityCode"] = rng.randint(0, 65535)
    row["issueCode"] = 0
    site = rng.randrange(len(_SITES))
    row["attributes"] = {"siteId": f"S{site + 1:03d}", "siteName": _SITES[site]}
    lock_ids = rng.sample(range(1, 65536), rng.randint(0, 3))
    row["doors"] = [
        {
            "lockId": lock_id,
            "serialNumber": f"SN{rng.getrandbits(40):010X}",
            "noTourPayload": f"{rng.getrandbits(384):096X}",
        }
        for lock_id in lock_ids
    ]
    return row


def _spoil(row: dict[str, Any], kind: str, previous_mobile: str | None) -> dict[str, Any] | str:
    """Return ``row`` made malformed in the way ``kind`` names (a str is a raw line)."""
    if kind == "bad_json":
        return msgspec.json.encode(row).decode()[:-7]  # truncated: not JSON any more
    spoiled = dict(row)
    if kind == "bad_phone":
        spoiled["mobileNumber"] = "12345"
    elif kind == "bad_card_format":
        spoiled["cardFormat"] = "99Z"
    elif kind == "bad_payload":
        spoiled["doors"] = [
            {"lockId": 7, "serialNumber": "SN-BAD", "noTourPayload": "ABC123"}  # not 96 hex
        ]
    elif kind == "missing_id":
        spoiled.pop("userId", None)
        spoiled.pop("externalId", None)
    elif kind == "duplicate_mobile" and previous_mobile is not None:
        spoiled["mobileNumber"] = previous_mobile
    else:
        spoiled["cardFormat"] = "99Z"
    return spoiled


def _rows(
    count: int, seed: int, bad_rows: int, id_kind: IdKind
) -> Iterator[tuple[dict[str, Any] | str, bool]]:
    rng = random.Random(seed)
    offset = random.Random(seed ^ 0x5EED).randrange(_SPACE)
    bad_every = count / bad_rows if bad_rows else 0.0
    bad_at = {int((k + 0.5) * bad_every) for k in range(bad_rows)} if bad_rows else set()
    bad_seen = 0
    previous_mobile: str | None = None
    for index in range(count):
        row = _resident(index, rng, seed, offset, id_kind)
        if index in bad_at:
            kind = BAD_ROW_KINDS[bad_seen % len(BAD_ROW_KINDS)]
            bad_seen += 1
            yield _spoil(row, kind, previous_mobile), True
            continue
        previous_mobile = row["mobileNumber"]
        yield row, False


def _csv_record(row: dict[str, Any]) -> list[str]:
    attributes = row.get("attributes") or {}
    doors = ";".join(
        f"{d['lockId']}:{d['serialNumber']}:{d['noTourPayload']}" for d in row.get("doors", [])
    )
    values = {
        **{k: row.get(k) for k in CSV_COLUMNS},
        "siteId": attributes.get("siteId"),
        "siteName": attributes.get("siteName"),
        "doors": doors,
    }
    return ["" if values[k] is None else str(values[k]) for k in CSV_COLUMNS]


def generate_portfolio(
    path: str | Path,
    count: int,
    *,
    seed: int = 0,
    bad_rows: int = 0,
    output_format: InputFormat | None = None,
    id_kind: IdKind = "mixed",
) -> GeneratedPortfolio:
    """Write ``count`` residents (``bad_rows`` of them malformed) to ``path``, streaming.

    The format follows the suffix (``.csv`` is CSV, anything else JSON Lines) unless
    ``output_format`` says. ``id_kind`` picks ``userId``s, ``externalId``s or both
    (alternating).
    """
    if count < 0 or not 0 <= bad_rows <= count:
        raise ValueError("need count >= 0 and 0 <= bad_rows <= count")
    target = Path(path)
    fmt = detect_format(target, output_format)
    target.parent.mkdir(parents=True, exist_ok=True)
    doors = 0
    encoder = msgspec.json.Encoder()
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle) if fmt == "csv" else None
        if writer is not None:
            writer.writerow(CSV_COLUMNS)
        for row, bad in _rows(count, seed, bad_rows, id_kind):
            if isinstance(row, str):  # a broken line; CSV's broken row has too many fields
                handle.write(row + "\n" if writer is None else "x," * len(CSV_COLUMNS) + "x\n")
                continue
            if not bad:
                doors += len(row.get("doors", []))
            if writer is not None:
                writer.writerow(_csv_record(row))
            else:
                handle.write(encoder.encode(row).decode() + "\n")
    return GeneratedPortfolio(path=target, rows=count, bad_rows=bad_rows, doors=doors)
