"""Many rows in one SQLite statement: a JSON array read back with ``json_each``.

``executemany`` steps once per row, and Python's ``sqlite3`` releases the GIL around every
step and takes it back after: from a thread beside a busy event loop, each row is a
handover of the GIL, which costs the loop more than the row itself. Sent as one JSON
array (one parameter, encoded by msgspec), the rows are inserted by one step, in C.

SQLite has the JSON functions built in since 3.38 (and in most builds long before); where
the library lacks them, :func:`has_json` says so once and the caller keeps
``executemany``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Final

import msgspec

__all__ = ["encode_rows", "has_json", "json_rows_select"]

_encode: Final = msgspec.json.Encoder().encode


def has_json(conn: sqlite3.Connection) -> bool:
    """Whether ``conn``'s SQLite library has ``json_each`` and ``json_extract``."""
    try:
        conn.execute("SELECT json_extract(value, '$[0]') FROM json_each('[[1]]')").fetchall()
    except sqlite3.OperationalError:
        return False
    return True


def json_rows_select(columns: int) -> str:
    """``SELECT`` of ``columns`` values from each row of a JSON array bound as ``?``.

    Put after ``INSERT INTO table (...)``: one statement inserts every row.
    """
    values = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(columns))
    return f"SELECT {values} FROM json_each(?)"  # noqa: S608  # column numbers, no text


def encode_rows(rows: Sequence[Sequence[object]]) -> str:
    """The rows (tuples of ``None``, numbers and text) as one JSON array of arrays.

    What comes back out of ``json_extract`` is what went in: integers stay integers
    (to 64 bits), floats stay REAL, text is text (any characters), None is NULL. Bound
    as text, never as bytes: SQLite 3.45 and later read a BLOB as its binary JSONB.
    """
    return _encode(rows).decode()
