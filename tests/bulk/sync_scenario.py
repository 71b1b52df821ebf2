"""The sync tests' portfolio: migrated, then a PACS export that moved on (issue's mix).

A portfolio of ``size`` residents is migrated into a simulator (its state bound to its
input as ``migrate`` binds it); every credential is downloaded except the chosen
undownloaded ones; the simulator's clock moves 25 hours; then an export is written with
3 % moved out, 2 % new, 1 % changed numbers, 5 % changed doors, and the 4 % left
undownloaded among the unchanged rest.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from pathlib import Path

from bulk import (
    MigrationOptions,
    MigrationStatus,
    ServiceIdentity,
    SQLiteCheckpointStore,
    bind_input,
    generate_portfolio,
    migrate,
    read_input,
)
from bulk._calls import ENGINE_RETRY_POLICY
from bulk._input import input_fingerprint
from bulk._user_ids import DEFAULT_NAMESPACE
from schlage_async import SchlageClient
from schlage_async.simulator import SimulatorHandle

DAY_AND_AN_HOUR = 25 * 3600.0


def client_for(sim: SimulatorHandle) -> SchlageClient:
    """A client of the simulator as the engine uses one."""
    return SchlageClient(
        base_url=sim.api_base_url,
        username=sim.admin.username,
        password=sim.admin.password,
        subscription_key=sim.admin.subscription_key,
        retry=ENGINE_RETRY_POLICY,
    )


def migrate_binding(path: Path) -> dict[str, str | int]:
    """What ``python -m bulk migrate`` binds its state to, for a JSON Lines input."""
    return {
        **input_fingerprint(path).as_dict(),
        "format": "jsonl",
        "region": "US",
        "namespace": str(DEFAULT_NAMESPACE),
    }


@dataclass
class Scenario:
    """The migrated portfolio, its state, the new export and what the plan must count."""

    portfolio: Path
    state: Path
    export: Path
    moved_out: set[str]
    new: set[str]
    changed_numbers: set[str]
    changed_doors: set[str]
    undownloaded: set[str]
    size: int

    @property
    def equal(self) -> int:
        """Residents the plan must find equal."""
        return self.size - len(
            self.moved_out | self.changed_numbers | self.changed_doors | self.undownloaded
        )


def _payload(rng: random.Random) -> str:
    return "".join(rng.choice("0123456789ABCDEF") for _ in range(96))


async def build_scenario(
    sim: SimulatorHandle, folder: Path, size: int = 400, seed: int = 3
) -> Scenario:
    """Migrate a portfolio, download most of it, age it a day, write the moved-on export."""
    portfolio = generate_portfolio(folder / "portfolio.jsonl", size, seed=seed).path
    state = folder / "portfolio.jsonl.state.sqlite"
    async with client_for(sim) as client, SQLiteCheckpointStore(state) as store:
        service = ServiceIdentity.of(sim.api_base_url, sim.admin.username)
        await bind_input(store, portfolio, service=service)
        summary = await migrate(
            client, read_input(portfolio), store, options=MigrationOptions(concurrency=8)
        )
    assert summary.status is MigrationStatus.COMPLETED, summary
    rows = [json.loads(line) for line in portfolio.read_text().splitlines() if line.strip()]
    residents = list(read_input(portfolio))
    user_ids = [r.user_id for r in residents]  # type: ignore[union-attr]  # no bad rows
    rng = random.Random(seed)
    order = list(range(size))
    rng.shuffle(order)
    cut = [0]

    def take(fraction: float) -> list[int]:
        count = round(size * fraction)
        got = order[cut[0] : cut[0] + count]
        cut[0] += count
        return got

    moved, numbers, doors, undownloaded = take(0.03), take(0.01), take(0.05), take(0.04)
    state_now = sim.state
    for credential in list(state_now.credentials.values()):
        if credential.user_id not in {user_ids[i] for i in undownloaded}:
            state_now.download(credential.credential_id)
    sim.clock.advance(DAY_AND_AN_HOUR)
    fresh = generate_portfolio(folder / "fresh.jsonl", size, seed=seed + 1000).path
    taken = {row["mobileNumber"] for row in rows}
    spare = [
        row
        for row in (json.loads(line) for line in fresh.read_text().splitlines())
        if row["mobileNumber"] not in taken
    ]
    for i in numbers:
        rows[i]["mobileNumber"] = spare.pop()["mobileNumber"]
    for i in doors:
        current = rows[i].get("doors") or []
        if current:
            current[0]["noTourPayload"] = _payload(rng)
        else:
            rows[i]["doors"] = [
                {"lockId": 7, "serialNumber": f"NEW-{i}", "noTourPayload": _payload(rng)}
            ]
    new_rows = []
    for _ in range(round(size * 0.02)):
        row = spare.pop()
        row.pop("externalId", None)
        row["userId"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        new_rows.append(row)
    export = folder / "export.jsonl"
    gone = set(moved)
    with export.open("w") as out:
        for i, row in enumerate(rows):
            if i not in gone:
                out.write(json.dumps(row) + "\n")
        for row in new_rows:
            out.write(json.dumps(row) + "\n")
    return Scenario(
        portfolio=portfolio,
        state=state,
        export=export,
        moved_out={user_ids[i] for i in moved},
        new={row["userId"] for row in new_rows},
        changed_numbers={user_ids[i] for i in numbers},
        changed_doors={user_ids[i] for i in doors},
        undownloaded={user_ids[i] for i in undownloaded},
        size=size,
    )
