"""Fixtures of the web tests: a store the real engine filled on the paper venue, and the app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from perphedge.services.hedge_service import HedgeService
from perphedge.web.app import create_app
from tests.web.hedge_fixture import PaperRun, paper_run

TOKEN = "s3cret-web-token"  # noqa: S105 - a test token


@pytest.fixture
def run(tmp_path: Path) -> PaperRun:
    return paper_run(tmp_path)


@pytest.fixture
def service(run: PaperRun) -> Iterator[HedgeService]:
    svc = run.service()
    yield svc
    svc.comp.close()


@pytest.fixture
def app(service: HedgeService) -> FastAPI:
    return create_app(service, token=SecretStr(TOKEN), poll_seconds=1)
