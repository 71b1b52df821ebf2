"""A checkpoint store in memory: for the Python API, tests and benchmarks (nothing survives)."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping

from .protocol import ResidentRecord, ResidentState, ResumeView

__all__ = ["MemoryCheckpointStore"]


class MemoryCheckpointStore:
    """Keeps every record in a dict; every write is immediately "durable"."""

    __slots__ = ("_meta", "_records", "writes")

    def __init__(self) -> None:
        self._records: dict[int, ResidentRecord] = {}  # latest record per input line
        self._meta: dict[str, str] = {}  # run settings (the input binding)
        self.writes = 0  # records written, for tests and benchmarks

    def __repr__(self) -> str:
        return f"MemoryCheckpointStore({len(self._records)} records)"

    @property
    def location(self) -> str:
        """``memory:<id>``: this object, in this process."""
        return f"memory:{id(self):x}"

    async def __aenter__(self) -> MemoryCheckpointStore:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Nothing to open."""

    async def aclose(self) -> None:
        """Nothing to close; the records stay readable."""

    async def get_meta(self, key: str) -> str | None:
        """Return the value kept under ``key``, or None."""
        return self._meta.get(key)

    async def set_meta(self, key: str, value: str) -> None:
        """Keep ``value`` under ``key``."""
        self._meta[key] = value

    async def resume_view(self) -> ResumeView:
        """Return the final lines and the open (started, not final) records."""
        final = frozenset(line for line, rec in self._records.items() if rec.final)
        open_records = {
            line: rec
            for line, rec in self._records.items()
            if not rec.final and rec.state is not ResidentState.PENDING
        }
        return ResumeView(final_lines=final, open_records=open_records)

    async def write(self, record: ResidentRecord) -> None:
        """Keep ``record``."""
        self._records[record.line] = record
        self.writes += 1

    async def write_durable(self, record: ResidentRecord) -> None:
        """Keep ``record`` (memory is as durable as this store gets)."""
        await self.write(record)

    async def flush(self) -> None:
        """Nothing is ever pending."""

    def write_mark(self) -> int:
        """Every write is at once as committed as this store gets."""
        return self.writes

    async def ensure_committed(self, mark: int) -> None:
        """Nothing to wait for (a subclass's ``flush`` decides what a commit means)."""
        await self.flush()

    async def iter_records(self) -> AsyncIterator[ResidentRecord]:
        """Yield every record in line order."""
        for line in sorted(self._records):
            yield self._records[line]

    async def counts(self) -> Mapping[ResidentState, int]:
        """Return how many residents are in each state."""
        return dict(Counter(rec.state for rec in self._records.values()))

    async def forget(self, lines: Iterable[int]) -> None:
        """Drop the records of ``lines``."""
        for line in lines:
            self._records.pop(line, None)

    async def reset(self) -> None:
        """Drop every record and setting."""
        self._records.clear()
        self._meta.clear()

    def get(self, line: int) -> ResidentRecord | None:
        """Return the record of ``line`` (tests and benchmarks look at single residents)."""
        return self._records.get(line)
