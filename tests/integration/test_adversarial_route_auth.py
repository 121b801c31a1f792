"""Adversarial tests for route authentication (issue #11): the cluster
authorization's password check must not run on the I/O threads. One test per
finding, test_fN_<what>; each fails against the server before its fix."""

import json

from harness import Client, Server, connected, free_port
from harness import SANITIZER_REPORT as SANITIZER
from test_adversarial_client import worst_rtt_during_bad_logins
from test_auth import REF_HASH, REF_PASS

TIMEOUTS = {"test_f7_route_bcrypt_off_io_thread": 90}

def _route_connect(cport, password, name="ROUTEAUTHPEER"):
    r = Client(cport, read_info=True)
    r.send(b"CONNECT " + json.dumps({
        "echo": True, "verbose": False, "pedantic": False, "tls_required": False,
        "headers": True, "name": name, "cluster": "c1", "user": "ru",
        "pass": password}).encode() + b"\r\n")
    return r


def test_f7_route_bcrypt_off_io_thread():
    """Route CONNECTs with a wrong password against a cost-11 bcrypt cluster
    hash must not stall the other connections of their worker (one worker):
    a bystander client's PING round trip stays short while they are checked.
    They are refused as before (-ERR 'Authorization Violation', the close, the
    log line). A route with the right password forms, and what its peer
    pipelined after CONNECT (INFO, RS+, PING) is processed in order once the
    verdict is back."""
    cport = free_port()
    conf = ("cluster {\n listen: 127.0.0.1:%d\n name: c1\n"
            " authorization { user: ru, password: \"%s\", timeout: 10 }\n}\n" % (cport, REF_HASH))
    with Server(args=("--workers", "1"), config=conf) as s:
        by = connected(s)
        by.ping_pong(timeout=10)
        worst = worst_rtt_during_bad_logins(by, lambda: _route_connect(cport, "wrong"), 20)
        assert worst < 0.25, "bystander PING RTT %.3fs while route passwords were checked" % worst
        assert s.log().count("authentication error") >= 18, s.log_tail()
        # the right password, with the rest of the handshake pipelined behind CONNECT
        r = _route_connect(cport, REF_PASS)
        info = {"server_id": "NROUTEAUTHPEER", "server_name": "NROUTEAUTHPEER",
                "host": "127.0.0.1", "port": 4248, "headers": True, "cluster": "c1",
                "version": "2.9.10", "proto": 1}
        r.send(b"INFO " + json.dumps(info).encode() + b"\r\nRS+ $G ra.x\r\nPING\r\n")
        r.expect_re(rb".*?PONG\r\n", timeout=20)
        # the RS+ was applied: a client's message is routed to the peer
        by.send("PUB ra.x 2\r\nhi\r\n")
        by.ping_pong()
        r.expect_re(rb".*?RMSG \$G ra\.x 2\r\nhi\r\n", timeout=10)
        assert s.alive()
        s.stop()
        m = SANITIZER.search(s.log())
        assert not m, "sanitizer report:\n" + s.log_tail(60)
