"""Service latency tracking (docs/accounts.md): a service export with `latency`
publishes, in the exporting account, one io.nats.server.metric.v1.service_latency
JSON message per sampled request that comes in through a service import: status
200 with the requestor, the responder and the durations (integer nanoseconds), or
400 / 503 / 504 / 408 when the request cannot be answered; sampling by
percentage or by tracing headers; the config refusals with their positions; and a
requester and a responder on two servers of a cluster (the responder's server
sends its half on $SYS.LATENCY.M2.<hash of the requester's server name>, the
requester's server merges), with the reference nats-server as a real peer.
Every key order, text and position here is the reference's: every test passes
against it (GNATSD_BIN=/usr/sbin/nats-server)."""

import calendar
import hashlib
import json
import os
import re
import time

from harness import Server, connected, free_port, http_json, wait_own_port, wait_until

REFERENCE = "/usr/sbin/nats-server"
TIMEOUTS = {"test_latency_across_mixed_cluster": 40}

METRIC = "io.nats.server.metric.v1.service_latency"
# key order of a result (Go struct order; absent keys are omitempty)
KEYS_200 = ["type", "id", "timestamp", "status", "requestor", "responder", "start",
            "service", "system", "total"]
KEYS_200_HDR = ["type", "id", "timestamp", "status", "requestor", "responder", "header",
                "start", "service", "system", "total"]
KEYS_FAIL = ["type", "id", "timestamp", "status", "description", "requestor", "start",
             "service", "system", "total"]
# a client's details (requestor with share, responder), in the reference's order;
# "lang"/"ver" only when the client's CONNECT gave them, "cluster" only in a cluster
CLIENT_KEYS = ["start", "host", "id", "acc", "user", "name", "lang", "ver", "rtt",
               "server", "cluster", "kind", "client_type"]

CONF = """
server_name: lat1
accounts {
  A: { users: [ {user: a, password: pa} ]
       imports: [ {service: {account: B, subject: "shared"}, share: true},
                  {service: {account: B, subject: "plain"}},
                  {service: {account: B, subject: "slow"}},
                  {service: {account: B, subject: "traced"}},
                  {service: {account: B, subject: "half"}} ] }
  B: { users: [ {user: b, password: pb} ]
       exports: [ {service: "shared", latency: "lat.shared"},
                  {service: "plain", latency: {sampling: 100, subject: "lat.plain"}},
                  {service: "slow", latency: {sampling: "100%", subject: "lat.slow"},
                   threshold: "200ms"},
                  {service: "traced", latency: {sampling: headers, subject: "lat.traced"}},
                  {service: "half", latency: {sampling: "50%", subject: "lat.half"}} ] }
}
"""


def _login(s, user, pw, **kw):
    return connected(s, user=user, **{"pass": pw}, **kw)


def _next(c, subject_re=r".*", timeout=5.0, skip_payload=None):
    """The next MSG/HMSG on c whose subject fullmatches subject_re (others, and those
    whose payload is skip_payload, are skipped): (subject, reply or None, payload).
    (The reference writes an internal message's empty reply as a second blank:
    "MSG lat.x 1  585".)"""
    deadline = time.monotonic() + timeout
    while True:
        left = max(0.01, deadline - time.monotonic())
        line = c.expect_re(rb"(H?MSG [^\r\n]*)\r\n", left).group(1)
        args = line.split()
        if args[0] == b"HMSG":
            hlen, size = int(args[-2]), int(args[-1])
            reply = args[3] if len(args) == 6 else None
        else:
            hlen, size = 0, int(args[-1])
            reply = args[3] if len(args) == 5 else None
        body = c.expect_re(rb"(.{%d})\r\n" % size, left).group(1)
        payload = body[hlen:]
        subject = args[1].decode()
        if re.fullmatch(subject_re, subject) and payload != skip_payload:
            return subject, reply, payload


