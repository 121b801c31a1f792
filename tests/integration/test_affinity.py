"""Connections that talk only with each other move to one worker (src/core/affinity.c):
a request/reply pair is then served by one thread. What must hold while they move: no
message lost or reordered, /connz lists every connection at every moment, timers and
closes still reach a connection that moved, and traffic shapes that are not a pair
never move."""

import re
import threading
import time

from harness import Server, connected, http_json, wait_until

TIMEOUTS = {"test_pairs_move_under_monitoring_and_closes": 120}

MOVED = r"Moved to worker \d+: its messages go to and come from cid:\d+ only"


def _pair(s, tag):
    """A responder on svc.<tag> and a requester with inbox in.<tag>. The server hands
    new connections to its workers in turn, so these two are on different workers:
    once the harness's probe of the port (one connection, closed at once) was taken in
    its turn. Accepted after the responder, it put both on one worker, and nothing
    moved (seen in CI)."""
    s.wait_log(r"Client connection closed", 10)
    rsp = connected(s)
    rsp.send(b"SUB svc.%s 1\r\n" % tag)
    rsp.ping_pong()
    req = connected(s)
    req.send(b"SUB in.%s 1\r\n" % tag)
    req.ping_pong()
    return req, rsp


def _round_trips(req, rsp, tag, first, n, timeout=10.0):
    """n requests, each answered with its own number: every reply must come back, in order."""
    for i in range(first, first + n):
        body = b"%d" % i
        req.send(b"PUB svc.%s in.%s %d\r\n%s\r\n" % (tag, tag, len(body), body))
        (_, _, reply, got), = rsp.read_msgs(1, timeout)
        assert got == body and reply == b"in." + tag, (got, reply)
        answer = b"re:" + body
        rsp.send(b"PUB %s %d\r\n%s\r\n" % (reply, len(answer), answer))
        (subj, _, _, back), = req.read_msgs(1, timeout)
        assert subj == b"in." + tag and back == answer, (subj, back, answer)


def test_request_reply_pair_moves_to_one_worker():
    with Server(args=("--workers", "2", "-D"), monitor=True) as s:
        req, rsp = _pair(s, b"a")
        _round_trips(req, rsp, b"a", 0, 80)
        m = s.wait_log(MOVED, 10)
        assert s.log().count("Moved to worker") == 1, s.log_tail(10)
        # it goes on where it is, and it is still itself: one cid each in /connz
        _round_trips(req, rsp, b"a", 80, 200)
        assert s.log().count("Moved to worker") == 1, "moved back and forth:\n" + s.log_tail(10)
        cids = sorted(c["cid"] for c in http_json(s.mport, "/connz")["connections"])
        assert len(cids) == 2, cids
        assert "cid:%d " % cids[0] in m.group(0) or "cid:%d " % cids[1] in m.group(0)
        # the connection that moved still gets its server PINGs (timers of its new worker)
        # and its close is seen by the worker it is on now
        req.send(b"PING\r\n")
        req.expect(b"PONG\r\n")
        req.close()
        rsp.close()
        wait_until(lambda: http_json(s.mport, "/connz")["num_connections"] == 0, 10,
                   what="both connections gone")
        assert s.alive()


def test_moved_connection_keeps_its_timers():
    # ping_interval 1s, 2 outstanding at most: the connection that moved stops answering
    # the server's PINGs and is found stale by the worker it moved to; the other answers
    # and is kept.
    with Server(config="ping_interval: 1\nping_max: 2\n", args=("--workers", "2", "-D")) as s:
        req, rsp = _pair(s, b"t")
        _round_trips(req, rsp, b"t", 0, 80)
        moved = int(s.wait_log(r"cid:(\d+) - .*" + MOVED, 10).group(1))
        other = int(s.wait_log(MOVED.replace(r"cid:\d+", r"cid:(\d+)"), 1).group(1))
        # the responder connected first: the lower cid
        mover, stays = (rsp, req) if moved < other else (req, rsp)
        mover.auto_pong = False
        stale = r"cid:%d - .*Stale Client Connection - Closing" % moved
        deadline = time.monotonic() + 20
        while not re.search(stale, s.log()):  # the other one answers its PINGs meanwhile
            assert time.monotonic() < deadline, "never found stale:\n" + s.log_tail(10)
            stays.ping_pong()
            time.sleep(0.1)
        mover.expect_closed(5, allow_data=True)
        stays.ping_pong()
        assert not any("cid:%d " % other in l and "Stale" in l for l in s.log().splitlines())


