"""The sync commands on the guarded path, and the rails no edited file gets around.

Each test failed on main before (issue 18's defects 2, 3, 6, 7 and 24): a rejected export
row turned into a delete, a decommission state reused against another service, a history
that trusted a file's first 64 KiB, rails read from an editable header, an order that
changed between runs.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from bulk import (
    AccountBlockedError,
    InputMismatchError,
    MemoryCheckpointStore,
    MigrationOptionsError,
    ServiceIdentity,
    SQLiteCheckpointStore,
    decommission_locks,
)
from bulk.sync.apply import ApplyOptions, apply_plan
from bulk.sync.chase import chase_invites
from bulk.sync.plan import plan_sync
from bulk.sync.plan_file import (
    ACTIONS_THAT_CALL,
    PlanError,
    SyncAction,
    count_steps,
    iter_plan_steps,
)

from .sync_scenario import build_scenario, client_for


async def test_a_rejected_export_row_holds_its_credential(
    simulator_factory: Any, tmp_path: Path
) -> None:
    """A typo in a number or a number shared with another row: never an orphan delete."""
    sim = await simulator_factory()
    scenario = await build_scenario(sim, tmp_path, size=60)
    rows = [json.loads(line) for line in scenario.export.read_text().splitlines()]
    typo, shared = rows[5], rows[6]
    typo["mobileNumber"] = "+1555"  # too short: rejected with its user id
    shared["mobileNumber"] = rows[7]["mobileNumber"]  # the second holder is rejected
    export = tmp_path / "edited.jsonl"
    export.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    held = {_uid(typo), _uid(shared), _uid(rows[7])}  # both holders of the shared number
    async with client_for(sim) as client:
        before = {c.user_id for c in sim.state.credentials.values() if not c.deleted}
        plan = await plan_sync(client, export, history=[scenario.state], now=sim.clock.now())
        steps = list(iter_plan_steps(plan.path))
        for step in steps:
            if step.user_id in held and step.credential_id is not None:
                assert step.action is SyncAction.UNKNOWN, step
        async with SQLiteCheckpointStore(tmp_path / "apply.sqlite") as store:
            await apply_plan(client, plan.path, store, options=ApplyOptions(allow_delete=True))
    after = {c.user_id for c in sim.state.credentials.values() if not c.deleted}
    assert held & before <= after  # still there, as they were


async def test_an_edited_header_cannot_get_around_the_rails(
    simulator_factory: Any, tmp_path: Path
) -> None:
    """A plan whose header says 0 deletes while its steps delete: refused, nothing sent."""
    sim = await simulator_factory()
    scenario = await build_scenario(sim, tmp_path, size=60)
    async with client_for(sim) as client:
        plan = await plan_sync(
            client, scenario.export, history=[scenario.state], now=sim.clock.now()
        )
        assert count_steps(plan.path)[SyncAction.DELETE.value] > 0
        lines = plan.path.read_text(encoding="utf-8").splitlines(keepends=True)
        header = json.loads(lines[0])
        header["counts"][SyncAction.DELETE.value] = 0
        header["deletesOrphans"] = 0
        lines[0] = json.dumps(header) + "\n"
        plan.path.write_text("".join(lines), encoding="utf-8")
        requests = sim.state.counters.as_json()["requests"]
        async with SQLiteCheckpointStore(tmp_path / "apply.sqlite") as store:
            with pytest.raises(PlanError):
                await apply_plan(client, plan.path, store)
    assert sim.state.counters.as_json()["requests"] == requests


def test_the_order_of_actions_is_always_the_same() -> None:
    """The plan lists and applies actions in one fixed order (not a set's)."""
    assert isinstance(ACTIONS_THAT_CALL, tuple)
    assert [a.value for a in ACTIONS_THAT_CALL] == [
        "create", "delete", "replace", "save_payloads", "resend",
    ]  # fmt: skip


async def test_a_decommission_state_of_another_service_is_refused(
    simulator_factory: Any, tmp_path: Path
) -> None:
    """Reused against another service, a decommission state is refused, not "done earlier"."""
    first = await simulator_factory()
    second = await simulator_factory()
    state = tmp_path / "decommission.state.sqlite"
    async with client_for(first) as client, SQLiteCheckpointStore(state) as store:
        result = await decommission_locks(client, ["SN-1"], store)
    assert result.complete
    async with client_for(second) as client, SQLiteCheckpointStore(state) as store:
        with pytest.raises(InputMismatchError):
            await decommission_locks(client, ["SN-1"], store)


async def test_sync_entries_refuse_a_client_without_an_identity_and_honour_a_block(
    simulator_factory: Any, tmp_path: Path
) -> None:
    """chase and decommission take the same guards as run_migration."""
    sim = await simulator_factory()

    class Anonymous:
        """Forwards every call but cannot say which service it talks to."""

        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def __getattr__(self, name: str) -> Any:
            if name in ("base_url", "username"):
                raise AttributeError(name)
            return getattr(self._inner, name)

    async with client_for(sim) as client:
        with pytest.raises(MigrationOptionsError, match="service"):
            await decommission_locks(Anonymous(client), ["SN-1"], MemoryCheckpointStore())
        with pytest.raises(MigrationOptionsError, match="service"):
            await chase_invites(Anonymous(client), MemoryCheckpointStore())
        blocked = MemoryCheckpointStore()
        until = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        await blocked.set_meta("account_block", json.dumps({"resume_at": until.isoformat()}))
        requests = sim.state.counters.as_json()["requests"]
        with pytest.raises(AccountBlockedError):
            await decommission_locks(client, ["SN-1"], blocked)
        with pytest.raises(AccountBlockedError):
            await chase_invites(client, blocked)
        assert sim.state.counters.as_json()["requests"] == requests
        named = ServiceIdentity.of("https://elsewhere.example/smc-api", "ops@example.com")
        result = await decommission_locks(
            Anonymous(client), ["SN-2"], MemoryCheckpointStore(), service=named
        )
        assert result.complete


async def test_a_history_row_changed_past_the_first_64_kib_is_not_trusted(
    simulator_factory: Any, tmp_path: Path
) -> None:
    """The migrate input is compared row by row: a door changed late in a big file is saved."""
    sim = await simulator_factory()
    scenario = await build_scenario(sim, tmp_path, size=400)
    text = scenario.portfolio.read_text(encoding="utf-8")
    assert len(text.encode()) > 64 * 1024
    rows = [json.loads(line) for line in text.splitlines()]
    late = next(i for i in range(len(rows) - 1, 0, -1) if rows[i].get("doors"))
    payload = rows[late]["doors"][0]["noTourPayload"]
    rows[late]["doors"][0]["noTourPayload"] = ("0" if payload[0] != "0" else "1") + payload[1:]
    edited = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows)
    size = len(text.encode())
    edited = edited[:size] if len(edited.encode()) >= size else edited
    scenario.portfolio.write_text(edited, encoding="utf-8")
    user = _uid(rows[late])
    async with client_for(sim) as client:
        plan = await plan_sync(
            client, scenario.portfolio, history=[scenario.state], now=sim.clock.now()
        )
    actions = {s.action for s in iter_plan_steps(plan.path) if s.user_id == user}
    assert actions & {SyncAction.SAVE_PAYLOADS, SyncAction.UNKNOWN}, actions