def _result(w, subject, timeout=5.0):
    """The next latency result w receives on subject, as a dict (in document order)."""
    _, reply, payload = _next(w, re.escape(subject), timeout)
    assert reply is None, reply
    res = json.loads(payload)
    assert res["type"] == METRIC, res
    return res


def _ns(ts):
    """RFC3339 UTC time with up to 9 fraction digits (Go trims trailing zeros) -> ns."""
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z", ts)
    assert m, "not an RFC3339 UTC time: %r" % ts
    secs = calendar.timegm(tuple(int(x) for x in m.groups()[:6]))
    return secs * 10**9 + int((m.group(7) or "0").ljust(9, "0"))


def _server_hash(name):
    """The reference's 8-character hash of a server name (the token of tracked reply
    subjects and of $SYS.LATENCY.M2.<hash>): sha256, each of the first 8 bytes
    mod 62 as a base-62 digit."""
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    return "".join(digits[b % 62] for b in hashlib.sha256(name.encode()).digest()[:8])


def _check_common(res, status):
    assert res["type"] == METRIC and res["status"] == status, res
    assert re.fullmatch(r"[0-9A-Za-z]{22}", res["id"]), res["id"]
    assert _ns(res["start"]) <= _ns(res["timestamp"]), res
    for k in ("service", "system", "total"):
        assert type(res[k]) is int and res[k] >= 0, (k, res)


def _check_client(info, acc, user, name, server, lang=None, ver=None, cluster=None):
    """Full client details (requestor with share, or responder)."""
    want = [k for k in CLIENT_KEYS
            if (k != "lang" or lang) and (k != "ver" or ver) and (k != "cluster" or cluster)]
    assert list(info) == want, info
    assert info["acc"] == acc and info["user"] == user and info["name"] == name, info
    assert info["host"] == "127.0.0.1" and info["server"] == server, info
    assert info["kind"] == "Client" and info["client_type"] == "nats", info
    assert type(info["id"]) is int and info["id"] > 0, info
    # a raw client that never saw a server PING still has an rtt: the reference
    # seeds it with the time from the connection's start to its CONNECT
    assert type(info["rtt"]) is int and info["rtt"] > 0, info
    _ns(info["start"])
    if lang:
        assert info["lang"] == lang and info["ver"] == ver, info
    if cluster:
        assert info["cluster"] == cluster, info


def _check_totals(res):
    """total = requestor rtt + the service's own time + system. service is that time
    less the responder's rtt, clamped at 0; so the sum is exact whenever service > 0
    (the tests make the responder take a while), and bounds total otherwise."""
    req, resp = res["requestor"]["rtt"], res["responder"]["rtt"]
    parts = res["service"] + req + resp + res["system"]
    if res["service"] > 0:
        assert res["total"] == parts, res
    else:
        assert req + res["system"] <= res["total"] <= parts, res


def _setup(s):
    """Requester (account A), responder and watcher (account B, the watcher on lat.>)."""
    a = _login(s, "a", "pa", name="req", lang="python", version="1.2.3", headers=True)
    b = _login(s, "b", "pb", name="resp")
    w = _login(s, "b", "pb", name="watch")
    a.send(b"SUB inbox 1\r\n")
    a.ping_pong()
    b.send(b"SUB shared 1\r\nSUB plain 2\r\nSUB slow 3\r\nSUB traced 4\r\nSUB half 5\r\n")
    b.ping_pong()
    w.send(b"SUB lat.> 1\r\n")
    w.ping_pong()
    return a, b, w


def _answer(b, subject, delay=0.0, payload=b"ok"):
    """b takes the next request on subject and answers it (after delay: a service
    that takes its time, so that its measured service time is well above zero)."""
    _, reply, _ = _next(b, re.escape(subject))
    assert reply is not None, "request without a reply"
    if delay:
        time.sleep(delay)
    b.send(b"PUB %s %d\r\n%s\r\n" % (reply, len(payload), payload))
    return reply.decode()


