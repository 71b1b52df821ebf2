"""The pytest plugin: a faithful simulator and a client wired to it, for services that use us."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

import pytest

from schlage_async import EngageClient, SchlageClient, UserNotFoundError
from schlage_async.pytest_plugin import SchlageSimulator

_USER = "3f1c6d3e-8a4b-4c2d-9e1f-0a1b2c3d4e5f"
_PROJECT = Path(__file__).resolve().parents[2]


async def _create(client: SchlageClient, user_id: str = _USER) -> str:
    created = await client.create_credential(
        user_id=user_id, mobile_number="+15551230001", card_format="26A", facility_code=12
    )
    return created.credential_id


async def test_the_client_is_wired_to_the_simulator(
    schlage_simulator: SchlageSimulator, schlage_client: SchlageClient
) -> None:
    """A credential created through ``schlage_client`` is on ``schlage_simulator``."""
    credential_id = await _create(schlage_client)
    assert [c["credentialId"] for c in schlage_simulator.credentials()] == [credential_id]
    assert len(schlage_simulator.outbox()) == 1  # the invite text message


async def test_each_test_starts_from_a_fresh_state(
    schlage_simulator: SchlageSimulator, schlage_client: SchlageClient
) -> None:
    """The credential of the test before is gone; the counters start at zero."""
    assert schlage_simulator.credentials() == []
    assert schlage_simulator.outbox() == []
    with pytest.raises(UserNotFoundError):
        await schlage_client.get_credential_by_user(user_id=_USER)


def test_the_clock_moves_on_demand_and_is_back_at_real_time_for_the_next_test(
    schlage_simulator: SchlageSimulator,
) -> None:
    """``advance`` moves the simulator's clock; a sync test can use the fixture too."""
    before = schlage_simulator.now()
    assert abs((before - dt.datetime.now(dt.UTC)).total_seconds()) < 60
    schlage_simulator.advance(86_400)
    assert schlage_simulator.now() - before >= dt.timedelta(days=1)


def test_the_clock_was_set_back(schlage_simulator: SchlageSimulator) -> None:
    """After a test advanced the clock a day, the next one starts at real time again."""
    assert abs((schlage_simulator.now() - dt.datetime.now(dt.UTC)).total_seconds()) < 60
    assert schlage_simulator.snapshot()["clock"]["offsetSeconds"] == 0


@pytest.mark.schlage_simulator(faults="500=1.0")
async def test_a_marker_gives_a_test_its_own_configuration(
    schlage_simulator: SchlageSimulator, schlage_client: SchlageClient
) -> None:
    """``@pytest.mark.schlage_simulator(faults=...)``: this test's own simulator."""
    from schlage_async import ServerError

    assert str(schlage_simulator.config.faults) != ""
    with pytest.raises(ServerError):
        await _create(schlage_client)


def test_the_entry_point_names_this_module() -> None:
    """pyproject declares the ``pytest11`` entry point, named after the plugin's module."""
    meta = tomllib.loads((_PROJECT / "pyproject.toml").read_text())
    plugins = meta["project"]["entry-points"]["pytest11"]
    assert plugins == {"schlage_async.pytest_plugin": "schlage_async.pytest_plugin"}


@pytest.mark.slow
def test_three_lines_in_another_project(pytester: pytest.Pytester) -> None:
    """A service's own test suite gets both fixtures and the marker from the plugin alone."""
    pytester.makeini("[pytest]\nasyncio_mode = auto\naddopts = --strict-markers\n")
    pytester.makepyfile(
        test_service="""
        import pytest

        async def test_onboard(schlage_simulator, schlage_client):
            await schlage_client.create_credential(
                user_id="3f1c6d3e-8a4b-4c2d-9e1f-0a1b2c3d4e5f",
                mobile_number="+15551230001", card_format="26A", facility_code=12,
            )
            assert len(schlage_simulator.credentials()) == 1

        async def test_isolated(schlage_simulator, schlage_client):
            assert schlage_simulator.credentials() == []

        @pytest.mark.schlage_simulator(rate_limit=1)
        def test_marked(schlage_simulator):
            assert schlage_simulator.config.rate_limit == 1

        def test_own_fixture_names_are_untouched(simulator):
            assert simulator == "the service's own"

        @pytest.fixture
        def simulator():
            return "the service's own"
        """
    )
    result = pytester.runpytest_subprocess("-p", "schlage_async.pytest_plugin")
    result.assert_outcomes(passed=4)


