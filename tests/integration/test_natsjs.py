"""The official JavaScript client (nats.js, from npm) against the server:
pub/sub, wildcards, queue groups, request/reply, headers, no responders,
unsubscribe, drain. `make test` installs the client (tests/integration/js)."""

import os
import subprocess

from harness import Server

HERE = os.path.dirname(os.path.abspath(__file__))
JS = os.path.join(HERE, "js")
TIMEOUTS = {"test_natsjs_client": 60}


def test_natsjs_client():
    assert os.path.isdir(os.path.join(JS, "node_modules", "nats")), \
        "nats.js not installed: run `make natsjs` (npm install in tests/integration/js)"
    with Server() as s:
        p = subprocess.run(["node", os.path.join(JS, "natsjs_test.mjs"),
                            "nats://127.0.0.1:%d" % s.port],
                           capture_output=True, text=True, timeout=50)
        out = p.stdout + p.stderr
        assert p.returncode == 0, out
        assert out.strip().splitlines()[-1] == "8 passed, 0 failed", out
