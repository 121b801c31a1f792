#!/usr/bin/env python3
"""auto_unsub_cost.py: server CPU per round for a client with many subscriptions
that each reach an auto-unsubscribe limit (docs/performance.md, twelfth pass).

A subscriber holds N subscriptions (with `max`: each `UNSUB sid 1`); per round
a second connection publishes one message to the next subscription and the
subscriber sends a PING. With the limits the round's work should not grow
with N: the owner drops what died, not its whole sid map.

    auto_unsub_cost.py PORT SERVER_PID N max|nomax [ROUNDS]
"""
import socket
import sys
import time


def cpu(pid):
    f = open("/proc/%d/stat" % pid).read().split(")")[1].split()
    return (int(f[11]) + int(f[12])) / 100.0


def until_pong(s, f):
    """Reads up to our PONG, answering the server's own PINGs (2 s after CONNECT)."""
    while True:
        line = f.readline()
        assert line, "connection closed"
        if line == b"PONG\r\n":
            return
        if line == b"PING\r\n":
            s.sendall(b"PONG\r\n")


def conn(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
    until_pong(s, f)
    return s, f


def main():
    port, pid, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    with_max = sys.argv[4] == "max"
    rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 3000
    sub, sf = conn(port)
    pub, pf = conn(port)
    buf = bytearray()
    for i in range(n):
        buf += b"SUB s.%d %d\r\n" % (i, i)
        if with_max:
            buf += b"UNSUB %d 1\r\n" % i
    sub.sendall(bytes(buf) + b"PING\r\n")
    until_pong(sub, sf)
    c0, t0 = cpu(pid), time.time()
    for i in range(rounds):
        pub.sendall(b"PUB s.%d 1\r\nx\r\nPING\r\n" % i)
        until_pong(pub, pf)
        sub.sendall(b"PING\r\n")
        until_pong(sub, sf)
    c1 = cpu(pid)
    print("N=%d %s: server CPU %.1f us per round, %.0f rounds/s" % (
        n, "max 1" if with_max else "no max", (c1 - c0) * 1e6 / rounds, rounds / (time.time() - t0)))


if __name__ == "__main__":
    main()