def test_the_plugin_stays_apart_from_this_suites_fixtures(request: pytest.FixtureRequest) -> None:
    """Every plugin fixture is ``schlage_``-prefixed; the suite's ``clock`` is still its own."""
    from schlage_async import pytest_plugin

    kind = type(pytest_plugin.schlage_simulator)  # what @pytest.fixture makes
    fixtures = [name for name, value in vars(pytest_plugin).items() if isinstance(value, kind)]
    assert len([n for n in fixtures if not n.startswith("_")]) == 3  # + the session's own
    assert fixtures
    assert all(name.lstrip("_").startswith("schlage_") for name in fixtures), fixtures
    assert type(request.getfixturevalue("clock")).__module__.endswith("conftest")


async def test_the_engage_client_is_wired_too(
    schlage_simulator: SchlageSimulator, schlage_engage_client: EngageClient
) -> None:
    """``schlage_engage_client`` uploads to the same simulator's ENGAGE surface."""
    uploaded = await schlage_engage_client.upload_credential(
        user_id="acs-42", access_profile="ap-1", user_email="r@example.com"
    )
    listed = await schlage_engage_client.list_credentials(user_id="acs-42")
    assert [c.credential_id for c in listed.credentials] == [uploaded.credential_id]
    assert schlage_simulator.snapshot()["engageCredentials"]


def test_a_module_scoped_loop_opens_and_closes_the_client_on_its_own_loop(
    pytester: pytest.Pytester,
) -> None:
    """``schlage_client`` in tests sharing a module-scoped loop: no teardown error."""
    pytester.makeini("[pytest]\nasyncio_mode = strict\n")
    pytester.makepyfile(
        test_module_loop="""
        import pytest

        pytestmark = pytest.mark.asyncio(loop_scope="module")

        async def test_one(schlage_client):
            assert len((await schlage_client.list_credentials()).credentials) == 0

        async def test_two(schlage_client):
            assert len((await schlage_client.list_credentials()).credentials) == 0
        """
    )
    result = pytester.runpytest_subprocess("-p", "schlage_async.pytest_plugin")
    result.assert_outcomes(passed=2)


def test_credentials_lists_the_active_ones_only(pytester: pytest.Pytester) -> None:
    """A deleted credential is gone from ``credentials()`` (still there on request)."""
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makepyfile(
        test_deleted="""
        async def test_delete(schlage_simulator, schlage_client):
            created = await schlage_client.create_credential(
                user_id="3f1c6d3e-8a4b-4c2d-9e1f-0a1b2c3d4e5f",
                mobile_number="+15551230001", card_format="26A", facility_code=12,
            )
            await schlage_client.delete_credential(credential_id=created.credential_id)
            assert schlage_simulator.credentials() == []
            assert len(schlage_simulator.credentials(include_deleted=True)) == 1
        """
    )
    result = pytester.runpytest_subprocess("-p", "schlage_async.pytest_plugin")
    result.assert_outcomes(passed=1)


def test_loading_the_plugin_does_not_import_the_simulator() -> None:
    """The simulator (aiohttp's server side, its state) loads on first use, not at start-up."""
    import subprocess
    import sys

    code = (
        "import sys, schlage_async.pytest_plugin; print('schlage_async.simulator' in sys.modules)"
    )
    out = subprocess.run(  # noqa: S603  # our interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
