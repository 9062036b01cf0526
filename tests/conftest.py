"""Test-wide setup.  Qt must be told it has no display before any QApplication exists."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="module", params=["vectorized", "compiled"])
def each_tracer(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a module's tests once per tracer (``trace`` uses the default one).

    Module-scoped, so hypothesis tests may use it, and each tracer runs the
    whole module in turn.
    """
    from optiverse.optics import set_default_backend

    previous = set_default_backend(request.param)
    yield request.param
    set_default_backend(previous)
