"""The project's whole workflow: ``nox -s tests tests_without_otel lint typecheck docs bench``."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "tests_without_otel", "lint", "typecheck", "docs"]
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True

PACKAGES = ["schlage_async", "bulk", "benchmarks"]

WITHOUT_OTEL_TESTS = [
    "tests/telemetry",
    "tests/test_public_api.py",
    "tests/bulk/test_public_api.py",
    "tests/bulk/test_structure.py",
    "tests/client/test_against_simulator.py",
    "tests/bulk/test_e2e.py",
    "-m",
    "not slow",
]
"""What ``tests_without_otel`` runs by default: the tests that touch telemetry (most skip,
needing the SDK), the public surfaces, and a client and an engine run: seconds, not the
suite's minutes."""


@nox.session
def tests(session: nox.Session) -> None:
    """Run the whole test suite against the in-process simulator."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def tests_without_otel(session: nox.Session) -> None:
    """Without OpenTelemetry (``.[test-base]``): it must stay optional and cost nothing.

    An import check (no ``opentelemetry`` at all, the packages import), then the tests
    that touch telemetry; ``-- tests`` (or ``-- tests -m "not slow"``) runs the whole
    suite the same way.
    """
    session.install("-e", ".[test-base]")
    session.run(
        "python",
        "-c",
        "import importlib.util as u, sys; "
        "sys.exit('opentelemetry is installed' if u.find_spec('opentelemetry') else 0); ",
    )
    session.run(
        "python",
        "-c",
        "import bulk, bulk.cli.main, schlage_async; "
        "from schlage_async._telemetry import OTEL_AVAILABLE; assert not OTEL_AVAILABLE",
    )
    session.run("pytest", *(session.posargs or WITHOUT_OTEL_TESTS))


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff: lint and format check."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """Mypy strict on the packages and the benchmark harness (with the extras it imports)."""
    session.install("-e", ".[test,bench,plot,scale]", "mypy")
    session.run("mypy", *[f"--package={p}" for p in PACKAGES])


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site (mkdocs-material + mkdocstrings), built with ``--strict``."""
    session.install("-e", ".[docs]")
    session.env["NO_MKDOCS_2_WARNING"] = "1"
    session.run("mkdocs", "build", "--strict", "--site-dir", str(session.create_tmp()) + "/site")


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmark harness: ``--quick`` by default; ``-- --full --json OUT --plot PNG``.

    It fails only when a benchmark breaks, never on a number (a missed target is a row of
    its table). ``--plot`` installs the plot extra (matplotlib) too.
    """
    args = session.posargs or ["--quick"]
    extras = "bench,test,plot" if "--plot" in args else "bench,test"
    session.install("-e", f".[{extras}]")
    session.run("python", "-m", "benchmarks", "run", *args)
