"""Shared fixtures: real brokers and a PostgreSQL cluster for the whole session, fresh names
for each test."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from calibd.testing import envelope
from tests.support.brokers import BrokerProcess, start_mosquitto, start_tansu
from tests.support.postgres import PostgresCluster


@pytest.fixture(scope="session")
def broker_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("brokers")


@pytest.fixture(scope="session")
def kafka(broker_dir) -> BrokerProcess:
    broker = start_tansu(broker_dir)
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def mqtt(broker_dir) -> BrokerProcess:
    broker = start_mosquitto(broker_dir)
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def postgres() -> PostgresCluster:
    """A private PostgreSQL cluster (started when a test first needs it; failing, not
    skipping, when it cannot start)."""
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture
def uid() -> str:
    """A short unique suffix for topic, group and client names of one test."""
    return uuid.uuid4().hex[:10]


def example(event_type: str, **changes) -> dict:
    """The documented example of `event_type` with a fresh id and `changes` applied to data."""
    return envelope(event_type, **changes)