def test_answered_request_is_measured():
    with Server(config=CONF) as s:
        a, b, w = _setup(s)
        other = _login(s, "a", "pa")  # the importing account sees no result
        other.send(b"SUB lat.> 1\r\n")
        other.ping_pong()
        t0 = time.monotonic()
        a.send(b"PUB shared inbox 2\r\nhi\r\n")
        a.ping_pong()
        reply = _answer(b, "shared", delay=0.1)
        # a tracked request's reply ends with the requester's server hash and ".T"
        # (the reference's: _R_.<6>.<6>.<hash>.T; an untracked one is _R_.<6>.<6>)
        assert re.fullmatch(r"_R_\.[^.]+\.[^.]+\.%s\.T" % _server_hash("lat1"), reply), reply
        assert a.read_msgs(1) == [(b"inbox", b"1", None, b"ok")]
        res = _result(w, "lat.shared")
        elapsed_ns = (time.monotonic() - t0) * 1e9
        assert list(res) == KEYS_200, res
        _check_common(res, 200)
        _check_client(res["requestor"], "A", "a", "req", "lat1", lang="python", ver="1.2.3")
        _check_client(res["responder"], "B", "b", "resp", "lat1")
        _check_totals(res)
        # (the requestor rtt was measured at its connect, before t0)
        assert 0.1e9 <= res["total"] - res["requestor"]["rtt"] <= elapsed_ns, (res, elapsed_ns)
        assert res["service"] >= 0.1e9 - res["responder"]["rtt"], res
        # start: when the request left the requester (its arrival less the requestor rtt)
        assert _ns(res["timestamp"]) - _ns(res["start"]) >= 0.1e9, res
        assert _ns(res["requestor"]["start"]) <= _ns(res["start"]), res
        w.expect_nothing(0.3)  # one request, one result
        other.expect_nothing(0.1)


def test_requestor_details_need_share():
    with Server(config=CONF) as s:
        a, b, w = _setup(s)
        a.send(b"PUB plain inbox 2\r\nhi\r\n")
        a.ping_pong()
        _answer(b, "plain", delay=0.05)
        assert a.read_msgs(1)[0][3] == b"ok"
        res = _result(w, "lat.plain")
        assert list(res) == KEYS_200, res
        _check_common(res, 200)
        # without `share: true` on the import only the account and the rtt
        assert list(res["requestor"]) == ["acc", "rtt"], res["requestor"]
        assert res["requestor"]["acc"] == "A", res
        assert type(res["requestor"]["rtt"]) is int and res["requestor"]["rtt"] > 0, res
        # the responder's details are always complete
        _check_client(res["responder"], "B", "b", "resp", "lat1")
        _check_totals(res)


def test_request_without_reply_is_400():
    with Server(config=CONF) as s:
        a, b, w = _setup(s)
        a.send(b"PUB shared 2\r\nhi\r\n")
        a.ping_pong()
        # still delivered, but there is nothing to measure
        assert _next(b, "shared") == ("shared", None, b"hi")
        res = _result(w, "lat.shared")
        assert list(res) == KEYS_FAIL, res  # no responder
        _check_common(res, 400)
        assert res["description"] == "Bad Request", res
        assert (res["service"], res["system"], res["total"]) == (0, 0, 0), res
        _check_client(res["requestor"], "A", "a", "req", "lat1", lang="python", ver="1.2.3")


def test_no_responder_is_503():
    with Server(config=CONF) as s:
        a, b, w = _setup(s)
        b.send(b"UNSUB 2\r\n")  # nobody serves "plain" now
        b.ping_pong()
        a.send(b"PUB plain inbox 2\r\nhi\r\n")
        a.ping_pong()
        res = _result(w, "lat.plain")
        assert list(res) == KEYS_FAIL, res
        _check_common(res, 503)
        assert res["description"] == "Service Unavailable", res
        assert list(res["requestor"]) == ["acc", "rtt"], res
        assert res["requestor"]["acc"] == "A" and res["requestor"]["rtt"] > 0, res
        assert (res["service"], res["system"], res["total"]) == (0, 0, 0), res
        w.expect_nothing(0.2)