def _uid(row: dict[str, Any]) -> str:
    from bulk._user_ids import DEFAULT_NAMESPACE, user_id_for

    if row.get("userId"):
        return str(row["userId"]).lower()
    return user_id_for(str(row["externalId"]), DEFAULT_NAMESPACE).lower()


async def test_a_plan_scoped_to_a_site_leaves_the_other_sites_alone(
    simulator_factory: Any, tmp_path: Path
) -> None:
    """One property's export with --site: no other property's resident becomes an orphan."""
    sim = await simulator_factory()
    scenario = await build_scenario(sim, tmp_path, size=120)
    rows = [json.loads(line) for line in scenario.portfolio.read_text().splitlines()]
    site = rows[0]["attributes"]["siteId"]
    own = [r for r in rows if r["attributes"]["siteId"] == site]
    assert 0 < len(own) < len(rows)
    export = tmp_path / "one-site.jsonl"
    export.write_text("".join(json.dumps(r) + "\n" for r in own), encoding="utf-8")
    async with client_for(sim) as client:
        whole = await plan_sync(client, export, history=[scenario.state], now=sim.clock.now())
        scoped = await plan_sync(
            client,
            export,
            out=tmp_path / "scoped.plan.jsonl",
            history=[scenario.state],
            now=sim.clock.now(),
            sites=[site],
        )
    others = {_uid(r) for r in rows if r["attributes"]["siteId"] != site}
    assert whole.header.sites_missing
    assert any("site(s) no export row names" in note for note in whole.notes)
    assert {s.user_id for s in iter_plan_steps(whole.path)} & others
    scoped_users = {s.user_id for s in iter_plan_steps(scoped.path)}
    assert not scoped_users & others
    assert scoped.header.outside_sites == len(others)
    assert scoped.header.sites == (site,)


