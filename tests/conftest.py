"""Shared test setup. Fixtures live in tests/fixtures/, one module per concern."""

from __future__ import annotations

import logging

import pytest

pytest_plugins = ["tests.fixtures.aws", "tests.fixtures.sandbox"]


@pytest.fixture(autouse=True)
def _sla_digest_logs_reach_caplog() -> None:
    """Importing a handler copies Powertools' config (level, no propagation) onto our loggers.

    That happens once per process, so without this a test's ``caplog`` would see nothing
    whenever a handler test happened to run earlier in the same worker, and the copied handler,
    bound to an earlier test's captured stream, would write to a closed file.
    """
    for name, item in list(logging.root.manager.loggerDict.items()):
        if name.startswith("sla_digest") and isinstance(item, logging.Logger):
            item.propagate = True
            item.setLevel(logging.NOTSET)
            item.handlers.clear()
