"""Plan a sync: compare a PACS export with the service's credentials, write the plan.

:func:`plan_sync` reads the export with ``migrate``'s readers (same formats, phone
normalisation, user ids and duplicate rules) into an index on disk (SQLite's private
temporary database: user id, line, a hash of the number, a digest of the doors; never a
full number), reads the history files into the same database, then streams the
service's credentials page by page (``iter_credentials``) and decides each one against
the index: delete (an orphan), replace (the number changed), save payloads (doors added
or changed), resend (an invite nobody opened), equal, or unknown. Export rows the
service never listed are creates. Memory stays flat whatever the portfolio's size.

The plan records the service's mark (count, oldest and newest credential) and checks it
again at the end (two calls): a service that changed while it was being read is
refused, as ``apply`` refuses a plan whose service has moved on since.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import math
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Protocol

from schlage_async import Credential, CredentialPage, mask_mobile

from .._input import (
    Deduplicator,
    InputFormat,
    ParseOptions,
    check_input,
    detect_format,
    input_fingerprint,
    read_input,
)
from .._resident import RejectedRow, Resident
from .history import Decommissioned, HistoryEntry, HistoryNote, doors_digest, iter_history
from .plan_file import (
    PLAN_VERSION,
    PlanError,
    PlanHeader,
    PlanStep,
    ServiceMark,
    SyncAction,
    encode_step,
    write_plan,
)

__all__ = [
    "DEFAULT_RESEND_AFTER_HOURS",
    "ListingClient",
    "Rules",
    "SyncIndex",
    "SyncPlan",
    "default_plan_path",
    "invite_decision",
    "plan_sync",
    "read_service_mark",
]

DEFAULT_RESEND_AFTER_HOURS: Final = 24.0
_PAGE_SIZE: Final = 100  # the service's largest page
_SAMPLES: Final = 5
_INSERT_BATCH: Final = 2000
_DEFAULT_PARSE: Final = ParseOptions()


class ListingClient(Protocol):
    """The two listing calls a plan makes (``SchlageClient`` has them)."""

    async def list_credentials(
        self, *, page_number: int | None = None, page_size: int | None = None
    ) -> CredentialPage:
        """One page of active credentials, oldest first."""
        ...

    def iter_credentials(self, *, page_size: int | None = None) -> AsyncIterator[Credential]:
        """Every active credential, page after page."""
        ...


@dataclass(frozen=True, slots=True)
class SyncPlan:
    """A computed plan: where it was written, its header, and what the history could not say."""

    path: Path
    header: PlanHeader
    notes: tuple[str, ...] = field(default=())
    seconds: float = 0.0
    service_rows: int = 0
    export_rows: int = 0


def default_plan_path(input_path: Path) -> Path:
    """The plan's default place: beside the export (``residents.jsonl.plan.jsonl``)."""
    return input_path.with_name(input_path.name + ".plan.jsonl")


def _mobile_hash(number: str) -> str:
    return hashlib.sha256(number.encode()).hexdigest()[:24]


async def read_service_mark(client: ListingClient) -> ServiceMark:
    """The service's mark in two calls: the count and oldest (page 1), the newest (last)."""
    first = await client.list_credentials(page_number=1, page_size=1)
    if not first.credentials:
        return ServiceMark(total=0)
    total = first.total_count or first.total_pages
    oldest = first.credentials[0]
    newest = oldest
    if total > 1:
        last = await client.list_credentials(page_number=total, page_size=1)
        if last.credentials:
            newest = last.credentials[-1]
    return ServiceMark(
        total=total,
        oldest_id=oldest.credential_id,
        newest_id=newest.credential_id,
        newest_created_at=newest.created_at,
    )


def _iso_to_epoch(text: str | None) -> float | None:
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


