"""Tests for every endpoint of the shop API, over real HTTP on loopback.

Why: the rollout wait trusts /ready and the post-deploy check trusts
/version; these tests guard that readiness is real (starting, ready,
draining), that liveness does not follow readiness, and that the reported
revision is the one baked into the image. Run from app/:
python -m unittest discover -s tests
"""

import json
import os
import sys
import threading
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import server  # noqa: E402  (path set up above)


class ServerTest(unittest.TestCase):
    def setUp(self):
        self._env = {k: os.environ.pop(k) for k in ("GIT_REVISION", "SHOP_ENV") if k in os.environ}
        self.state = server.State()
        self.httpd = server.make_server(self.state, host="127.0.0.1", port=0)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.base = "http://127.0.0.1:%d" % self.httpd.server_address[1]

    def tearDown(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
        os.environ.pop("GIT_REVISION", None)
        os.environ.pop("SHOP_ENV", None)
        os.environ.update(self._env)

    def get(self, path):
        try:
            with urllib.request.urlopen(self.base + path, timeout=5) as resp:
                return resp.status, resp.headers["Content-Type"], json.loads(resp.read())
        except urllib.error.HTTPError as err:
            with err:
                return err.code, err.headers["Content-Type"], json.loads(err.read())

    def test_live_answers_while_running(self):
        self.assertEqual(self.get("/live"), (200, "application/json", {"status": "alive"}))

    def test_ready_is_false_until_serving(self):
        self.assertEqual(self.get("/ready")[::2], (503, {"status": "starting"}))
        self.state.serving.set()
        self.assertEqual(self.get("/ready")[::2], (200, {"status": "ready"}))

    def test_draining_turns_ready_off_but_not_live(self):
        self.state.serving.set()
        self.state.draining.set()
        self.assertEqual(self.get("/ready")[::2], (503, {"status": "draining"}))
        self.assertEqual(self.get("/live")[0], 200)

    def test_drain_then_stop_stops_serving(self):
        self.state.serving.set()
        server.drain_then_stop(self.httpd, self.state, 0)
        self.thread.join(timeout=5)
        self.assertFalse(self.thread.is_alive())
        self.assertEqual(self.state.readiness(), "draining")

    def test_version_reports_the_baked_revision(self):
        self.assertEqual(self.get("/version")[2], {"service": "shop-api", "revision": "unknown", "environment": ""})
        os.environ["GIT_REVISION"] = " abc123 \n"
        os.environ["SHOP_ENV"] = "qa"
        self.assertEqual(self.get("/version")[2], {"service": "shop-api", "revision": "abc123", "environment": "qa"})

    def test_unknown_path_is_404(self):
        self.assertEqual(self.get("/nope?x=1")[::2], (404, {"error": "not found", "path": "/nope"}))


if __name__ == "__main__":
    unittest.main()
