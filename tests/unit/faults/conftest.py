"""Fixtures of the fault-kind tests: a fake sandbox, the drivers over it, a private ledger."""

from pathlib import Path

import pytest
from fakes.sandbox_api import FakeDrivers, FakeSandbox

from chaosdrill.ledger import Ledger


@pytest.fixture
def fake() -> FakeSandbox:
    return FakeSandbox()


@pytest.fixture
def drivers(fake: FakeSandbox) -> FakeDrivers:
    return FakeDrivers(fake)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "ledger.jsonl")
