"""Bounded scale and abuse checks: many connections and subscriptions, a
steady message stream, abrupt disconnects, random fragmentation, garbage.
Each loop has a fixed count and every wait a deadline."""

import random
import socket
import time

from harness import Server, Client, connected

TIMEOUTS = {"test_many_connections_fanout": 60, "test_throughput_sanity": 60}


def test_many_connections_fanout():
    n = 200
    with Server() as s:
        subs = []
        for i in range(n):
            c = Client(s.port)
            c.send(b'CONNECT {"verbose":false}\r\nSUB many.%d 1\r\nSUB many.* 2\r\n' % i)
            subs.append(c)
        for c in subs:
            c.ping_pong()
        p = connected(s)
        p.send(b"PUB many.7 2\r\nhi\r\nPUB many.all 3\r\nall\r\n")
        p.ping_pong()
        for i, c in enumerate(subs):
            got = c.sync()
            expected = {b"MSG many.7 2 2\r\nhi\r\n", b"MSG many.all 2 3\r\nall\r\n"}
            if i == 7:
                expected.add(b"MSG many.7 1 2\r\nhi\r\n")
            # delivery order among a client's matching subs is unspecified
            assert len(got) == sum(len(x) for x in expected) and all(x in got for x in expected), \
                "client %d got %r" % (i, got)
        for c in subs:
            c.close()


def test_many_subscriptions_one_connection():
    n = 5000
    with Server() as s:
        c = connected(s)
        c.send(b"".join(b"SUB s.%d.x %d\r\n" % (i, i) for i in range(n)))
        c.ping_pong(timeout=10)
        p = connected(s)
        p.send(b"PUB s.4321.x 1\r\nq\r\nPUB s.0.x 1\r\nr\r\nPUB s.5000.x 1\r\nz\r\n")
        p.ping_pong()
        c.expect(b"MSG s.4321.x 4321 1\r\nq\r\nMSG s.0.x 0 1\r\nr\r\n")
        # drop them all; nothing is delivered afterwards
        c.send(b"".join(b"UNSUB %d\r\n" % i for i in range(n)))
        c.ping_pong(timeout=10)
        p.send(b"PUB s.1.x 1\r\nq\r\n")
        p.ping_pong()
        c.expect_nothing(0.2)


def test_throughput_sanity():
    # 50k small messages through one subscriber within a generous bound
    n = 50000
    with Server() as s:
        sub = connected(s)
        sub.send(b"SUB t 1\r\nPING\r\n")
        sub.expect(b"PONG\r\n")
        p = connected(s)
        batch = b"PUB t 8\r\n12345678\r\n" * 1000
        t0 = time.monotonic()
        for _ in range(n // 1000):
            p.send(batch)
        p.ping_pong(timeout=20)
        msg = b"MSG t 1 8\r\n12345678\r\n"
        buf = bytearray()
        sub.sock.settimeout(1.0)
        deadline = time.monotonic() + 20
        # the server's RTT PING may be interleaved; it cannot occur inside msg
        while len(buf) - 6 * buf.count(b"PING\r\n") < len(msg) * n and time.monotonic() < deadline:
            try:
                data = sub.sock.recv(1 << 20)
            except socket.timeout:
                continue
            if not data:
                break
            buf += data
        data = bytes(buf).replace(b"PING\r\n", b"")
        took = time.monotonic() - t0
        assert data == msg * n, "received %d of %d bytes (or corrupted)" % (len(data), len(msg) * n)
        assert took < 15, "50k messages took %.1fs" % took


def test_abrupt_disconnects_mid_operation():
    with Server() as s:
        good = connected(s)
        good.send(b"SUB foo 1\r\nPING\r\n")
        good.expect(b"PONG\r\n")
        partials = [b"PUB foo 10\r\nhel", b"PUB foo", b"SUB bar", b"CONNECT {\"verb",
                    b"HPUB foo 12 12\r\nNATS", b"PING\r", b"UNSUB 1 5"]
        for i in range(30):
            c = Client(s.port)
            c.send(partials[i % len(partials)])
            # reset instead of FIN on some of them
            if i % 2:
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            c.close()
        p = connected(s)
        p.send(b"PUB foo 2\r\nok\r\n")
        good.expect(b"MSG foo 1 2\r\nok\r\n")
        assert s.alive()


def test_random_fragmentation():
    rnd = random.Random(42)
    with Server() as s:
        c = connected(s, headers=True)
        stream = b"SUB a.* 1\r\nSUB b 2\r\n"
        expected = b""
        for i in range(200):
            payload = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 50)))
            if i % 3 == 0:
                hdr = b"NATS/1.0\r\nK:%d\r\n\r\n" % i
                stream += b"HPUB b %d %d\r\n%s%s\r\n" % (len(hdr), len(hdr) + len(payload), hdr, payload)
                expected += b"HMSG b 2 %d %d\r\n%s%s\r\n" % (len(hdr), len(hdr) + len(payload), hdr, payload)
            else:
                stream += b"PUB a.%d %d\r\n%s\r\n" % (i, len(payload), payload)
                expected += b"MSG a.%d 1 %d\r\n%s\r\n" % (i, len(payload), payload)
        pos = 0
        while pos < len(stream):
            step = rnd.randrange(1, 40)
            c.send(stream[pos:pos + step])
            pos += step
        c.expect(expected, timeout=10)


def test_garbage_does_not_hurt_others():
    rnd = random.Random(7)
    with Server() as s:
        good = connected(s)
        good.send(b"SUB keep 1\r\nPING\r\n")
        good.expect(b"PONG\r\n")
        ops = [b"PUB", b"SUB", b"UNSUB", b"HPUB", b"CONNECT", b"PING", b"MSG", b"\x00\xff", b"{}", b" "]
        for _ in range(40):
            c = Client(s.port)
            junk = b" ".join(rnd.choice(ops) + bytes(rnd.randrange(33, 127) for _ in range(rnd.randrange(0, 20)))
                             for _ in range(rnd.randrange(1, 6)))
            c.send(junk + rnd.choice([b"\r\n", b"\n", b""]))
            c.read_for(0.02)
            c.close()
        p = connected(s)
        p.send(b"PUB keep 5\r\nalive\r\n")
        good.expect(b"MSG keep 1 5\r\nalive\r\n")


def test_burst_of_connections_all_served():
    """Hundreds of connections arriving in one batch of a worker each get INFO and
    PONG (a worker's per-batch output table was overrun by more than 64 of them)."""
    n = 300
    with Server() as s:
        socks = []
        for _ in range(n):
            k = socket.create_connection(("127.0.0.1", s.port), timeout=10)
            k.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
            socks.append(k)
        for i, k in enumerate(socks):
            got = b""
            while b"PONG\r\n" not in got:
                b = k.recv(4096)
                assert b, "connection %d closed before PONG: %r" % (i, got)
                got += b
            assert got.startswith(b"INFO "), got
        for k in socks:
            k.close()
        assert s.alive()
        assert "runtime error" not in s.log(), s.log()[-2000:]