async def test_a_plan_applied_again_elsewhere_texts_nobody_twice_a_day(
    simulator_factory: Any, tmp_path: Path
) -> None:
    """Another --state, a restart or a copy of the plan: each resident is invited once a day."""
    import shutil

    sim = await simulator_factory()
    scenario = await build_scenario(sim, tmp_path, size=100)
    async with client_for(sim) as client:
        plan = await plan_sync(
            client, scenario.export, history=[scenario.state], now=sim.clock.now()
        )
        resends = count_steps(plan.path)[SyncAction.RESEND.value]
        assert resends > 0
        copy = tmp_path / "copy.plan.jsonl"
        shutil.copyfile(plan.path, copy)
        before = len(sim.state.outbox)
        for path, state in ((plan.path, "a.sqlite"), (copy, "b.sqlite"), (plan.path, "c.sqlite")):
            async with SQLiteCheckpointStore(tmp_path / state) as store:
                await apply_plan(
                    client, path, store,
                    options=ApplyOptions(allow_delete=True, check_stale=False),
                    now=sim.clock.now,
                )  # fmt: skip
        texts = [m.user_id for m in sim.state.outbox[before:]]
    assert len(texts) == len(set(texts))  # nobody texted twice
    async with client_for(sim) as client, SQLiteCheckpointStore(tmp_path / "d.sqlite") as store:
        result = await chase_invites(
            client, store, now=sim.clock.now, history=[tmp_path / "a.sqlite"]
        )
    assert result.resent == 0 or not set(texts) & {
        m.user_id for m in sim.state.outbox[before + len(texts) :]
    }


def test_the_daily_cycle_runs_with_the_same_commands_every_day(
    threaded_simulator: Any, sim_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Plan to the default path and apply with the default state, day after day: no
    --restart, and yesterday's saves stay in the history (nothing re-saved or unknown)."""
    from bulk import generate_portfolio
    from bulk.cli.main import main

    sim = threaded_simulator()
    path = generate_portfolio(tmp_path / "p.jsonl", 40, seed=9).path
    base = ["--base-url", sim.handle.api_base_url, "--progress", "none"]
    migrated = str(tmp_path / "m.sqlite")
    assert main(["migrate", str(path), *base, "--rate", "0", "--state", migrated]) == 0
    export = tmp_path / "export.jsonl"
    plan = Path(f"{export}.plan.jsonl")
    applied = Path(f"{plan}.state.sqlite")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    with_doors = [i for i, r in enumerate(rows) if r.get("doors")]
    for day, changed in enumerate(with_doors[:2]):
        rows[changed]["doors"][0]["noTourPayload"] = f"{day + 1:X}" * 96
        export.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        history = ["--history", migrated] + (["--history", str(applied)] if day else [])
        assert main(["plan", str(export), *base, *history]) == 0
        capsys.readouterr()
        assert main(["apply", str(plan), *base]) == 0, capsys.readouterr().err
        capsys.readouterr()
    # Day 3, nothing changed: every payload saved on days 1 and 2 is known, nothing to do.
    assert main(["plan", str(export), *base, "--history", migrated, "--history", str(applied)]) == 0
    steps = list(iter_plan_steps(plan))
    assert [s for s in steps if s.action in (SyncAction.SAVE_PAYLOADS, SyncAction.UNKNOWN)] == []
    archived = sorted(tmp_path.glob("export.jsonl.plan.jsonl.state.sqlite.*.sqlite"))
    assert len(archived) == 1  # day 1's run, moved out of day 2's way
