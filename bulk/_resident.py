"""What one input row becomes: a :class:`Resident` to provision, or a :class:`RejectedRow`."""

from __future__ import annotations

from dataclasses import dataclass, field

from schlage_async import NoTourPayload, mask_mobile

__all__ = ["ParsedRow", "RejectedRow", "Resident"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Resident:
    """One resident to provision: the create-credential fields and the doors' payloads.

    ``line`` is the physical line of the input where the resident's row starts (1-based),
    the key every checkpoint and report uses. ``user_id`` is always the UUID sent to the
    service; ``external_id`` is the PACS id it was derived from, when the row gave one.
    The repr masks the mobile number, so a resident can be logged as it is.
    """

    line: int
    user_id: str
    mobile_number: str
    card_format: str
    facility_code: int | None = None
    issue_code: int | None = None
    site_id: str | None = None
    site_name: str | None = None
    external_id: str | None = None
    doors: tuple[NoTourPayload, ...] = field(default=())
    row_hash: str | None = None
    """The digest of the input line the row came from (``bulk.row_digest``), if known."""

    def __repr__(self) -> str:
        return (
            f"Resident(line={self.line}, user_id={self.user_id!r}, "
            f"mobile_number={mask_mobile(self.mobile_number)!r}, card_format={self.card_format!r}, "
            f"facility_code={self.facility_code!r}, doors={len(self.doors)})"
        )

    @property
    def attributes(self) -> dict[str, str] | None:
        """The create-credential ``attributes`` (``siteId``, ``siteName``), or None."""
        out: dict[str, str] = {}
        if self.site_id is not None:
            out["siteId"] = self.site_id
        if self.site_name is not None:
            out["siteName"] = self.site_name
        return out or None


@dataclass(frozen=True, slots=True, kw_only=True)
class RejectedRow:
    """An input row that cannot be provisioned; it costs no API call and never stops a run.

    ``reason`` says why, in the service's own words where the service has a rule for it.
    ``user_id`` is given when the row got far enough to have one (masked and cut when it
    is not a UUID: the readers never repeat a cell's text unmasked).
    """

    line: int
    reason: str
    user_id: str | None = None
    row_hash: str | None = None
    """The digest of the input line the row came from, if known."""


ParsedRow = Resident | RejectedRow
"""What the input readers yield, one per non-blank row."""
