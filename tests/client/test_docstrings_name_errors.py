"""Every public operation's docstring names the errors it raises, and only real ones."""

from __future__ import annotations

import inspect
import re

import pytest

import schlage_async
from schlage_async import EngageClient, SchlageClient

_OPERATIONS = [
    (cls, name)
    for cls in (SchlageClient, EngageClient)
    for name, member in vars(cls).items()
    if not name.startswith("_") and inspect.iscoroutinefunction(member) and name != "aclose"
]
_OPERATIONS += [(SchlageClient, "iter_credentials")]


@pytest.mark.parametrize(("cls", "name"), _OPERATIONS, ids=lambda v: getattr(v, "__name__", v))
def test_the_docstring_has_a_raises_section_naming_exported_errors(cls: type, name: str) -> None:
    """A ``Raises:`` section; each error it names is importable from ``schlage_async``."""
    doc = inspect.getdoc(getattr(cls, name)) or ""
    assert "Raises:" in doc, f"{cls.__name__}.{name}"
    named = set(re.findall(r"\b([A-Z][A-Za-z]+Error)\b", doc.split("Raises:", 1)[1]))
    assert named
    assert {n for n in named if not hasattr(schlage_async, n)} == set()
    assert "AuthenticationError" in named
    assert "TransportError" in named