class SyncIndex:
    """The export and the history, on disk, looked up one page of credentials at a time."""

    def __init__(self) -> None:
        self.db = sqlite3.connect("", check_same_thread=False)  # private temporary database
        self.db.executescript(
            """
            PRAGMA journal_mode=OFF;
            PRAGMA synchronous=OFF;
            PRAGMA cache_size=-8192;
            CREATE TABLE export (
                user_id TEXT PRIMARY KEY, line INTEGER NOT NULL, mobile TEXT NOT NULL,
                masked TEXT NOT NULL, digest TEXT NOT NULL, serials TEXT NOT NULL,
                doors INTEGER NOT NULL, seen INTEGER NOT NULL DEFAULT 0
            ) WITHOUT ROWID;
            CREATE TABLE history (
                credential_id TEXT PRIMARY KEY, digest TEXT, serials TEXT,
                saved_at REAL NOT NULL DEFAULT 0, invite_at REAL
            ) WITHOUT ROWID;
            CREATE TABLE decommissioned (serial TEXT PRIMARY KEY, at REAL NOT NULL) WITHOUT ROWID;
            CREATE TABLE held (user_id TEXT PRIMARY KEY, line INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE held_mobiles (mobile TEXT PRIMARY KEY, line INTEGER NOT NULL)
                WITHOUT ROWID;
            """
        )
        self.any_decommissioned = False  # no lookups while no history decommissioned a lock

    def close(self) -> None:
        """Forget everything (the temporary database is deleted)."""
        self.db.close()

    @staticmethod
    def rules(
        now: dt.datetime, resend_after_hours: float, *, resave_unknown: bool = False
    ) -> Rules:
        """The decision rules as of ``now``."""
        return Rules(now.timestamp(), resend_after_hours * 3600.0, resave_unknown)

    def add_residents(self, rows: Sequence[Resident]) -> None:
        self.db.executemany(
            "INSERT INTO export (user_id, line, mobile, masked, digest, serials, doors) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    r.user_id.lower(),
                    r.line,
                    _mobile_hash(r.mobile_number),
                    mask_mobile(r.mobile_number),
                    doors_digest(r.doors),
                    "\x1f".join(d.serial_number for d in r.doors),
                    len(r.doors),
                )
                for r in rows
            ],
        )

    def hold(self, user_id: str, line: int) -> None:
        """A user whose export row was rejected: its credential is held as it is."""
        self.db.execute(
            "INSERT INTO held VALUES (?, ?) ON CONFLICT(user_id) DO NOTHING",
            (user_id.lower(), line),
        )

    def hold_mobile(self, mobile_number: str, line: int) -> None:
        """A number two export rows share: no credential is created or moved onto it."""
        self.db.execute(
            "INSERT INTO held_mobiles VALUES (?, ?) ON CONFLICT(mobile) DO NOTHING",
            (_mobile_hash(mobile_number), line),
        )

    def mobile_held_by(self, mobile_hash: str) -> int | None:
        """The rejected line that shares this number (hashed), if any."""
        row = self.db.execute(
            "SELECT line FROM held_mobiles WHERE mobile = ?", (mobile_hash,)
        ).fetchone()
        return None if row is None else int(row[0])

    def held_line(self, user_id: str) -> int | None:
        """The rejected export line of ``user_id``, when its row was rejected."""
        row = self.db.execute("SELECT line FROM held WHERE user_id = ?", (user_id,)).fetchone()
        return None if row is None else int(row[0])

    def add_history(self, entry: HistoryEntry) -> None:
        """Merge one entry: the latest save and the latest resend win."""
        self.db.execute(
            "INSERT INTO history VALUES (?, ?, ?, ?, ?) ON CONFLICT(credential_id) DO UPDATE SET "
            "digest = CASE WHEN excluded.digest IS NOT NULL AND (digest IS NULL OR "
            "excluded.saved_at >= saved_at) THEN excluded.digest ELSE digest END, "
            "serials = CASE WHEN excluded.digest IS NOT NULL AND (digest IS NULL OR "
            "excluded.saved_at >= saved_at) THEN excluded.serials ELSE serials END, "
            "saved_at = CASE WHEN excluded.digest IS NOT NULL AND (digest IS NULL OR "
            "excluded.saved_at >= saved_at) THEN excluded.saved_at ELSE saved_at END, "
            "invite_at = max(coalesce(invite_at, excluded.invite_at), "
            "coalesce(excluded.invite_at, invite_at))",
            (
                entry.credential_id.lower(),
                entry.doors_digest,
                "\x1f".join(entry.serials) if entry.doors_digest is not None else None,
                entry.saved_at,
                entry.invite_at,
            ),
        )

    def add_decommissioned(self, item: Decommissioned) -> None:
        self.any_decommissioned = True
        self.db.execute(
            "INSERT INTO decommissioned VALUES (?, ?) ON CONFLICT(serial) "
            "DO UPDATE SET at = max(at, excluded.at)",
            (item.serial, item.at),
        )

    def page(
        self, credentials: Sequence[Credential]
    ) -> tuple[dict[str, tuple[object, ...]], dict[str, tuple[object, ...]]]:
        users = [c.user_id.lower() for c in credentials]
        ids = [c.credential_id.lower() for c in credentials]
        marks = ",".join("?" * len(users))
        export = {
            row[0]: row
            for row in self.db.execute(
                "SELECT user_id, line, mobile, masked, digest, serials, doors FROM export "  # noqa: S608  # only placeholders are formatted in
                f"WHERE user_id IN ({marks})",
                users,
            )
        }
        history = {
            row[0]: row
            for row in self.db.execute(
                "SELECT credential_id, digest, serials, saved_at, invite_at FROM history "  # noqa: S608  # only placeholders are formatted in
                f"WHERE credential_id IN ({marks})",
                ids,
            )
        }
        self.db.executemany("UPDATE export SET seen = 1 WHERE user_id = ?", [(u,) for u in export])
        return export, history

    def decommissioned_after(self, serials: Iterable[str], moment: float) -> list[str]:
        wanted = [s for s in serials if s]
        if not wanted or not self.any_decommissioned:
            return []
        marks = ",".join("?" * len(wanted))
        return [
            row[0]
            for row in self.db.execute(
                f"SELECT serial FROM decommissioned WHERE at > ? AND serial IN ({marks})",  # noqa: S608  # only placeholders
                [moment, *wanted],
            )
        ]

    def unseen(self) -> Iterable[tuple[object, ...]]:
        return self.db.execute(
            "SELECT user_id, line, masked, digest, serials, doors, "
            "(SELECT line FROM held_mobiles WHERE held_mobiles.mobile = export.mobile) "
            "FROM export WHERE seen = 0 ORDER BY line"
        )


