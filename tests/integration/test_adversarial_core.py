"""Adversarial tests for the shared connection mechanism (issue #11 findings 5, 6, 9, 12,
15): what a peer can make the read path, the outbound buffers, the listeners and the
thread registry do. Each test failed against the server before its fix."""

import os
import re
import socket
import time

from harness import (Server, connected, count_msgs, http_json, sanitized, stuck_subscriber,
                     wait_until)

TIMEOUTS = {"test_f15_consumer_that_keeps_up_is_not_cut": 90, "test_f5_route_control_line_is_bounded": 60,
            "test_f5_route_operation_size_is_bounded": 40}


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


# --- #15: a consumer that keeps up is never cut as a slow consumer ------------------------



def test_f15_consumer_that_keeps_up_is_not_cut():
    # max_pending (256 KiB) is below one read's worth of deliveries (the server reads
    # 256 KiB at a time): a consumer whose socket happened to be full when the read was
    # committed was cut, though it drains everything it is given. The fast reader
    # here pauses 30 ms every 256 KiB (a descheduled thread); the slow one never reads.
    import threading
    cfg = 'max_pending: 262144\nmax_payload: 65536\nwrite_deadline: "3s"\n'
    n, size = 300, 60000
    with Server(config=cfg, monitor=True) as s:
        slow = stuck_subscriber(s.port, "data")
        fast = connected(s)
        fast.send(b"SUB data 1\r\nPING\r\n")
        fast.expect(b"PONG\r\n")
        result = []
        reader = threading.Thread(target=count_msgs,
                                  args=(fast.sock, n, time.monotonic() + 60, result,
                                        256 * 1024, 0.03))
        reader.start()
        pub = connected(s)
        chunk = b"".join(b"PUB data %d\r\n%s\r\n" % (size, b"z" * size) for _ in range(50))
        for _ in range(n // 50):
            pub.send(chunk)
        pub.ping_pong(timeout=60)
        reader.join(65)
        assert result and result[0] == n, "fast subscriber got %s of %d; log:\n%s" % (
            result, n, s.log_tail(10))
        cut = s.log().count("Slow Consumer Detected")
        assert cut == 1, "%d slow consumer lines (the fast one was cut too?):\n%s" % (
            cut, s.log_tail(10))
        wait_until(lambda: s.varz()["slow_consumers"] == 1, 10, what="slow_consumers == 1")
        pub.ping_pong()


# --- the outbound buffer pool gives a burst's memory back -------------------------------

BURST_SUBS, BURST_MSGS, BURST_SIZE = 16, 768, 8192


def _queued_burst(s, subject):
    """BURST_SUBS subscribers that do not read, and a publish of 6 MiB to each: the
    kernel's socket buffers take ~3 MiB per connection (tcp_wmem's 4 MiB ceiling), the
    server queues the rest until the stall threshold pauses the publisher: tens of MiB
    of outbound buffers (base/bufpool.c, huge pages) held until the subscribers read.
    (48 subscribers of 1 MiB each, as this was, left nothing queued: the kernel took it
    all, and the peak was only what a pass staged, 19-27 MiB, as often under the 24 MiB
    looked for as over it.) Returns (subs, RSS before, the sending thread, publisher)."""
    import threading
    subs = [stuck_subscriber(s.port, subject) for _ in range(BURST_SUBS)]
    rss0 = _rss_kib(s.proc.pid)
    pub = connected(s)
    msg = b"PUB %s %d\r\n%s\r\n" % (subject.encode(), BURST_SIZE, b"b" * BURST_SIZE)
    sender = threading.Thread(target=lambda: pub.send(msg * BURST_MSGS))
    sender.start()  # (the publisher is paused while its consumers are behind)
    wait_until(lambda: _rss_kib(s.proc.pid) - rss0 > 24 * 1024, 20,
               what="the queued burst in the server's memory")
    return subs, rss0, sender, pub


def _read_burst(s, subs, sender, exact=True):
    """The subscribers of _queued_burst read it all (exact: nothing else either); returns
    the most RSS seen meanwhile."""
    import threading
    results = [[] for _ in subs]
    readers = [threading.Thread(target=count_msgs,
                                args=(sub, BURST_MSGS, time.monotonic() + 60, results[i]))
               for i, sub in enumerate(subs)]
    for r in readers:
        r.start()
    peak = _rss_kib(s.proc.pid)
    while any(r.is_alive() for r in readers):
        peak = max(peak, _rss_kib(s.proc.pid))
        time.sleep(0.05)
    sender.join(10)
    assert all(r and (r[0] == BURST_MSGS or not exact and r[0] > BURST_MSGS) for r in results), \
        "subscribers got %s of %d" % ([r[0] if r else None for r in results], BURST_MSGS)
    return peak


def test_burst_buffer_memory_is_given_back():
    # A burst queued for 16 subscribers (_queued_burst). Once they drained it and the
    # server is idle, the connections release their buffers (idle tick) and the pool the
    # chunks they emptied (bufpool_trim): RSS falls back. A pool that kept its empty
    # chunks stayed at the peak.
    with Server(monitor=True) as s:
        subs, rss0, sender, pub = _queued_burst(s, "burst")
        _read_burst(s, subs, sender)
        if sanitized(which=(b"__tsan_init",)):
            return  # (TSan's shadow of the pool's pages stays resident: nothing to see)
        peak = _rss_kib(s.proc.pid)
        wait_until(lambda: _rss_kib(s.proc.pid) - rss0 < (peak - rss0) * 0.4, 20,
                   what="RSS back down (was %d KiB over the start at the peak)" % (peak - rss0))
        pub.ping_pong()
        assert s.alive()


def test_idle_connections_give_back_their_buffers():
    # 300 subscribers each take a burst (2 x 30 KB) and read all of it; then nothing
    # happens. An idle connection gives its outbound buffers back after a housekeeping
    # tick whatever their size: keeping those up to 64 KiB left ~70 KB per connection
    # that had once taken a burst (the reference keeps ~17 KB), for as long as it lived.
    n, nmsgs, size = 300, 2, 30000
    # KiB: the buffer pool keeps its 2 most recently emptied chunks until it has been idle
    # for 4 trim rounds (~5 s, BUFPOOL_IDLE_TRIMS); the bound allows for them meanwhile.
    pool_keeps = 2 * 2048
    with Server() as s:
        subs = [connected(s) for _ in range(n)]
        for c in subs:
            c.send(b"SUB idle 1\r\n")
        for c in subs:
            c.ping_pong()
        rss0 = _rss_kib(s.proc.pid)
        pub = connected(s)
        pub.send(b"".join(b"PUB idle %d\r\n%s\r\n" % (size, b"i" * size)
                          for _ in range(nmsgs)))
        pub.ping_pong(timeout=30)
        deadline = time.monotonic() + 60
        for c in subs:
            result = []
            count_msgs(c.sock, nmsgs, deadline, result)
            assert result == [nmsgs], "a subscriber got %s of %d" % (result, nmsgs)
        if sanitized():
            return  # (the sanitizers' shadow and quarantine keep pages resident)
        peak = _rss_kib(s.proc.pid)
        wait_until(lambda: _rss_kib(s.proc.pid) - rss0 < pool_keeps + n * 16, 20,
                   what="RSS within 16 KiB per idle connection of the start "
                        "(%d KiB per connection over it after the burst)" % ((peak - rss0) // n))
        pub.ping_pong()
        assert s.alive()


def test_busy_connections_give_back_oversized_buffers():
    # 16 subscribers fall ~1.5 MiB behind (_queued_burst: their buffers grow to MiBs),
    # read it all, and meanwhile keep getting a small message every 5 ms, so no
    # housekeeping tick finds them idle. Their buffers shrink to what they carry now
    # (buf_oversized) and the pool gives the emptied chunks back. Kept while busy, 16-40
    # of a 42-56 MiB peak stayed for as long as the stream went on. (The stream comes
    # from its own process: a thread of this one, starved by the readers, let the
    # connections look idle now and then.)
    import subprocess
    import sys
    import threading
    with Server() as s:
        subs, rss0, sender, pub = _queued_burst(s, "busy")
        stream = subprocess.Popen([sys.executable, "-c", """
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b'CONNECT {"verbose":false}\\r\\n')
m = b"PUB busy 100\\r\\n" + b"t" * 100 + b"\\r\\n"
while True:
    s.sendall(m)
    time.sleep(0.005)
""", str(s.port)])
        try:
            peak = _read_burst(s, subs, sender, exact=False)
            # from here on they read the stream (and what is left of the burst)
            deadline = time.monotonic() + 40
            for sub in subs:
                threading.Thread(target=count_msgs, args=(sub, 1 << 30, deadline, []),
                                 daemon=True).start()
            # (not under the sanitizers: ASan's quarantine of what the stream frees grows
            # RSS by ~1 MiB/s, TSan's shadow stays resident)
            # The pool keeps a 2 MiB chunk per block size the busy buffers use (huge
            # pages, resident whole): ~4 MiB of chunks for ~0.8 MiB of blocks, measured
            # in smaps. With a quarter of the ~27 MiB peak alone the bound sat that close
            # (6.8 vs 6.76 MiB) and failed on a loaded machine; kept, the buffers stay
            # at ~90 % of the peak.
            if not sanitized():
                bound = (peak - rss0) * 0.25 + 4096
                wait_until(lambda: _rss_kib(s.proc.pid) - rss0 < bound, 20,
                           what="RSS back down while the subscribers stay busy "
                                "(was %d KiB over the start at the peak)" % (peak - rss0))
            assert stream.poll() is None, "the stream's publisher stopped"
        finally:
            stream.kill()
            stream.wait()
        for sub in subs:
            sub.close()
        pub.ping_pong()
        assert s.alive()


# --- #5: one bound on an incomplete control line, for every connection kind ---------------

def _rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _flood_no_newline(port, first, limit, seconds):
    """Sends `first` then bytes without a newline until the server closes the socket
    (returns the bytes sent) or `limit` bytes / `seconds` passed (returns None)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(1.0)
    sent = 0
    chunk = b"x" * 65536
    end = time.monotonic() + seconds
    try:
        s.sendall(first)
        while sent < limit and time.monotonic() < end:
            try:
                sent += s.send(chunk)
            except socket.timeout:
                continue
    except OSError:
        return sent
    finally:
        s.close()
    return None


def _cluster_server(extra=""):
    from harness import free_port
    cport = free_port()
    s = Server(config="cluster {\n  listen: 127.0.0.1:%d\n  name: c1\n}\n%s" % (cport, extra),
               monitor=True)
    s.cport = cport
    return s


def test_f5_route_control_line_is_bounded():
    # Before CONNECT, with no cluster authorization (no auth timer): CONNECT and then
    # bytes without a newline grew the server's memory without bound (58 MiB in 1.2 s).
    with _cluster_server() as s:
        rss0 = _rss_kib(s.proc.pid)
        sent = _flood_no_newline(s.cport, b"CONNECT ", 256 << 20, 15)
        assert sent is not None, "route port took 256 MiB of one control line"
        assert sent < 64 << 20, "closed only after %d bytes" % sent
        grew = _rss_kib(s.proc.pid) - rss0
        assert grew < 32 * 1024, "server grew %d KiB" % grew
        s.wait_log(r"rid:\d+ - maximum control line exceeded", 5)
        # the same after CONNECT, for an RS+ line
        sent = _flood_no_newline(
            s.cport, b'CONNECT {"verbose":false,"pedantic":false,"name":"x","cluster":"c1"}\r\nRS+ $G ',
            256 << 20, 15)
        assert sent is not None and sent < 64 << 20, sent
        wait_until(lambda: s.log().count("maximum control line exceeded") >= 2, 5,
                   what="the RS+ line refused too")
        # a client gets the reference's error for its CONNECT line
        c = s.client()
        c.send(b"CONNECT " + b"x" * 10000)
        c.expect(b"-ERR 'maximum control line exceeded'\r\n")
        c.expect_closed()
        connected(s).ping_pong()


def test_f5_silent_route_is_timed_out():
    # An inbound route that never sends CONNECT is closed after the (cluster) auth
    # timeout even without cluster authorization; it was kept until its PINGs went stale.
    with _cluster_server() as s:
        r = socket.create_connection(("127.0.0.1", s.cport))
        r.settimeout(10)
        t0 = time.monotonic()
        data = b""
        while True:
            try:
                d = r.recv(65536)
            except OSError:
                break
            if not d:
                break
            data += d
            if time.monotonic() - t0 > 9:
                break
        took = time.monotonic() - t0
        assert b"-ERR 'Authentication Timeout'" in data, data[-200:]
        assert took < 8, "closed after %.1f s" % took
        r.close()


# --- #6: routes have an output bound (max_pending, write_deadline, producer stall) --------

def _fake_route(cport):
    """A route peer that registers, asks for everything (RS+ $G >) and never reads."""
    r = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    r.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    r.connect(("127.0.0.1", cport))
    r.settimeout(5)
    assert r.recv(4096).startswith(b"INFO ")
    r.sendall(b'CONNECT {"echo":false,"verbose":false,"pedantic":false,"tls_required":false,'
              b'"name":"FAKE","cluster":"c1","dynamic":false,"headers":true}\r\n'
              b'INFO {"server_id":"NFAKEROUTEPEER","name":"FAKE","host":"127.0.0.1","port":1,'
              b'"cluster":"c1","headers":true,"proto":1}\r\n'
              b'RS+ $G >\r\n')
    return r


def test_f6_route_that_does_not_read_is_cut():
    # A route peer that never reads made the server buffer everything published to it
    # (2.2 GB in 20 s): no max_pending, no write deadline, no producer stall for routes.
    with _cluster_server('write_deadline: "2s"\n') as s:
        r = _fake_route(s.cport)
        wait_until(lambda: http_json(s.mport, "/routez")["num_routes"] == 1, 5,
                   what="the fake route registered")
        rss0 = _rss_kib(s.proc.pid)
        pub = connected(s)
        pub.sock.settimeout(0.2)
        chunk = b"".join(b"PUB data 60000\r\n%s\r\n" % (b"z" * 60000) for _ in range(20))
        view, off = memoryview(chunk), 0
        sent, end = 0, time.monotonic() + 15
        closed = re.compile(r"rid:\d+ - Router connection closed: Slow Consumer")
        while time.monotonic() < end and sent < (400 << 20) and not closed.search(s.log()):
            try:
                k = pub.sock.send(view[off:])
                off, sent = (off + k) % len(chunk), sent + k
            except socket.timeout:
                pass       # paused producer: the server stopped reading us
        grew = _rss_kib(s.proc.pid) - rss0
        pub.sock.settimeout(10)
        pub.sock.sendall(view[off:] if off else b"")  # no half message left behind
        s.wait_log(r"rid:\d+ - Slow Consumer Detected: WriteDeadline of 2s exceeded", 10)
        s.wait_log(r"rid:\d+ - Router connection closed: Slow Consumer \(Write Deadline\)", 5)
        assert grew < 100 * 1024, "server grew %d KiB for a route that does not read" % grew
        pub.ping_pong(timeout=20)      # the publisher is served again
        r.close()


# --- #9: out of file descriptors, the listeners back off ----------------------------------

def test_f9_accept_backs_off_when_out_of_descriptors():
    # At EMFILE the level-triggered listener woke the workers again at once: 137,000
    # "Too many open files" lines a second. Now it sleeps 10 ms doubling to 1 s (one line
    # per back-off, as the reference) and existing clients are served meanwhile.
    with Server(wait=False) as s:
        wrapper = os.path.join(s.dir, "lowfd.sh")
        with open(wrapper, "w") as f:
            f.write('#!/bin/sh\nulimit -n 64 || exit 1\nexec "%s" "$@"\n' % s.bin)
        os.chmod(wrapper, 0o755)
        s.bin = wrapper
        s.wait = True
        s.start()
        c = connected(s)
        flood = []
        try:
            for _ in range(100):
                flood.append(socket.create_connection(("127.0.0.1", s.port), timeout=2))
            s.wait_log(r"Temporary Client Accept Error\(accept tcp 127\.0\.0\.1:%d: accept4: "
                       r"too many open files\), sleeping 10ms" % s.port, 5)
            n0 = s.log().count("Accept Error")
            t0 = time.monotonic()
            c.ping_pong(timeout=2)             # served while the listener backs off
            time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
            n = s.log().count("Accept Error") - n0
            assert n <= 20, "%d accept error lines in a second" % n
        finally:
            for f in flood:
                f.close()
        # descriptors back: the listener accepts again after its back-off (<= 1 s)
        d = s.client(timeout=5)
        d.connect()
        d.ping_pong()


def test_f5_route_operation_size_is_bounded():
    # The same read path bounds a whole operation: an RMSG announcing 500 MB was
    # buffered as it came (the reference takes any size from a route, but nothing
    # larger than max_pending could be delivered to anyone).
    with _cluster_server() as s:
        rss0 = _rss_kib(s.proc.pid)
        sent = _flood_no_newline(
            s.cport, b'CONNECT {"verbose":false,"pedantic":false,"name":"x","cluster":"c1"}\r\n'
                     b"RMSG $G foo 500000000\r\n", 256 << 20, 15)
        assert sent is not None, "route port took 256 MiB of one announced message"
        assert sent < 64 << 20, "closed only after %d bytes" % sent
        assert _rss_kib(s.proc.pid) - rss0 < 32 * 1024
        s.wait_log(r"rid:\d+ - maximum payload exceeded: \d+ vs max_pending 67108864", 5)
        connected(s).ping_pong()
