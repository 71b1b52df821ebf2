"""Input edge cases: one rule for bytes that are not text, ``--encoding``, ``;``-delimited CSV."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bulk import InputError, ParseOptions, RejectedRow, Resident, read_input
from bulk._input import HEAD_BYTES, check_encoding, check_input
from bulk.cli.main import main


def _row(n: int, **fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "userId": f"3f1c6d3e-8a4b-4c2d-9e1f-{n:012d}",
        "mobileNumber": f"+1555{n:07d}",
        "cardFormat": "26A",
        "facilityCode": 12,
    }
    base.update(fields)
    return base


def _latin1_jsonl(path: Path, bad_line: int, lines: int) -> Path:
    """``lines`` rows; row ``bad_line`` has siteName "Café" in Latin-1 (byte 0xe9)."""
    out = []
    for n in range(1, lines + 1):
        name = "Café" if n == bad_line else "Oak"
        row = _row(n, attributes={"siteName": name})
        out.append(json.dumps(row, ensure_ascii=False).encode("latin-1"))
    path.write_bytes(b"\n".join(out) + b"\n")
    return path


@pytest.mark.parametrize("bad_line", [1, 2000], ids=["first-64-KiB", "after-64-KiB"])
def test_a_byte_that_is_not_utf8_rejects_its_row_wherever_it_is(
    tmp_path: Path, bad_line: int
) -> None:
    """Line 1 or line 2,000 (past 64 KiB): the same rule, that row only, with the advice."""
    path = _latin1_jsonl(tmp_path / "in.jsonl", bad_line, 2000)
    assert path.stat().st_size > HEAD_BYTES
    check_input(path)  # no longer refuses the whole file
    rows = list(read_input(path))
    rejected = [r for r in rows if isinstance(r, RejectedRow)]
    assert [r.line for r in rejected] == [bad_line]
    assert "not valid UTF-8 text (byte 0xe9)" in rejected[0].reason
    assert "--encoding cp1252" in rejected[0].reason
    assert sum(isinstance(r, Resident) for r in rows) == 1999


def test_encoding_cp1252_reads_a_windows_export(tmp_path: Path) -> None:
    """With the file's encoding given, the row is a resident with its accented site name."""
    path = _latin1_jsonl(tmp_path / "in.jsonl", 1, 3)
    rows = list(read_input(path, options=ParseOptions(encoding=check_encoding("cp1252"))))
    assert all(isinstance(r, Resident) for r in rows)
    first = rows[0]
    assert isinstance(first, Resident)
    assert first.attributes is not None
    assert dict(first.attributes)["siteName"] == "Café"


@pytest.mark.parametrize(
    ("name", "why"), [("utf-16", "ASCII as ASCII"), ("klingon", "not a text encoding")]
)
def test_an_unusable_encoding_is_a_usage_error(
    name: str, why: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """UTF-16 (rows are split on the byte \\n) or an unknown codec: exit 2, one line."""
    path = _latin1_jsonl(tmp_path / "in.jsonl", 1, 2)
    assert main(["migrate", str(path), "--dry-run", "--encoding", name]) == 2
    assert why in capsys.readouterr().err


def test_the_cli_reads_with_the_given_encoding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A dry run of a cp1252 file: no row rejected with --encoding cp1252, one without."""
    path = _latin1_jsonl(tmp_path / "in.jsonl", 2, 4)
    assert main(["migrate", str(path), "--dry-run", "--progress", "none"]) == 0
    assert "Dry run: 3 resident(s)" in capsys.readouterr().out
    code = main(["migrate", str(path), "--dry-run", "--progress", "none", "--encoding", "cp1252"])
    assert code == 0
    assert "Dry run: 4 resident(s)" in capsys.readouterr().out


def test_a_csv_header_in_another_encoding_says_which_flag_to_pass(tmp_path: Path) -> None:
    """The header every row needs cannot be a rejected row: one error naming --encoding."""
    path = tmp_path / "in.csv"
    path.write_bytes("userId,mobileNumber,siteNamé\n".encode("latin-1"))
    with pytest.raises(InputError, match="--encoding cp1252"):
        list(read_input(path))


@pytest.mark.parametrize("delimiter", [";", "\t", "|", ","])
def test_the_csv_delimiter_is_detected(tmp_path: Path, delimiter: str) -> None:
    """A ``;``-delimited export (a European spreadsheet) reads like a comma-delimited one."""
    path = tmp_path / "in.csv"
    header = delimiter.join(["User Id", "Mobile Number", "Card Format", "Facility Code"])
    rows = [
        delimiter.join([f"3f1c6d3e-8a4b-4c2d-9e1f-{n:012d}", f"+1555{n:07d}", "26A", "12"])
        for n in (1, 2)
    ]
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    parsed = list(read_input(path))
    assert [type(r) for r in parsed] == [Resident, Resident]
    assert [r.line for r in parsed] == [2, 3]


def test_a_header_without_the_columns_names_the_delimiter_it_read_with(tmp_path: Path) -> None:
    """When the columns are still missing, the error says how the header was split."""
    path = tmp_path / "in.csv"
    path.write_text("name;phone\nx;y\n", encoding="utf-8")
    with pytest.raises(InputError, match="read with the delimiter ';'"):
        list(read_input(path))