def test_no_answer_within_threshold_is_504():
    with Server(config=CONF) as s:
        a, b, w = _setup(s)
        t0 = time.monotonic()
        a.send(b"PUB slow inbox 2\r\nhi\r\n")
        a.ping_pong()
        _, reply, _ = _next(b, "slow")  # taken, never answered in time
        res = _result(w, "lat.slow", timeout=5.0)
        elapsed = time.monotonic() - t0
        assert elapsed >= 0.19, "504 after %.3fs, before the 200ms threshold" % elapsed
        assert list(res) == KEYS_FAIL, res
        _check_common(res, 504)
        assert res["description"] == "Service Timeout", res
        assert list(res["requestor"]) == ["acc", "rtt"], res
        assert (res["service"], res["system"], res["total"]) == (0, 0, 0), res
        assert _ns(res["timestamp"]) - _ns(res["start"]) >= 0.19e9, res
        # an answer after the threshold goes nowhere and is not measured again
        b.send(b"PUB %s 4\r\nlate\r\n" % reply)
        b.ping_pong()
        a.expect_nothing(0.3)
        w.expect_nothing(0.1)


def test_requestor_gone_is_408():
    with Server(config=CONF) as s:
        a, b, w = _setup(s)
        a.send(b"SUB inbox2 2\r\nPUB shared inbox2 2\r\nhi\r\n")
        a.ping_pong()
        _, reply, _ = _next(b, "shared")
        a.send(b"UNSUB 2\r\n")  # the requester gives up before the answer
        a.ping_pong()
        b.send(b"PUB %s 2\r\nok\r\n" % reply)
        b.ping_pong()
        res = _result(w, "lat.shared")
        assert list(res) == KEYS_FAIL, res  # no responder either
        _check_common(res, 408)
        assert res["description"] == "Request Timeout", res
        assert (res["service"], res["system"], res["total"]) == (0, 0, 0), res
        _check_client(res["requestor"], "A", "a", "req", "lat1", lang="python", ver="1.2.3")
        a.expect_nothing(0.2)


def _hpub(c, subject, reply, headers, payload=b"hi"):
    h = b"NATS/1.0\r\n" + b"".join(b"%s: %s\r\n" % kv for kv in headers) + b"\r\n"
    c.send(b"HPUB %s %s %d %d\r\n%s%s\r\n" % (subject, reply, len(h), len(h) + len(payload),
                                             h, payload))


def test_header_sampling():
    """`sampling: headers`: only a request whose tracing headers say "sampled" is
    measured, and those headers (canonical names, sorted) come back in "header"."""
    tid = b"80f198ee56343ba864fe8b2a57d3eff7"
    uber = b"479fefe9525eddb5:5adb976bfc1f95c1:479fefe9525eddb5:1"
    tp = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    requests = [
        None,                                                   # no headers: not measured
        [(b"X-B3-Sampled", b"0")],                              # denied
        [(b"traceparent", tp[:-2] + b"00")],                    # flags 00: not sampled
        [(b"Other", b"x")],                                     # no tracing header
        [(b"X-B3-TraceId", tid), (b"X-B3-Sampled", b"1"), (b"Other", b"x")],
        [(b"Uber-Trace-Id", uber)],
        [(b"traceparent", tp)],
    ]
    with Server(config=CONF) as s:
        a, b, w = _setup(s)
        for hdrs in requests:
            if hdrs is None:
                a.send(b"PUB traced inbox 2\r\nhi\r\n")
            else:
                _hpub(a, b"traced", b"inbox", hdrs)
            _answer(b, "traced", delay=0.01)
        assert len(a.read_msgs(len(requests))) == len(requests)
        # results come in request order: the first is the B3 one, so the four
        # before it were not measured
        want = [{"X-B3-Sampled": ["1"], "X-B3-Traceid": [tid.decode()]},
                {"Uber-Trace-Id": [uber.decode()]},
                {"Traceparent": [tp.decode()]}]
        for header in want:
            res = _result(w, "lat.traced")
            assert list(res) == KEYS_200_HDR, res
            _check_common(res, 200)
            assert res["header"] == header, res["header"]
            assert list(res["header"]) == sorted(res["header"]), res["header"]
            assert list(res["requestor"]) == ["acc", "rtt"], res
            _check_client(res["responder"], "B", "b", "resp", "lat1")
            _check_totals(res)
        w.expect_nothing(0.3)


