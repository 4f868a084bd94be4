"""Shared fixtures for the service tests.

Why: every test needs an app with a clean environment (no revision, no drain
toggle leaking from the host or another test) and a client whose startup event
has really run, so readiness is exercised the way Kubernetes sees it.
"""

import os
import sys

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import main  # noqa: E402  (path set up above)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    monkeypatch.delenv("GIT_REVISION", raising=False)
    monkeypatch.delenv("SHIP_DRAINING", raising=False)
    # Point the drain file somewhere private so a stray /tmp file on the host
    # cannot flip readiness.
    monkeypatch.setenv("SHIP_DRAIN_FILE", str(tmp_path / "draining"))
    yield


@pytest.fixture
def drain_file(tmp_path):
    return tmp_path / "draining"


@pytest.fixture
def client():
    # The context manager runs the startup and shutdown events.
    with TestClient(main.app) as c:
        yield c
