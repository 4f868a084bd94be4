"""The shop API, ship's second sample service.

Why this file exists: ship must deliver more than its own FastAPI service, so
this one is shaped differently (port 9090, /live and /ready, the standard
library only) and its probes tell the truth the rollout wait relies on:
/live answers while the process runs; /ready answers 200 only while the
server is serving and not draining, so Kubernetes stops routing to a pod
before it exits. /version reports the git revision baked into the image, by
which a deploy is checked to have landed the expected build.
"""

import json
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SERVICE_NAME = "shop-api"
DEFAULT_PORT = 9090
# How long a terminating pod keeps serving while it is taken out of the
# Service's endpoints; below the pod's terminationGracePeriodSeconds.
DEFAULT_DRAIN_SECONDS = 5.0


def git_revision():
    """The revision the image was built from (Dockerfile ENV GIT_REVISION)."""
    return os.environ.get("GIT_REVISION", "").strip() or "unknown"


class State:
    """Readiness: false until the server is serving, false again once draining."""

    def __init__(self):
        self.serving = threading.Event()
        self.draining = threading.Event()

    def readiness(self):
        if self.draining.is_set():
            return "draining"
        if not self.serving.is_set():
            return "starting"
        return "ready"


def make_handler(state):
    class Handler(BaseHTTPRequestHandler):
        server_version = SERVICE_NAME
        sys_version = ""

        def do_GET(self):
            route = self.path.split("?", 1)[0]
            if route == "/live":
                self._send(200, {"status": "alive"})
            elif route == "/ready":
                status = state.readiness()
                self._send(200 if status == "ready" else 503, {"status": status})
            elif route == "/version":
                self._send(200, {
                    "service": SERVICE_NAME,
                    "revision": git_revision(),
                    "environment": os.environ.get("SHOP_ENV", ""),
                })
            else:
                self._send(404, {"error": "not found", "path": route})

        def _send(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt, *args):
            # Probes hit every few seconds; log only what a person asked for.
            if self.path not in ("/live", "/ready"):
                super().log_message(fmt, *args)

    return Handler


def make_server(state, host="", port=DEFAULT_PORT):
    """A threading server bound to host:port (port 0 picks a free one)."""
    server = ThreadingHTTPServer((host, port), make_handler(state))
    server.daemon_threads = True
    return server


def drain_then_stop(server, state, seconds):
    """Turn readiness off, keep serving for seconds, then stop the server."""
    state.draining.set()
    time.sleep(seconds)
    server.shutdown()


def main():
    state = State()
    server = make_server(state, port=int(os.environ.get("PORT", DEFAULT_PORT)))
    drain = float(os.environ.get("SHOP_DRAIN_SECONDS", DEFAULT_DRAIN_SECONDS))

    def on_term(signum, frame):
        threading.Thread(target=drain_then_stop, args=(server, state, drain), daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    state.serving.set()
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
