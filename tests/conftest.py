"""Shared fixtures. Every test session gets its own CHAOSDRILL_HOME, so the ledger and
the sandbox state of a test run never mix with a user's (or another run's)."""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaosdrill.sandbox import lifecycle


@pytest.fixture(scope="session", autouse=True)
def chaosdrill_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("chaosdrill-home")
    previous = os.environ.get("CHAOSDRILL_HOME")
    os.environ["CHAOSDRILL_HOME"] = str(home)
    try:
        yield home
    finally:
        if previous is None:
            os.environ.pop("CHAOSDRILL_HOME", None)
        else:
            os.environ["CHAOSDRILL_HOME"] = previous


@pytest.fixture(scope="session")
def sandbox_session(chaosdrill_home: Path) -> Iterator[None]:
    """The reference service, up for the whole session, and provably gone after it."""
    lifecycle.up()
    try:
        yield
    finally:
        lifecycle.down()
        assert not lifecycle.is_up()


@pytest.fixture()
def sandbox(sandbox_session: None) -> dict[str, Any]:
    """The sandbox's state as it is now: a DC failover restarts a gateway on a new port."""
    return lifecycle.require_state()
