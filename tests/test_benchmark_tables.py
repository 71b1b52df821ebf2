"""The harness's printed tables: a missed target never reads as met, every grid cell shown."""

from __future__ import annotations

from benchmarks._figures import Figure, Target, grid_cells_table, markdown_table


def test_a_share_just_over_its_target_does_not_read_as_the_target() -> None:
    """6 x 429 in 599 calls is 1.002 %: printed to two decimals it read "1.00%" beside
    a target of 1 % and "no"."""
    figure = Figure("share", "429 share", 6 / 599, "%", Target("<=", 0.01))
    row = markdown_table([figure]).splitlines()[-1]
    assert "| 1.002% |" in row
    assert row.endswith("| **no** |")


def test_the_grid_table_shows_every_cell() -> None:
    """The figures keep the worst cells; the table under them has each one, advice or not."""
    cells = [
        {
            "R": 5.0, "burst": 5.0, "utilization": 0.9803, "share_429": 6 / 599,
            "rate_limited_429": 6, "api_calls": 599, "wall_s": 122.26, "advised_rate": 4.8,
        },
        {
            "R": 500.0, "burst": 1.0, "utilization": 0.4011, "share_429": 13 / 19993,
            "rate_limited_429": 13, "api_calls": 19993, "wall_s": 95.0, "advised_rate": None,
        },
    ]  # fmt: skip
    lines = grid_cells_table(cells).splitlines()
    assert lines[2] == "| R = 5, burst 5 | 0.980 | 6 (1.002%) | 599 | 122.3 | 4.8 |"
    assert lines[3] == "| R = 500, burst 1 | 0.401 | 13 (0.065%) | 19,993 | 95.0 | - |"
    assert len(lines) == 4