class _Writer:
    """Plan lines to a scratch body file, with counts and samples."""

    def __init__(self, body: Path) -> None:
        self.handle = body.open("wb")
        self.next_step = 2  # line 1 is the header
        self.counts: dict[str, int] = {a.value: 0 for a in SyncAction}
        self.counts["equal"] = 0
        self.samples: dict[str, list[str]] = {}
        self.deletes_orphans = 0

    def sample(self, key: str, user_id: str | None) -> None:
        got = self.samples.setdefault(key, [])
        if user_id and len(got) < _SAMPLES:
            got.append(user_id)

    def equal(self, user_id: str) -> None:
        self.counts["equal"] += 1
        self.sample("equal", user_id)

    def add(self, action: SyncAction, **fields: object) -> None:
        step = PlanStep(step=self.next_step, action=action, **fields)  # type: ignore[arg-type]  # fields are PlanStep's own
        self.next_step += 1
        self.handle.write(encode_step(step))
        self.counts[action.value] += 1
        self.sample(action.value, step.user_id)
        if action is SyncAction.DELETE:
            self.deletes_orphans += 1

    def close(self) -> None:
        self.handle.close()


@dataclass(frozen=True, slots=True)
class Rules:
    """When invites are due and whether unknown payloads are saved again."""

    now: float
    resend_after: float
    resave_unknown: bool


def _split(serials: object) -> tuple[str, ...]:
    return tuple(s for s in str(serials or "").split("\x1f") if s)


