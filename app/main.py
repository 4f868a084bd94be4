"""The FastAPI service that the ship pipeline delivers to EKS.

Why this file exists: it is the workload whose rollout the pipeline waits on,
so its probes must tell the truth. /healthz answers while the process lives
(liveness); /readyz answers 200 only once startup has finished and the pod is
not draining (readiness), so Kubernetes never routes traffic to a pod that
cannot serve it. /version reports the git revision baked into the image, which
is how a deploy is checked to have landed the expected build.
"""

import os

from fastapi import FastAPI
from fastapi.responses import JSONResponse

SERVICE_NAME = "ship-demo"
SERVICE_VERSION = "1.0.0"

# Presence of this file marks the pod as draining (e.g. touched by a preStop
# hook), so readiness drops before the process stops accepting connections.
DEFAULT_DRAIN_FILE = "/tmp/ship-draining"

app = FastAPI(title=SERVICE_NAME, version=SERVICE_VERSION)

# Flipped by the startup event; readiness stays false until then so a pod
# whose startup failed or hangs is never marked Ready.
_state = {"started": False}


@app.on_event("startup")
def _mark_started() -> None:
    # on_event works on both FastAPI 0.92 (the test host) and 0.115 (the
    # image); lifespan= does not exist in 0.92.
    _state["started"] = True


@app.on_event("shutdown")
def _mark_stopped() -> None:
    _state["started"] = False


def git_revision() -> str:
    """The revision the image was built from (Dockerfile ENV GIT_REVISION)."""
    return os.environ.get("GIT_REVISION", "").strip() or "unknown"


def draining() -> bool:
    """True when the operator or a preStop hook asked the pod to drain."""
    if os.environ.get("SHIP_DRAINING", "").strip().lower() in ("1", "true", "yes"):
        return True
    path = os.environ.get("SHIP_DRAIN_FILE", DEFAULT_DRAIN_FILE)
    return bool(path) and os.path.exists(path)


@app.get("/")
def hello() -> dict:
    return {"message": f"hello from {SERVICE_NAME}", "revision": git_revision()}


@app.get("/healthz")
def healthz() -> dict:
    # Liveness only proves the event loop answers; it must not depend on
    # readiness, or a draining pod would be killed instead of drained.
    return {"status": "alive"}


@app.get("/readyz")
def readyz() -> JSONResponse:
    if not _state["started"]:
        return JSONResponse(status_code=503, content={"status": "starting"})
    if draining():
        return JSONResponse(status_code=503, content={"status": "draining"})
    return JSONResponse(status_code=200, content={"status": "ready"})


@app.get("/version")
def version() -> dict:
    return {
        "service": SERVICE_NAME,
        "version": SERVICE_VERSION,
        "revision": git_revision(),
    }
