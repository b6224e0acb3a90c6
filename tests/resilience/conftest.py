"""Fault injection fixtures: a PostgreSQL this module may kill, and the API served over real HTTP on top of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from backend.db.migrate import upgrade
from harness.issuer import TokenIssuer
from harness.net import LiveServer
from harness.resilience.cluster import PostgresCluster
from harness.resilience.faults import FAULTS_DATABASE, REPORTS, cluster_app


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster().init()
    cluster.start()
    cluster.execute(f"CREATE DATABASE {FAULTS_DATABASE}")
    upgrade(cluster.url(FAULTS_DATABASE))
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def faults_app(cluster: PostgresCluster, issuer: TokenIssuer) -> FastAPI:
    return cluster_app(cluster, issuer)


@pytest.fixture(scope="module")
def live(faults_app: FastAPI) -> Iterator[LiveServer]:
    with LiveServer(faults_app) as server:
        yield server


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORTS:
        terminalreporter.section("resilience: injected and observed")
        for entry in REPORTS:
            terminalreporter.write_line(entry)