def _decide(
    cred: Credential,
    export: tuple[object, ...] | None,
    history: tuple[object, ...] | None,
    index: SyncIndex,
    rules: Rules,
    out: _Writer,
) -> None:
    """Write the steps one credential needs (or count it equal)."""
    user_id = cred.user_id.lower()
    cid = cred.credential_id
    if export is None and (held := index.held_line(user_id)) is not None:
        out.add(
            SyncAction.UNKNOWN,
            user_id=user_id,
            credential_id=cid,
            mobile=mask_mobile(cred.mobile_number),
            line=held,
            reason=f"export line {held} was rejected: the credential is held as it is (fix "
            "the row; nothing is deleted or replaced on a row that could not be read)",
        )
        return
    if export is None:
        out.add(
            SyncAction.DELETE,
            user_id=user_id,
            credential_id=cid,
            mobile=mask_mobile(cred.mobile_number),
            reason="user id no longer in the export: an orphan (still opens doors, still billed)",
        )
        return
    _uid, line, mobile, masked, digest, serials, doors = export
    assert isinstance(line, int)
    assert isinstance(doors, int)
    if (
        mobile != _mobile_hash(cred.mobile_number)
        and (shared := index.mobile_held_by(str(mobile))) is not None
    ):
        out.add(
            SyncAction.UNKNOWN,
            user_id=user_id,
            credential_id=cid,
            line=line,
            mobile=str(masked),
            reason=f"its new number {masked} is shared with export line {shared}, which was "
            "rejected: the credential is held as it is until the export says whose it is",
        )
        return
    if mobile != _mobile_hash(cred.mobile_number):
        out.add(
            SyncAction.REPLACE,
            user_id=user_id,
            credential_id=cid,
            line=line,
            mobile=str(masked),
            doors=doors,
            doors_digest=str(digest),
            serials=_split(serials),
            reason=(
                f"mobile number {mask_mobile(cred.mobile_number)} is now {masked}: the API has "
                "no update, so delete then create (the resident gets a new invite)"
            ),
        )
        return
    acted = False
    payload = _payload_step(cred, line, str(digest), _split(serials), doors, history, index, rules)
    if payload is not None:
        action, reason, clear = payload
        out.add(
            action,
            user_id=user_id,
            credential_id=cid,
            line=line,
            mobile=str(masked),
            doors=doors,
            doors_digest=str(digest),
            serials=_split(serials),
            clear_first=clear,
            reason=reason,
        )
        acted = True
    invite = invite_decision(cred, history, rules)
    if invite is not None:
        action, reason = invite
        out.add(action, user_id=user_id, credential_id=cid, mobile=str(masked), reason=reason)
        acted = True
    if not acted:
        out.equal(user_id)


def _payload_step(
    cred: Credential,
    line: int,
    digest: str,
    serials: tuple[str, ...],
    doors: int,
    history: tuple[object, ...] | None,
    index: SyncIndex,
    rules: Rules,
) -> tuple[SyncAction, str, bool] | None:
    """Whether the credential's payloads differ from the export's doors, and how."""
    kind = (cred.payload_type or "").lower()
    if kind not in ("tour", "notour"):
        return SyncAction.UNKNOWN, "the service did not say whether it holds payloads", False
    stored = kind == "notour"
    if not stored:
        if doors:
            return SyncAction.SAVE_PAYLOADS, f"no payloads on the service; {doors} door(s)", False
        return None
    if not doors:
        return SyncAction.SAVE_PAYLOADS, "no door left in the export: delete its payloads", True
    known = history[1] if history is not None else None
    if known is None:
        if rules.resave_unknown:
            return SyncAction.SAVE_PAYLOADS, "payloads not in any history: saved again", False
        return (
            SyncAction.UNKNOWN,
            "payloads stored, but no history records which: pass --history with the "
            "state of the run that saved them (or --resave-unknown)",
            False,
        )
    saved_at = float(history[3]) if history is not None else 0.0  # type: ignore[arg-type]  # a REAL column
    had = _split(history[2] if history is not None else "")
    gone = sorted(set(had) - set(serials))
    stale = index.decommissioned_after(serials, saved_at)
    if known == digest and not stale:
        return None
    if stale:
        why = f"lock(s) {', '.join(stale)} decommissioned since the payloads were saved"
    elif gone:
        why = f"door(s) on {', '.join(gone)} dropped: delete its payloads, save {doors}"
    else:
        why = f"doors added or changed: save {doors} (replaces per device)"
    return SyncAction.SAVE_PAYLOADS, why, bool(gone)