def test_percentage_sampling():
    """"50%": some requests are measured, not all (40 requests: all or none is a
    chance of about 1e-12); a fully sampled request afterwards marks the end, as
    results are published in order."""
    n = 40
    with Server(config=CONF) as s:
        a, b, w = _setup(s)
        for _ in range(n):
            a.send(b"PUB half inbox 2\r\nhi\r\n")
        a.ping_pong()
        for _ in range(n):
            _answer(b, "half")
        a.send(b"PUB plain inbox 2\r\nhi\r\n")
        _answer(b, "plain")
        assert len(a.read_msgs(n + 1)) == n + 1
        sampled = 0
        while True:
            subject, _, payload = _next(w, r"lat\.(half|plain)")
            res = json.loads(payload)
            assert res["status"] == 200, res
            if subject == "lat.plain":
                break
            sampled += 1
        assert 0 < sampled < n, "%d of %d requests sampled at 50%%" % (sampled, n)


BAD_CONF = """
accounts {
  A: { imports: [ {service: {account: B, subject: "svc"}} ] }
  B: { exports: [
    %s
  ] }
}
"""

# (export line 5 of BAD_CONF, the reference's error text with its position)
BAD_EXPORTS = [
    ('{service: "svc", latency: {sampling: 0, subject: "lat"}}',
     ["server.conf:5:32: bad sampling percentage, should be 1-100"]),
    ('{service: "svc", latency: {sampling: "101%", subject: "lat"}}',
     ["server.conf:5:32: bad sampling percentage, should be 1-100"]),
    ('{service: "svc", latency: {sampling: "abc", subject: "lat"}}',
     ['server.conf:5:32: Failed to parse latency sample: strconv.Atoi: parsing "abc": '
      'invalid syntax']),
    ('{service: "svc", latency: {sampling: 100}}',
     ["server.conf:5:22: Latency subject required, but missing"]),
    ('{service: "svc", latency: 5}',
     ["server.conf:5:22: Expected latency entry to be a map/struct or string, got int64"]),
    ('{stream: "ev", latency: "lat"}',
     ["server.conf:5:20: Detected latency directive on non-service"]),
    # not a publish subject, or the service itself (a loop): at the accounts block
    ('{service: "svc", latency: "lat.*"}',
     ['server.conf:2:1: Error adding service latency sampling for "svc" on subject "lat.*": '
      'invalid publish subject']),
    ('{service: "svc", latency: "svc"}',
     ['server.conf:2:1: Error adding service latency sampling for "svc" on subject "svc": '
      'invalid publish subject']),
    # every error is reported, each with its position
    ('{service: "svc", latency: {sampling: 0, subject: "lat"}}\n'
     '    {stream: "ev", latency: "lat"}',
     ["server.conf:5:32: bad sampling percentage, should be 1-100",
      "server.conf:6:20: Detected latency directive on non-service"]),
]