def test_one_way_streams_and_shared_services_do_not_move():
    with Server(args=("--workers", "2", "-D")) as s:
        # a publisher and its subscriber: the subscriber sends nothing to anyone
        sub = connected(s)
        sub.send(b"SUB feed 1\r\n")
        sub.ping_pong()
        pub = connected(s)
        for i in range(100):
            pub.send(b"PUB feed 1\r\nx\r\n")
            pub.ping_pong()
        assert len(sub.read_msgs(100)) == 100
        # one service, two requesters taking turns: the service answers two connections
        svc = connected(s)
        svc.send(b"SUB svc 1\r\n")
        svc.ping_pong()
        reqs = [connected(s), connected(s)]
        for k, r in enumerate(reqs):
            r.send(b"SUB in.%d 1\r\n" % k)
            r.ping_pong()
        for i in range(120):
            k = i % 2
            reqs[k].send(b"PUB svc in.%d 1\r\nq\r\n" % k)
            (_, _, reply, _), = svc.read_msgs(1)
            svc.send(b"PUB %s 1\r\na\r\n" % reply)
            reqs[k].read_msgs(1)
        pub.ping_pong()
        assert "Moved to worker" not in s.log(), s.log_tail(10)


def test_pairs_move_under_monitoring_and_closes():
    # Six pairs at once, /connz polled all along: every open connection is listed in every
    # snapshot (one that is moving is on no worker's list: moves wait for snapshots), no
    # reply is lost, and pairs closing in the middle of their traffic leave nothing behind.
    npairs = 6
    with Server(args=("--workers", "2", "-D"), monitor=True) as s:
        pairs = [_pair(s, b"p%d" % k) for k in range(npairs)]
        errors, stop = [], threading.Event()
        counts = []

        def poll():
            while not stop.is_set():
                n = http_json(s.mport, "/connz")["num_connections"]
                counts.append(n)
                if n != 2 * npairs:
                    errors.append("/connz listed %d connections" % n)

        def run(k):
            req, rsp = pairs[k]
            try:
                _round_trips(req, rsp, b"p%d" % k, 0, 150, timeout=30)
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append("pair %d: %r" % (k, e))

        poller = threading.Thread(target=poll)
        poller.start()
        workers = [threading.Thread(target=run, args=(k,)) for k in range(npairs)]
        for t in workers:
            t.start()
        for t in workers:
            t.join(90)
        stop.set()
        poller.join(10)
        assert not errors, errors[:5]
        assert counts, "no /connz answered"
        assert s.log().count("Moved to worker") >= 1, s.log_tail(10)
        # half of the pairs close mid-stream, in both orders, while the others go on
        done = []

        def close_mid(k):
            req, rsp = pairs[k]
            req.send(b"PUB svc.p%d in.p%d 1\r\nz\r\n" % (k, k))
            (req if k % 2 else rsp).close()
            (rsp if k % 2 else req).close()
            done.append(k)

        closers = [threading.Thread(target=close_mid, args=(k,)) for k in range(0, npairs, 2)]
        for t in closers:
            t.start()
        for k in range(1, npairs, 2):
            _round_trips(pairs[k][0], pairs[k][1], b"p%d" % k, 1000, 40, timeout=30)
        for t in closers:
            t.join(10)
        wait_until(lambda: http_json(s.mport, "/connz")["num_connections"] == npairs, 15,
                   what="the closed pairs gone")
        for k in range(1, npairs, 2):
            pairs[k][0].close()
            pairs[k][1].close()
        wait_until(lambda: http_json(s.mport, "/connz")["num_connections"] == 0, 15,
                   what="every connection gone")
        assert s.alive()
