"""Adversarial tests for the shared connection mechanism (issue #11 findings 5, 6, 9, 12,
15): what a peer can make the read path, the outbound buffers, the listeners and the
thread registry do. Each test failed against the server before its fix."""

import os
import socket
import time

from harness import Server, connected, http_json, wait_until

TIMEOUTS = {}


# --- #12: the qsbr registry holds every worker plus the monitor ---------------------------

def test_f12_max_workers_with_monitor_starts():
    # 64 workers and the monitor thread each take a qsbr slot: this aborted at startup
    # ("more than 64 registered threads"), as the default did on a 64-core host.
    with Server(args=("--workers", "64"), monitor=True) as s:
        v = s.varz()
        assert v["gomaxprocs"] == 64, v["gomaxprocs"]
        c = connected(s)
        c.ping_pong()
        assert s.alive()
    # more than the maximum is capped, with a warning, not an abort
    with Server(args=("--workers", "1000"), monitor=True) as s:
        assert s.varz()["gomaxprocs"] == 64
        connected(s).ping_pong()
        assert "more than the maximum" in s.log()