def test_bad_latency_configs_are_refused():
    for export, errors in BAD_EXPORTS:
        s = Server(config=BAD_CONF % export, wait=False)
        s.start()
        rc = s.wait_exit(10)
        log = s.log()
        assert rc not in (None, 0), "accepted (rc %r): %s\n%s" % (rc, export, log[-500:])
        for e in errors:
            assert e in log, "%s: want %r in\n%s" % (export, e, log[-800:])
        s.cleanup()


def test_latency_without_system_account():
    """`no_sys_acc: true`: the reference refuses a latency export only when it has
    read no_sys_acc before the accounts block, which depends on Go's map order (most
    runs with this layout refuse, some accept). Either way no result is ever
    published: refused with the reference's text, or served but not measured."""
    conf = """
no_sys_acc: true
accounts {
  A: { users: [ {user: a, password: pa} ]
       imports: [ {service: {account: B, subject: "svc"}} ] }
  B: { users: [ {user: b, password: pb} ]
       exports: [ {service: "svc", latency: "lat.svc"} ] }
}
"""
    s = Server(config=conf, wait=False)
    s.start()
    # refused (exits) or accepted (listens); a restart would draw the order again
    wait_until(lambda: s.proc.poll() is not None or wait_own_port(s.proc, s.port, 0.1), 10,
               what="the server to exit or listen")
    if s.wait_exit(0) is not None:
        assert s.returncode != 0
        assert ('server.conf:3:1: Error adding service latency sampling for "svc": '
                'system account not setup') in s.log(), s.log()[-500:]
        return
    try:  # (not `with s`: entering would start it again)
        a, b = _login(s, "a", "pa"), _login(s, "b", "pb")
        b.send(b"SUB svc 1\r\nSUB lat.> 2\r\n")
        b.ping_pong()
        a.send(b"SUB inbox 1\r\nPUB svc inbox 2\r\nhi\r\n")
        a.ping_pong()
        reply = _answer(b, "svc")
        assert not reply.endswith(".T"), reply  # not tracked
        assert a.read_msgs(1)[0][3] == b"ok"
        b.expect_nothing(0.5)
    finally:
        s.stop()


CLUSTER_ACCOUNTS = """
accounts {
  A: { users: [ {user: a, password: pa} ]
       imports: [ {service: {account: B, subject: "svc"}, share: true} ] }
  B: { users: [ {user: b, password: pb} ]
       exports: [ {service: "svc", latency: "lat.svc"} ] }
  SYS: { users: [ {user: sys, password: ps} ] }
}
system_account: SYS
"""


def _cluster(name, cport, routes=()):
    r = ", ".join('"nats://127.0.0.1:%d"' % p for p in routes)
    return "server_name: %s\n" % name + CLUSTER_ACCOUNTS + (
        "cluster {\n  listen: 127.0.0.1:%d\n  name: lat\n  routes: [%s]\n}\n" % (cport, r))


def _probe(pub, subject, sub, timeout=10.0):
    """Publish "probe" on subject from pub until sub (on the other server) gets one:
    the route has carried sub's interest."""
    def seen():
        pub.send(b"PUB %s 5\r\nprobe\r\n" % subject)
        pub.ping_pong()
        try:
            _next(sub, re.escape(subject.decode()), timeout=0.2)
            return True
        except AssertionError:
            return False
    wait_until(seen, timeout, interval=0.05, what="interest in %r across the route" % subject)