def invite_decision(
    cred: Credential, history: tuple[object, ...] | None, rules: Rules
) -> tuple[SyncAction, str] | None:
    """Whether an invite nobody opened should be resent (or cannot be known).

    ``history`` is the credential's history row (``SyncIndex.page``), None when no
    history file records it.
    """
    if cred.is_downloaded:
        return None
    created = _iso_to_epoch(cred.created_at)
    if created is None:
        return SyncAction.UNKNOWN, "not downloaded; the service gave no creation time"
    resent = history[4] if history is not None else None
    last = max(created, float(resent)) if isinstance(resent, (int, float)) else created
    age = rules.now - last
    if age < rules.resend_after:
        return None
    hours = f"{age / 3600:.0f} h"
    if history is None:
        return (
            SyncAction.UNKNOWN,
            f"not downloaded, created {hours} ago; no history records whether an invite was "
            "resent since: pass --history (nothing is resent on a guess)",
        )
    return SyncAction.RESEND, f"not downloaded; last invite {hours} ago"


async def plan_sync(
    client: ListingClient,
    input_path: str | Path,
    *,
    out: str | Path | None = None,
    history: Sequence[str | Path] = (),
    input_format: InputFormat | None = None,
    parse_options: ParseOptions = _DEFAULT_PARSE,
    resend_after_hours: float = DEFAULT_RESEND_AFTER_HOURS,
    resave_unknown: bool = False,
    now: dt.datetime | None = None,
    sites: Sequence[str] = (),
) -> SyncPlan:
    """Compare the export at ``input_path`` with the service; write and return the plan.

    ``sites`` scopes the plan to the credentials whose ``attributes.siteId`` is one of
    them (one integration account serves many properties: a per-property export must
    never make every other property's resident an orphan); credentials of other sites
    are left alone. Without it the plan names the sites the service holds that no export
    row names.

    ``history`` are state files of earlier ``migrate``, ``apply``, ``chase`` and
    ``decommission`` runs. ``now`` is when invite ages are measured from (default: the
    system clock). Raises :class:`PlanError` (and ``InputError`` for an unreadable export).
    """
    started = asyncio.get_running_loop().time()
    source = Path(input_path)
    check_input(source)
    fmt = detect_format(source, input_format)
    fingerprint = input_fingerprint(source)
    target = Path(out) if out is not None else default_plan_path(source)
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    rules = Rules(moment.timestamp(), resend_after_hours * 3600.0, resave_unknown)
    index = SyncIndex()
    notes: list[str] = []
    export_rows = 0
    service_rows = 0
    scope = {s.strip() for s in sites if s.strip()}
    export_sites: set[str] = set()
    service_sites: set[str] = set()
    outside = 0
    with tempfile.TemporaryDirectory(prefix=".plan-", dir=target.parent) as scratch:
        writer = _Writer(Path(scratch) / "body.jsonl")
        try:

            def load_export() -> int:
                rows = 0
                batch: list[Resident] = []
                with Deduplicator() as dedup:
                    for parsed in read_input(source, input_format=fmt, options=parse_options):
                        row = dedup.check(parsed)
                        rows += 1
                        if isinstance(row, RejectedRow):
                            if row.user_id:
                                index.hold(row.user_id, row.line)
                            if isinstance(parsed, Resident):  # a number another row has
                                index.hold_mobile(parsed.mobile_number, row.line)
                            writer.add(
                                SyncAction.REJECTED,
                                user_id=row.user_id,
                                line=row.line,
                                reason=row.reason,
                            )
                            continue
                        if row.site_id:
                            export_sites.add(row.site_id)
                        batch.append(row)
                        if len(batch) >= _INSERT_BATCH:
                            index.add_residents(batch)
                            batch = []
                index.add_residents(batch)
                return rows

            export_rows = await asyncio.to_thread(load_export)
            for path in history:
                async for item in iter_history(Path(path)):
                    if isinstance(item, HistoryEntry):
                        index.add_history(item)
                    elif isinstance(item, Decommissioned):
                        index.add_decommissioned(item)
                    elif isinstance(item, HistoryNote):
                        notes.append(f"{item.path}: {item.text}")
            first: Credential | None = None
            last: Credential | None = None
            page: list[Credential] = []

            def decide_page(creds: list[Credential]) -> None:
                export, known = index.page(creds)
                for cred in creds:
                    _decide(
                        cred,
                        export.get(cred.user_id.lower()),
                        known.get(cred.credential_id.lower()),
                        index,
                        rules,
                        writer,
                    )

            async for cred in client.iter_credentials(page_size=_PAGE_SIZE):
                service_rows += 1
                first = first or cred
                last = cred
                site = cred.attributes.site_id if cred.attributes is not None else None
                if scope and site not in scope:
                    outside += 1  # another property's resident: not this plan's to touch
                    continue
                if site:
                    service_sites.add(site)
                page.append(cred)
                if len(page) >= _PAGE_SIZE:
                    decide_page(page)
                    page = []
            if page:
                decide_page(page)
            for user_id, line, masked, digest, serials, doors, shared in index.unseen():
                if shared is not None:
                    writer.add(
                        SyncAction.UNKNOWN,
                        user_id=str(user_id),
                        line=line,
                        mobile=str(masked),
                        reason=f"its number is shared with export line {shared}, which was "
                        "rejected: not created until the export says whose the number is",
                    )
                    continue
                writer.add(
                    SyncAction.CREATE,
                    user_id=str(user_id),
                    line=line,
                    mobile=str(masked),
                    doors=doors,
                    doors_digest=str(digest),
                    serials=_split(serials),
                    reason="in the export, not on the service: create (sends an invite)"
                    + (f", save {doors} door(s)" if doors else ""),
                )
            streamed = ServiceMark(
                total=service_rows,
                oldest_id=first.credential_id if first else None,
                newest_id=last.credential_id if last else None,
                newest_created_at=last.created_at if last else None,
            )
            again = await read_service_mark(client)
            if again != streamed:
                raise PlanError(
                    f"the service changed while it was being read ({streamed.total:,} "
                    f"credentials listed, {again.total:,} now): plan again"
                )
        finally:
            writer.close()
            index.close()
        missing = tuple(sorted(service_sites - export_sites)) if not scope else ()
        if missing:
            shown = ", ".join(missing[:5]) + (
                f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            )
            notes.append(
                f"the service holds credentials of {len(missing)} site(s) no export row names "
                f"({shown}): their residents are orphans in this plan; for one property's "
                "export pass --site ID"
            )
        header = PlanHeader(
            version=PLAN_VERSION,
            computed_at=moment.isoformat(timespec="seconds"),
            input={
                **fingerprint.as_dict(),
                "format": fmt,
                "region": parse_options.region.upper(),
                "namespace": str(parse_options.namespace),
                "encoding": parse_options.encoding,
            },
            service=streamed,
            history=tuple(str(p) for p in history),
            resend_after_hours=resend_after_hours,
            counts=writer.counts,
            deletes_orphans=writer.deletes_orphans,
            samples=writer.samples,
            sites=tuple(sorted(scope)),
            outside_sites=outside,
            sites_missing=missing,
        )
        await asyncio.to_thread(write_plan, target, header, Path(scratch) / "body.jsonl")
    elapsed = asyncio.get_running_loop().time() - started
    return SyncPlan(
        path=target,
        header=header,
        notes=tuple(notes),
        seconds=max(elapsed, math.ulp(1.0)),
        service_rows=service_rows,
        export_rows=export_rows,
    )
