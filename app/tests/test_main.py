"""Tests for every endpoint of the service.

Why: the pipeline's rollout wait trusts /readyz and its post-deploy check
trusts /version; these tests guard that readiness is real (starting, ready,
draining) and that the reported revision is the one baked into the image.
"""

import pytest
from fastapi.testclient import TestClient

import main


def test_root_says_hello(client):
    resp = client.get("/")
    assert resp.status_code == 200
    body = resp.json()
    assert body["message"] == "hello from ship-demo"
    assert body["revision"] == "unknown"


def test_healthz_is_alive(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "alive"}


def test_healthz_stays_alive_while_draining(client, monkeypatch):
    monkeypatch.setenv("SHIP_DRAINING", "true")
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503


def test_readyz_ready_after_startup(client):
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ready"}


def test_readyz_not_ready_before_startup():
    # Without the context manager the startup event never runs: this is a
    # pod whose startup has not finished.
    main._state["started"] = False
    resp = TestClient(main.app).get("/readyz")
    assert resp.status_code == 503
    assert resp.json() == {"status": "starting"}


def test_readyz_drops_after_shutdown():
    with TestClient(main.app) as c:
        assert c.get("/readyz").status_code == 200
    assert main._state["started"] is False


@pytest.mark.parametrize(
    "value, want",
    [("1", 503), ("true", 503), ("YES", 503), ("0", 200), ("false", 200), ("", 200)],
)
def test_readyz_drain_env_toggle(client, monkeypatch, value, want):
    monkeypatch.setenv("SHIP_DRAINING", value)
    assert client.get("/readyz").status_code == want


def test_readyz_drain_file_toggle(client, drain_file):
    assert client.get("/readyz").status_code == 200
    drain_file.write_text("")
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.json() == {"status": "draining"}
    drain_file.unlink()
    assert client.get("/readyz").status_code == 200


def test_version_defaults_to_unknown(client):
    resp = client.get("/version")
    assert resp.status_code == 200
    assert resp.json() == {
        "service": "ship-demo",
        "version": main.SERVICE_VERSION,
        "revision": "unknown",
    }


@pytest.mark.parametrize(
    "env, want",
    [
        ("3f2c1a9e8b7d6c5b4a39281706f5e4d3c2b1a098", "3f2c1a9e8b7d6c5b4a39281706f5e4d3c2b1a098"),
        ("  abc123  ", "abc123"),
        ("", "unknown"),
        ("   ", "unknown"),
    ],
)
def test_version_reports_baked_revision(client, monkeypatch, env, want):
    monkeypatch.setenv("GIT_REVISION", env)
    assert client.get("/version").json()["revision"] == want
    assert client.get("/").json()["revision"] == want


def test_unknown_path_is_404(client):
    assert client.get("/nope").status_code == 404