def test_latency_across_mixed_cluster():
    """Requester on one server, responder on the other, each side once the server
    under test and once the reference: the responder's server sends its measurement
    to the requester's server on $SYS.LATENCY.M2.<hash of its name>, which merges it
    with its own and publishes one result in the exporting account."""
    if not os.path.exists(REFERENCE):
        raise AssertionError("reference nats-server not installed at %s" % REFERENCE)
    ca, cb = free_port(), free_port()
    ours = Server(config=_cluster("ours", ca), monitor=True)
    ref = Server(config=_cluster("ref", cb, routes=[ca]), monitor=True)
    ref.bin = REFERENCE
    with ours, ref:
        for s in (ours, ref):
            wait_until(lambda s=s: http_json(s.mport, "/varz")["routes"] == 1, 10, what="route")
        for req_srv, resp_srv, req_name, resp_name in ((ours, ref, "ours", "ref"),
                                                       (ref, ours, "ref", "ours")):
            sysw = _login(req_srv, "sys", "ps")
            sysw.send(b"SUB $SYS.LATENCY.M2.> 1\r\n")
            sysw.ping_pong()
            wr = _login(req_srv, "b", "pb")  # watchers on both servers
            wr.send(b"SUB lat.> 1\r\n")
            wr.ping_pong()
            wp = _login(resp_srv, "b", "pb")
            wp.send(b"SUB lat.> 1\r\n")
            wp.ping_pong()
            b = _login(resp_srv, "b", "pb", name="resp")
            b.send(b"SUB svc 1\r\n")
            b.ping_pong()
            a = _login(req_srv, "a", "pa", name="req")
            a.send(b"SUB inbox 1\r\n")
            a.ping_pong()
            p = _login(req_srv, "b", "pb")
            _probe(p, b"svc", b)
            _probe(p, b"lat.probe", wp)

            a.send(b"PUB svc inbox 2\r\nhi\r\n")
            a.ping_pong()
            _, reply, _ = _next(b, "svc", skip_payload=b"probe")
            reply = reply.decode()
            assert reply.endswith(".%s.T" % _server_hash(req_name)), reply
            time.sleep(0.05)  # the service takes its time
            b.send(b"PUB %s 2\r\nok\r\n" % reply.encode())
            assert a.read_msgs(1) == [(b"inbox", b"1", None, b"ok")]

            # the responder's half, for the requester's server
            subject, _, payload = _next(sysw, r"\$SYS\.LATENCY\.M2\..*")
            assert subject == "$SYS.LATENCY.M2." + _server_hash(req_name), subject
            m2 = json.loads(payload)
            assert list(m2) == ["account", "req_id", "m2"], m2
            assert m2["account"] == "B" and m2["req_id"] == reply, m2
            half = m2["m2"]
            assert list(half) == ["type", "id", "timestamp", "status", "responder", "start",
                                  "service", "system", "total"], half
            assert (half["type"], half["id"], half["timestamp"], half["status"]) == \
                ("", "", "0001-01-01T00:00:00Z", 200), half
            _check_client(half["responder"], "B", "b", "resp", resp_name, cluster="lat")
            assert half["service"] >= 0.05e9 - half["responder"]["rtt"], half
            assert half["system"] == 0, half
            # total is the responder's time + its rtt, service that time less the rtt
            # (clamped at 0): exact whenever service > 0
            if half["service"] > 0:
                assert half["total"] == half["service"] + half["responder"]["rtt"], half
            else:
                assert half["total"] <= half["responder"]["rtt"], half

            # one merged result, seen in the exporting account on both servers
            got = []
            for w in (wr, wp):
                res = _result(w, "lat.svc")
                assert list(res) == KEYS_200, res
                _check_common(res, 200)
                _check_client(res["requestor"], "A", "a", "req", req_name, cluster="lat")
                assert res["responder"] == half["responder"], (res, half)
                assert res["service"] == half["service"], (res, half)
                _check_totals(res)
                got.append(res)
            assert got[0] == got[1], got
            # (late probes may still arrive: only results count)
            for c in (wr, wp, sysw):
                rest = c.read_for(0.3)
                assert b"MSG lat.svc " not in rest and b"MSG $SYS.LATENCY" not in rest, rest
            for c in (sysw, wr, wp, b, a, p):
                c.close()
            # gone from both servers before the other direction subscribes again
            for s in (ours, ref):
                wait_until(lambda s=s: http_json(s.mport, "/connz")["num_connections"] == 0,
                           10, what="connections closed")
