#!/usr/bin/env python3
"""Soak run: a three-node cluster under mixed load, with failures injected, and
invariants checked at the end (`make soak`; python3 stdlib only).

Cluster: A and B are gnatsd (the ASan+UBSan build, $SOAK_GNATSD, default
build/asan/gnatsd), R is the reference nats-server ($SOAK_REFERENCE). Full mesh:
A and B list each other and R in their routes, R lists none (so the gnatsd side
solicits every route to R, and redials it after R restarts). One account, two users: `soak` (no permissions) and `perm`
(permissions that every reload toggles). B has a small max_pending
($SOAK_MAX_PENDING, default 8 MiB) and hosts the slow consumer.

Load (rates scaled by $SOAK_RATE, default 0.7: ~600 msgs/s published, ~5000/s
delivered), all over loopback with raw
protocol clients written here (one reader thread per connection):
  plain   PUB soak.d.<pid>, 16..540-byte payloads; subscribers on soak.d.* and soak.d.>
  hdr     HPUB soak.h.<pid> (sequence in the headers); subscribers on soak.h.*
  big     PUB soak.big.<pid>, 1 MiB payloads (the default max_payload); subscribers on soak.big.*
  queue   PUB soak.q.<pid>; queue group `workers` on soak.q.* with members on every node
  req     request/reply: requests on soak.svc (queue group `svc`, two responders per
          node), replies to _INBOX.<rid>.<n>
Every node has long-lived "anchor" subscribers for each of these subjects and
long-lived publishers; the `perm` user has a publisher and a wildcard
subscriber on every node (deliveries to it go through the deny check).
Churn: clients that connect and leave: short-lived subscribers (leaving with
UNSUB + PING/PONG drain, or by closing the socket), short-lived publishers,
short-lived queue members, interest bursts (200 SUBs of unique subjects, half
dropped by UNSUB and half with the connection), bare connects. Node A runs
$SOAK_A_WORKERS (default 4) worker threads, B the default (one per core).
Failures: every $SOAK_EVENT_SECONDS (default: duration/8, clamped to 20..45 s)
one event, in turn: R stopped by SIGKILL and restarted with the same ports
(A and B see the route die under traffic and redial); A reloaded without R in
its routes, so gnatsd closes that route itself under traffic, and 2-4 s later
reloaded with it again; R stopped by SIGTERM and restarted. Once, at about a
quarter of the run, gnatsd B is stopped by SIGTERM and restarted (A tears down
a gnatsd route; B's shutdown under load runs the leak check). Every $SOAK_RELOAD_SECONDS (default 5 s) the
configuration files are rewritten with the `perm` user's permissions toggled
(publish deny soak.toggle on/off; subscribe deny soak.d.nope on/off, which
matches the wildcard subscriptions of that user) and the gnatsd nodes get
SIGHUP ($SOAK_RELOAD_NODES, default A,B); a `perm` connection then checks that
the new publish permission applies to it. Meanwhile the `perm` subscribers send
CONNECT again every 50 ms ($SOAK_RECONNECT_SECONDS), which re-applies their
permissions while messages are delivered to them. R is not reloaded by
default: nats-server 2.9.10 drops routed messages that arrive during its own
reload (reloadAuthorization deletes every account from s.accounts before
configureAccounts adds them back, and a routed message whose account lookup
misses meanwhile is dropped, "Unknown account" at debug level); with R in
SOAK_RELOAD_NODES the run shows gaps into R and lost requests, also with
three reference nodes.
A slow consumer on B (small receive buffer, subscribed to soak.big.* and
soak.d.*, never reads) is created, must be cut, and is created again 20 s
after each cut.

Readiness: after a node starts, the run waits for the route mesh, then proves
interest propagation with probe subscriptions (a subscription made after a
node's subscriptions travels the same route after them, so a probe message
that reaches it proves the peer has them all); only then does that node get
publishers. An event's window is [kill (or route drop), ready].

Invariants (exact definitions; any violation makes the exit status 1):
 For a publisher P (one connection, seq 1, 2, ... per message) and a plain
 subscription S whose subject matches P's (classes plain, hdr, big):
  I1 (always) the seqs S receives from P are consecutive integers, each once,
     in order: no duplicate, no reordering, no gap, except a gap between P and
     S on the two ends of a dropped route whose missing seqs were all assigned
     inside that route-drop window widened by $SOAK_SLACK s at its start
     (counted in the summary). A node kill ends every pair that crosses its
     routes, so it never excuses a gap. Payloads and headers are verified
     byte for byte.
  I2 (start) let lower = (P's last assigned seq when S's SUB was confirmed by
     PONG) + 1 (for the anchors of a node that just (re)started: when the
     probe proved the other nodes have their interest). If S received any
     seq >= lower from P, it received lower: nothing is missed once the
     subscription is in place (interest for every subject already spans the
     cluster through the anchors). The missed start is excused on the same
     route-drop condition as a gap.
  I3 (end) S received up to hi, where
       hi = P's seq confirmed by P's own PING/PONG when S started to leave, if S
            left by UNSUB + drain and S, P are on the same node;
       hi = P's final seq, if S is alive at the end of the run and P left by
            itself (churn publisher) or ran to the end (after a drain of at
            most 60 s);
     no I3 for pairs that a node kill ended, for abrupt closes, and for UNSUB
     leaves across a route (the RS- races with the route's messages); seqs
     missing at the end that were all assigned inside a route-drop window of
     the pair's route are excused (counted).
  No message may arrive for a sid after its UNSUB was confirmed.
 Queue group `workers` (members on every node, anchors never leave): for each
 publisher, every seq is delivered to at most one member, each member sees
 increasing seqs, and every seq up to P's final (or the highest seq delivered,
 for publishers killed with their node) is delivered unless it was assigned
 inside a node's events window widened by $SOAK_SLACK seconds (default 3) at
 its start (a message routed to a node being killed is lost: at-most-once).
 A seq arriving after a higher one is excused on the same condition: the
 reference hands a routed queue message whose local member is gone (its
 clients closing at shutdown) on to another route, so it can come back to the
 publisher's node behind later messages (client.go processMsgResults, rsub);
 gnatsd drops such a message instead.
 Request/reply: each request gets at most one reply, and exactly one unless
 it was sent inside an events window (same widening), or its requester was
 killed.
 Slow consumers: every slow consumer is cut ("Slow Consumer Detected" with its
 cid in B's log) within 60 s, and no other connection is: no other
 "Slow Consumer Detected" line in any log, and no other client connection is
 closed by a server outside its node's kill (an -ERR on a data connection is
 a violation too).
 Reloads: after each SIGHUP the `perm` checker on every node sees the new
 publish permission within 10 s. One exception to "nothing else is cut": the
 reference re-checks authorization of every client at a reload, also of one
 whose CONNECT it has not processed yet, and refuses it; a connection created
 at most 2 s before a SIGHUP to its node and refused with Authorization
 Violation is counted per node in the summary, not a violation.
 Liveness: every publisher's and requester's PING gets its PONG within 60 s,
 and no server exits except when the run stops it. Routes are covered by the
 slow-consumer rule: a route cut (max_pending or write deadline) logs "Slow
 Consumer Detected" with its rid.
 Sanitizers: no AddressSanitizer/LeakSanitizer/UndefinedBehaviorSanitizer
 report in any gnatsd log, and each gnatsd instance stopped by SIGTERM exits
 with status 0 or 1 (ASAN_OPTIONS=detect_leaks=1:abort_on_error=1, so a leak
 or error at exit shows as SIGABRT); the reference must not crash either.
 RSS: VmRSS of each gnatsd instance is sampled every 2 s; for an instance that
 lived at least 90 s, with its life cut in thirds (the first is warm-up),
 max(last third) <= 1.2 * max(middle third) + 8 MiB. ASan's quarantine is
 capped (quarantine_size_mb=16) so it fills during warm-up.

Output: progress lines every 30 s, then a summary ending in
"SOAK PASS" or "SOAK FAIL"; logs and configs stay in $SOAK_DIR (default
build/soak/run-<time>).
"""

import bisect
import collections
import json
import os
import random
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import HOST, REPO_ROOT, free_port, http_json, wait_own_port  # noqa: E402


def _env_float(name, default):
    v = os.environ.get(name)
    return float(v) if v not in (None, "") else default


DURATION = _env_float("SOAK_SECONDS", 300.0)
RATE = _env_float("SOAK_RATE", 0.7)
SLACK = _env_float("SOAK_SLACK", 3.0)
RELOAD_EVERY = _env_float("SOAK_RELOAD_SECONDS", 5.0)
RELOAD_NODES = os.environ.get("SOAK_RELOAD_NODES", "A,B").split(",")
A_WORKERS = int(_env_float("SOAK_A_WORKERS", 4))
RECONNECT_EVERY = _env_float("SOAK_RECONNECT_SECONDS", 0.05)
EVENT_EVERY = _env_float("SOAK_EVENT_SECONDS", max(20.0, min(45.0, DURATION / 8)))
MAX_PENDING = int(_env_float("SOAK_MAX_PENDING", 8 << 20))
SEED = int(_env_float("SOAK_SEED", time.time()))
# Self-check of the checker: "gap" (or "dup") makes the first plain publisher
# skip (or repeat) its message 100; the run must then FAIL with I1 violations.
INJECT = os.environ.get("SOAK_INJECT", "")
GNATSD = os.environ.get("SOAK_GNATSD", "build/asan/gnatsd")
REFERENCE = os.environ.get("SOAK_REFERENCE", "/usr/sbin/nats-server")
if not os.path.isabs(GNATSD):
    GNATSD = os.path.join(REPO_ROOT, GNATSD)
SAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1:quarantine_size_mb=16:malloc_context_size=20",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}
SAN_RE = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|"
                    r"UndefinedBehaviorSanitizer|SUMMARY: \w+Sanitizer|panic:|goroutine \d+ \[")
SC_RE = re.compile(r"^.*Slow Consumer Detected.*$", re.M)
BIG = 1 << 20
PAD = bytes((i * 131 + 7) % 26 + 97 for i in range(1024))
BIGFILL = bytes((i * 7 + 3) % 251 for i in range(BIG))

T0 = time.monotonic()


def now():
    return time.monotonic() - T0


def say(msg):
    sys.stdout.write("[soak %6.1fs] %s\n" % (now(), msg))
    sys.stdout.flush()


# ---------------------------------------------------------------------------
# bookkeeping

class Book:
    """Counters and violations, shared by every thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.violations = collections.Counter()
        self.examples = []
        self.count = collections.Counter()

    def fail(self, kind, text):
        with self.lock:
            self.violations[kind] += 1
            if sum(1 for k, _ in self.examples if k == kind) < 5:
                self.examples.append((kind, "%.1fs %s" % (now(), text)))
        if self.violations[kind] <= 3:
            say("VIOLATION %s: %s" % (kind, text))

    def add(self, key, n=1):
        with self.lock:
            self.count[key] += n


BOOK = Book()


# ---------------------------------------------------------------------------
# messages: content is a function of (class, pid, seq), so receivers verify it

def build_payload(cls, pid, seq):
    head = b"%d %d " % (pid, seq)
    if cls == "big":
        return head + BIGFILL[len(head):]
    return head + PAD[:(seq * 7919 + pid * 31) % 525]


def build_hdr(pid, seq):
    return b"NATS/1.0\r\nSoak-Pid: %d\r\nSoak-Seq: %d\r\n\r\n" % (pid, seq)


def frame(cls, subject, pid, seq):
    if cls == "hdr":
        h = build_hdr(pid, seq)
        p = b"h%d" % seq + PAD[:seq % 64]
        return b"HPUB %s %d %d\r\n%s%s\r\n" % (subject, len(h), len(h) + len(p), h, p)
    p = build_payload(cls, pid, seq)
    return b"PUB %s %d\r\n%s\r\n" % (subject, len(p), p)


_HDR_RE = re.compile(rb"Soak-Pid: (\d+)\r\nSoak-Seq: (\d+)\r\n")


def decode(cls, hdr, payload):
    """(pid, seq) of a received message, or None if its bytes are not what was sent."""
    try:
        if cls == "hdr":
            m = _HDR_RE.search(hdr or b"")
            pid, seq = int(m.group(1)), int(m.group(2))
            ok = hdr == build_hdr(pid, seq) and payload == b"h%d" % seq + PAD[:seq % 64]
        else:
            sp = payload.index(b" ")
            sp2 = payload.index(b" ", sp + 1)
            pid, seq = int(payload[:sp]), int(payload[sp + 1:sp2])
            ok = hdr is None and payload == build_payload(cls, pid, seq)
    except (ValueError, AttributeError):
        return None
    return (pid, seq) if ok else None


# ---------------------------------------------------------------------------
# a raw client connection with its reader thread

class Closed(Exception):
    pass


class Conn:
    """One client connection. Frames are parsed by a reader thread and
    dispatched by sid to handlers(subject, reply, hdr, payload); PINGs are
    answered; PONGs complete flush() waiters in order."""

    def __init__(self, soak, node, name, user="soak", headers=True, rcvbuf=None, start_reader=True):
        self.soak = soak
        self.node = node
        self.instance = node.instance
        self.name = name
        self.handlers = {}
        self.errs = []
        self.closed = False
        self.expected_close = False  # we closed it, or it is the slow consumer
        self.kind = "client"
        self.created = now()
        self.wlock = threading.Lock()
        self.pongs = collections.deque()
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(10)
        s.connect((HOST, node.port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = s
        self.local_port = s.getsockname()[1]
        line = b""
        while not line.endswith(b"\n"):
            c = s.recv(1)
            if not c:
                raise Closed("closed before INFO")
            line += c
        info = json.loads(line[5:])
        self.cid = info.get("client_id")
        s.settimeout(None)
        opts = {"verbose": False, "pedantic": False, "user": user, "pass": user + "pw",
                "name": name, "lang": "python-soak", "version": "1", "protocol": 1,
                "headers": headers, "no_responders": False}
        self.connect_line = b"CONNECT " + json.dumps(opts).encode() + b"\r\n"
        self.send(self.connect_line)
        soak.register(self)
        if start_reader:
            self.thread = threading.Thread(target=self._reader, daemon=True)
            self.thread.start()

    def send(self, data):
        with self.wlock:
            self.sock.sendall(data)

    def send_ping(self, data=b""):
        """Sends data + PING; returns an Event set when its PONG arrives (or on close)."""
        ev = threading.Event()
        ev.ok = False
        with self.wlock:
            if self.closed:
                ev.set()
                return ev
            self.pongs.append(ev)
            self.sock.sendall(data + b"PING\r\n")
        return ev

    def flush(self, timeout=30.0, data=b""):
        try:
            ev = self.send_ping(data)
        except OSError:
            return False
        return ev.wait(timeout) and ev.ok

    def close(self):
        self.expected_close = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    def _reader(self):
        buf = bytearray()
        pos = 0
        need = None
        sock = self.sock
        why = "EOF"
        try:
            while True:
                try:
                    data = sock.recv(262144)
                except OSError as e:
                    why = str(e)
                    data = b""
                if not data:
                    break
                buf += data
                while True:
                    if need is not None:
                        subject, sid, reply, hlen, total = need
                        if len(buf) - pos < total + 2:
                            break
                        with memoryview(buf) as mv:
                            body = bytes(mv[pos:pos + total])
                        if buf[pos + total:pos + total + 2] != b"\r\n":
                            raise Closed("payload not followed by CRLF")
                        pos += total + 2
                        need = None
                        h = self.handlers.get(sid)
                        if h is None:
                            BOOK.fail("unexpected-msg", "%s: message on %r for sid %r without a subscription"
                                      % (self.name, subject, sid))
                        else:
                            h(subject, reply, body[:hlen] if hlen else None, body[hlen:])
                        continue
                    nl = buf.find(b"\n", pos)
                    if nl < 0:
                        if len(buf) - pos > 65536:
                            raise Closed("control line too long")
                        break
                    line = bytes(buf[pos:nl]).rstrip(b"\r")
                    pos = nl + 1
                    if line.startswith(b"MSG "):
                        p = line.split(b" ")
                        if len(p) == 4:
                            need = (p[1], p[2], None, 0, int(p[3]))
                        else:
                            need = (p[1], p[2], p[3], 0, int(p[4]))
                    elif line.startswith(b"HMSG "):
                        p = line.split(b" ")
                        if len(p) == 5:
                            need = (p[1], p[2], None, int(p[3]), int(p[4]))
                        else:
                            need = (p[1], p[2], p[3], int(p[4]), int(p[5]))
                    elif line == b"PING":
                        try:
                            self.send(b"PONG\r\n")
                        except OSError:
                            pass
                    elif line == b"PONG":
                        ev = self.pongs.popleft()
                        ev.ok = True
                        ev.set()
                    elif line.startswith(b"-ERR"):
                        self.errs.append(line)
                        self.soak.on_err(self, line)
                    elif line.startswith(b"INFO ") or line == b"+OK":
                        pass
                    else:
                        raise Closed("unexpected line %r" % line[:100])
                if pos:
                    del buf[:pos]
                    pos = 0
        except Closed as e:
            why = str(e)
            BOOK.fail("protocol", "%s on %s: %s" % (self.name, self.node.name, why))
        except Exception as e:  # a bug in a handler must not pass silently
            why = "reader exception %r" % e
            BOOK.fail("driver", "%s: %r" % (self.name, e))
        with self.wlock:
            self.closed = True
            while self.pongs:
                self.pongs.popleft().set()
        self.soak.on_close(self, why)


# ---------------------------------------------------------------------------
# nodes

class Node:
    def __init__(self, soak, name, binary, gnatsd, max_pending=None, workers=None):
        self.soak = soak
        self.name = name
        self.bin = binary
        self.gnatsd = gnatsd
        self.max_pending = max_pending
        self.workers = workers
        self.port, self.cport, self.mport = free_port(), free_port(), free_port()
        self.conf = os.path.join(soak.dir, "%s.conf" % name)
        self.instance = 0
        self.proc = None
        self.dying = False
        self.ready = False
        self.ctl = None
        self.instances = []  # dicts: n, log, start, end, rc, rss [(t, kB)], how
        self.sighups = []    # times SIGHUP was sent
        self.render_lock = threading.Lock()
        self.dropped = set()  # peers left out of routes (route-drop event)
        self.peers = []

    def render(self, version):
        pub_deny = ' deny: ["soak.toggle"]' if version % 2 == 0 else ""
        sub_deny = '"soak.secret.>"' + (', "soak.d.nope"' if version % 2 else "")
        # R dials nobody: every route to it is solicited by a gnatsd node, so a
        # gnatsd node that drops R from its routes closes the connection itself
        peers = [] if not self.gnatsd else [p for p in self.peers if p.name not in self.dropped]
        routes = ", ".join('"nats://127.0.0.1:%d"' % p.cport for p in peers)
        text = """# soak node %s, permissions version %d
server_name: "soak-%s"
listen: "127.0.0.1:%d"
http: "127.0.0.1:%d"
%s
authorization {
  users = [
    {user: soak, password: soakpw}
    {user: perm, password: permpw, permissions: {
      publish: {allow: ["soak.>", "_INBOX.>"]%s}
      subscribe: {allow: ["soak.>", "_INBOX.>"], deny: [%s]}
    }}
  ]
}
cluster {
  name: soak
  listen: "127.0.0.1:%d"
  routes: [%s]
}
""" % (self.name, version, self.name, self.port, self.mport,
            "max_pending: %d" % self.max_pending if self.max_pending else "",
            "," + pub_deny if pub_deny else "", sub_deny, self.cport, routes)
        with self.render_lock:  # the reload thread and a restart both write it
            tmp = self.conf + ".tmp"
            with open(tmp, "w") as f:
                f.write(text)
            os.rename(tmp, self.conf)

    def log_path(self, n=None):
        return os.path.join(self.soak.dir, "%s.%d.log" % (self.name, n or self.instance))

    def log_text(self, n=None):
        try:
            with open(self.log_path(n), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def start(self):
        self.instance += 1
        env = dict(os.environ)
        if self.gnatsd:
            env.update(SAN_ENV)
        logf = open(self.log_path(), "wb")
        args = ["--workers", str(self.workers)] if self.workers else []
        self.proc = subprocess.Popen([self.bin, "-c", self.conf] + args, stdin=subprocess.DEVNULL,
                                     stdout=logf, stderr=subprocess.STDOUT, cwd=self.soak.dir, env=env)
        logf.close()
        inst = {"n": self.instance, "start": now(), "end": None, "rc": None, "rss": [], "how": None}
        self.instances.append(inst)
        for p in (self.port, self.cport, self.mport):
            if not wait_own_port(self.proc, p, 30):
                raise RuntimeError("%s did not listen on %d; log:\n%s"
                                   % (self.name, p, self.log_text()[-3000:]))

    def cpu_seconds(self):
        try:
            with open("/proc/%d/stat" % self.proc.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return None

    def stop(self, sig, how):
        """Signal the process, wait for it, check its exit and its log."""
        inst = self.instances[-1]
        inst["how"] = how
        inst["cpu"] = self.cpu_seconds()
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            BOOK.fail("shutdown", "%s.%d did not exit within 60 s of %s" % (self.name, self.instance, how))
            self.proc.kill()
            rc = self.proc.wait(10)
        inst["rc"] = rc
        inst["end"] = now()
        if sig != signal.SIGKILL and rc not in (0, 1):
            BOOK.fail("exit-status", "%s.%d exited with %s after %s" % (self.name, self.instance, rc, how))
        m = SAN_RE.search(self.log_text())
        if m:
            BOOK.fail("sanitizer", "%s.%d log: %s" % (self.name, self.instance, m.group(0)))
        return rc

    def routes(self):
        try:
            return http_json(self.mport, "/varz", timeout=5)["routes"]
        except Exception:
            return -1

    def rss_kb(self):
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return None


# ---------------------------------------------------------------------------
# publishers, subscribers, queue members, requesters

SUBJECT_FMT = {"plain": b"soak.d.%d", "hdr": b"soak.h.%d", "big": b"soak.big.%d", "queue": b"soak.q.%d"}


class Publisher:
    """Publishes batches at `rate` msgs/s, each batch followed by PING; the
    PONG confirms the batch (and paces the publisher)."""

    def __init__(self, soak, node, cls, rate, user="soak", count=None, name=None):
        self.soak = soak
        self.node = node
        self.cls = cls
        self.rate = rate
        self.count = count
        self.pid = soak.new_id()
        self.subject = SUBJECT_FMT[cls] % self.pid
        self.lock = threading.Lock()
        self.assigned = 0
        self.confirmed = 0
        self.final = None
        self.ended = None     # "self" (left by itself), "end", "killed", "lost"
        self.batch_seq = []   # first seq of each batch
        self.batch_t = []     # its assignment time
        self.start_t = now()
        self.inject = False
        if INJECT and cls == "plain" and not soak.injected:
            soak.injected = self.inject = True
        self.conn = Conn(soak, node, name or "pub-%s-%d" % (cls, self.pid), user=user)
        self.conn.role = self
        soak.add_pub(self)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def assigned_time(self, seq):
        i = bisect.bisect_right(self.batch_seq, seq) - 1
        return self.batch_t[max(i, 0)] if self.batch_t else 0.0

    def run(self):
        tick = 0.05 if self.cls != "big" else max(0.2, 1.0 / self.rate)
        credit = 0.0
        sent = 0
        try:
            while not self.soak.stopping:
                t = time.monotonic()
                credit += self.rate * tick
                n = int(credit)
                if self.count is not None:
                    n = min(n, self.count - sent)
                if n > 0:
                    credit -= n
                    with self.lock:
                        first = self.assigned + 1
                        self.assigned += n
                        self.batch_seq.append(first)
                        self.batch_t.append(now())
                    seqs = list(range(first, first + n))
                    if self.inject and first <= 100 < first + n:
                        seqs.remove(100) if INJECT == "gap" else seqs.insert(0, 100)
                    data = b"".join(frame(self.cls, self.subject, self.pid, s) for s in seqs)
                    if not self.conn.flush(60, data):
                        break
                    with self.lock:
                        self.confirmed = first + n - 1
                    BOOK.add("pub." + self.cls, n)
                    sent += n
                if self.count is not None and sent >= self.count:
                    self.ended = "self"
                    break
                time.sleep(max(0.0, tick - (time.monotonic() - t)))
        except OSError:
            self.conn.thread.join(10)  # the reader sees the close too
        if self.ended is None and self.soak.stopping and not self.conn.closed:
            self.ended = "end"
        if self.ended in ("self", "end"):
            with self.lock:
                self.final = self.confirmed
            self.conn.close()
        elif not self.conn.closed:
            # the PONG never came: a stalled publisher
            BOOK.fail("stall", "%s on %s: no PONG for 60 s" % (self.conn.name, self.node.name))
            self.ended = "lost"
            self.conn.close()


class Sub:
    """One subscription (a sid on a connection) of class plain/hdr/big."""

    def __init__(self, soak, conn, cls, subject, kind):
        self.soak = soak
        self.conn = conn
        self.node = conn.node
        self.cls = cls
        self.subject = subject
        self.kind = kind
        self.sid = b"%d" % soak.new_id()
        self.got = {}          # pid -> [first, last, count]
        self.lower = None      # pid -> lower bound (I2), taken when the SUB is confirmed
        self.hi = {}           # pid -> I3 bound of a same-node UNSUB leave
        self.left = None       # "unsub", "abrupt", "killed", "end", "lost"
        self.unsub_done = False
        conn.handlers[self.sid] = self.on_msg
        soak.add_sub(self)

    def on_msg(self, subject, reply, hdr, payload):
        if self.unsub_done:
            BOOK.fail("after-unsub", "%s on %s: message on %r for sid %s after its UNSUB's PONG"
                      % (self.conn.name, self.node.name, subject, self.sid.decode()))
            return
        d = decode(self.cls, hdr, payload)
        if d is None:
            BOOK.fail("corrupt", "%s: %s message on %r does not match what was sent (%d bytes)"
                      % (self.conn.name, self.cls, subject, len(payload)))
            return
        pid, seq = d
        BOOK.add("recv." + self.cls)
        g = self.got.get(pid)
        if g is None:
            self.got[pid] = [seq, seq, 1]
            return
        if seq != g[1] + 1:
            what = "duplicate/reorder" if seq <= g[1] else "gap"
            pub = self.soak.pubs.get(pid)
            if what == "gap" and pub is not None and self.soak.route_excused(
                    pub.node, self.node, pub.assigned_time(g[1] + 1), pub.assigned_time(seq - 1)):
                BOOK.add("gap-excused-route", seq - g[1] - 1)
                g[1] = seq
                g[2] += 1
                return
            BOOK.fail("I1-" + what, "sub %s (%s on %s, %s) from pid %d (%s on %s): seq %d after %d"
                      % (self.sid.decode(), self.subject.decode(), self.node.name, self.conn.name, pid,
                         pub.conn.name if pub else "?", pub.node.name if pub else "?", seq, g[1]))
            if seq <= g[1]:
                return
        g[1] = seq
        g[2] += 1


class QueueGroup:
    """Delivery bookkeeping for one queue group over all its members."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seen = {}   # pid -> bytearray, 1 where delivered

    def mark(self, pid, seq, where):
        with self.lock:
            b = self.seen.setdefault(pid, bytearray())
            if len(b) <= seq:
                b.extend(bytes(seq + 1024 - len(b)))
            if b[seq]:
                BOOK.fail("queue-duplicate", "pid %d seq %d delivered twice (now to %s)" % (pid, seq, where))
                return False
            b[seq] = 1
            return True


class QueueMember:
    def __init__(self, soak, conn, group, kind):
        self.soak = soak
        self.conn = conn
        self.node = conn.node
        self.kind = kind
        self.group = group
        self.sid = b"%d" % soak.new_id()
        self.last = {}
        self.unsub_done = False
        self.left = None
        conn.handlers[self.sid] = self.on_msg

    def on_msg(self, subject, reply, hdr, payload):
        if self.unsub_done:
            BOOK.fail("after-unsub", "%s on %s: queue message on %r after its UNSUB's PONG"
                      % (self.conn.name, self.node.name, subject))
            return
        d = decode("queue", hdr, payload)
        if d is None:
            BOOK.fail("corrupt", "%s: queue message on %r does not match" % (self.conn.name, subject))
            return
        pid, seq = d
        BOOK.add("recv.queue")
        if seq <= self.last.get(pid, 0):
            pub = self.soak.pubs.get(pid)
            if pub is not None and self.soak.excused(pub.assigned_time(seq)):
                BOOK.add("queue-reorder-excused")
            else:
                BOOK.fail("queue-reorder", "member on %s: pid %d (on %s) seq %d after %d"
                          % (self.node.name, pid, pub.node.name if pub else "?", seq, self.last[pid]))
        self.last[pid] = seq
        self.group.mark(pid, seq, self.node.name)


class Responder:
    def __init__(self, soak, node):
        self.conn = Conn(soak, node, "responder-%s" % node.name, headers=False)
        self.conn.handlers[b"1"] = self.on_msg
        self.conn.send(b"SUB soak.svc svc 1\r\n")
        self.tag = node.name.encode()

    def on_msg(self, subject, reply, hdr, payload):
        if reply is None:
            BOOK.fail("req", "request without reply subject")
            return
        p = payload + b" by " + self.tag
        try:
            self.conn.send(b"PUB %s %d\r\n%s\r\n" % (reply, len(p), p))
        except OSError:
            pass
        BOOK.add("req.served")


class Requester:
    def __init__(self, soak, node, rate):
        self.soak = soak
        self.node = node
        self.rate = rate
        self.rid = soak.new_id()
        self.inbox = b"_INBOX.soak%d" % self.rid
        self.sent_t = [0.0]         # index n -> time request n was sent
        self.replied = bytearray(1)
        self.confirmed = 0
        self.ended = None
        self.lock = threading.Lock()
        self.conn = Conn(soak, node, "requester-%d" % self.rid, headers=False)
        self.conn.role = self
        self.conn.handlers[b"1"] = self.on_reply
        self.conn.send(b"SUB %s.* 1\r\n" % self.inbox)
        soak.requesters.append(self)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def on_reply(self, subject, reply, hdr, payload):
        try:
            n = int(subject.rsplit(b".", 1)[1])
            ok = payload.startswith(b"req %d %d by " % (self.rid, n))
        except ValueError:
            ok = False
        if not ok:
            BOOK.fail("req", "bad reply %r %r" % (subject, payload[:60]))
            return
        with self.lock:
            if self.replied[n]:
                BOOK.fail("req-duplicate", "requester %d: request %d answered twice" % (self.rid, n))
                return
            self.replied[n] = 1
        BOOK.add("req.replies")

    def run(self):
        tick = 0.05
        credit = 0.0
        try:
            while not self.soak.stopping:
                t = time.monotonic()
                credit += self.rate * tick
                n = int(credit)
                if n > 0:
                    credit -= n
                    parts = []
                    with self.lock:
                        for _ in range(n):
                            k = len(self.sent_t)
                            self.sent_t.append(now())
                            self.replied.append(0)
                            p = b"req %d %d" % (self.rid, k)
                            parts.append(b"PUB soak.svc %s.%d %d\r\n%s\r\n" % (self.inbox, k, len(p), p))
                    last = len(self.sent_t) - 1
                    if not self.conn.flush(60, b"".join(parts)):
                        break
                    self.confirmed = last
                    BOOK.add("req.sent", n)
                time.sleep(max(0.0, tick - (time.monotonic() - t)))
        except OSError:
            self.conn.thread.join(10)
        if self.soak.stopping and not self.conn.closed:
            self.ended = "end"
        elif not self.conn.closed:
            BOOK.fail("stall", "requester %d on %s: no PONG for 60 s" % (self.rid, self.node.name))
            self.ended = "lost"
            self.conn.close()


# ---------------------------------------------------------------------------
# the run

class Soak:
    def __init__(self):
        self.dir = os.environ.get("SOAK_DIR") or os.path.join(
            REPO_ROOT, "build", "soak", time.strftime("run-%Y%m%d-%H%M%S"))
        os.makedirs(self.dir, exist_ok=True)
        self.rng = random.Random(SEED)
        self.lock = threading.Lock()
        self.ids = 0
        self.stopping = False
        self.conns = []
        self.pubs = {}
        self.subs = []
        self.qmembers = []
        self.requesters = []
        self.qgroup = QueueGroup()
        self.events = []          # dicts: node, how, kill, ready
        self.perm_version = 0
        self.reloads = 0
        self.reload_checks = 0
        self.slow = []            # dicts: node, inst, cid, port, created, cut
        self.churn_threads = []
        self.injected = False
        self.a = Node(self, "A", GNATSD, True, workers=A_WORKERS)
        self.b = Node(self, "B", GNATSD, True, max_pending=MAX_PENDING)
        self.r = Node(self, "R", REFERENCE, False)
        self.nodes = [self.a, self.b, self.r]
        for n in self.nodes:
            n.peers = [p for p in self.nodes if p is not n]

    # -- registry ------------------------------------------------------------
    def new_id(self):
        with self.lock:
            self.ids += 1
            return self.ids

    def register(self, conn):
        with self.lock:
            self.conns.append(conn)

    def add_pub(self, p):
        with self.lock:
            self.pubs[p.pid] = p

    def add_sub(self, s):
        with self.lock:
            self.subs.append(s)

    def snapshot(self, attr):
        with self.lock:
            pubs = list(self.pubs.values())
        out = {}
        for p in pubs:
            with p.lock:
                out[p.pid] = getattr(p, attr)
        return out

    def killed(self, conn):
        n = conn.node
        return n.dying or n.instance != conn.instance

    def reload_race(self, conn):
        """The reference re-runs authorization on every client at a reload,
        also on one whose CONNECT it has not processed yet, and refuses it
        (server/reload.go reloadAuthorization). Such a connection (created at
        most 2 s before a SIGHUP to its node, refused with Authorization
        Violation) is counted, not a violation."""
        if not any(b"Authorization Violation" in e for e in conn.errs):
            return False
        return any(conn.created <= t <= conn.created + 2 for t in conn.node.sighups)

    def on_err(self, conn, line):
        if getattr(conn, "checker", False) and b"Permissions Violation" in line:
            return
        if self.reload_race(conn):
            BOOK.add("reload-auth-race." + conn.node.name)
            return
        BOOK.fail("err", "%s on %s got %s" % (conn.name, conn.node.name, line.decode("utf-8", "replace")))

    @staticmethod
    def mark_ended(conn, role, how):
        """The connection's publisher/requester and subscriptions ended for an
        expected reason (how), not by a server fault."""
        if isinstance(role, (Publisher, Requester)) and role.ended is None:
            role.ended = how
        for s in getattr(conn, "subs", ()):
            if s.left is None:
                s.left = how

    def on_close(self, conn, why):
        role = getattr(conn, "role", None)
        if conn.expected_close:
            return
        if self.killed(conn):
            self.mark_ended(conn, role, "killed")
            return
        if self.stopping and conn.node.dying:
            return
        if self.reload_race(conn):
            self.mark_ended(conn, role, "lost")
            return
        BOOK.fail("unexpected-close", "%s (cid %s) on %s closed by the server: %s; errs %r"
                  % (conn.name, conn.cid, conn.node.name, why, conn.errs[-2:]))
        if isinstance(role, (Publisher, Requester)) and role.ended is None:
            role.ended = "lost"
        for s in getattr(conn, "subs", ()):
            if s.left is None:
                s.left = "lost"

    # -- subscriptions -------------------------------------------------------
    def subscribe(self, conn, specs):
        """specs: list of (cls, subject[, queue]) on one connection; returns
        the Sub/QueueMember objects once the server confirmed them."""
        objs = []
        lines = []
        for spec in specs:
            if spec[0] == "queue":
                m = QueueMember(self, conn, self.qgroup, conn.kind)
                objs.append(m)
                lines.append(b"SUB %s %s %s\r\n" % (spec[1], spec[2], m.sid))
                with self.lock:
                    self.qmembers.append(m)
            else:
                s = Sub(self, conn, spec[0], spec[1], conn.kind)
                objs.append(s)
                lines.append(b"SUB %s %s\r\n" % (spec[1], s.sid))
        conn.subs = objs
        if not conn.flush(30, b"".join(lines)):
            raise Closed("%s: SUB not confirmed" % conn.name)
        lower = self.snapshot("assigned")
        for o in objs:
            if isinstance(o, Sub):
                o.lower = lower
        return objs

    def leave(self, conn, how):
        """Churn leave: UNSUB + PING/PONG drain, or an abrupt close."""
        subs = getattr(conn, "subs", [])
        if how == "unsub":
            hi = self.snapshot("confirmed")
            for s in subs:
                if isinstance(s, Sub):
                    s.hi = hi
            data = b"".join(b"UNSUB %s\r\n" % s.sid for s in subs)
            if conn.flush(30, data):
                for s in subs:
                    s.unsub_done = True
                    if s.left is None:
                        s.left = "unsub"
            elif not conn.closed:
                BOOK.fail("stall", "%s: UNSUB not confirmed in 30 s" % conn.name)
        conn.close()
        for s in subs:
            if s.left is None:
                s.left = "abrupt"

    # -- node setup ----------------------------------------------------------
    def ctl_conn(self, node):
        node.ctl = Conn(self, node, "ctl-%s" % node.name, headers=False)
        node.ctl.kind = "ctl"
        if not node.ctl.flush(10):
            raise RuntimeError("ctl connection to %s failed" % node.name)

    def sync_interest(self, srcs, dsts, timeout=60):
        """For each dst: a fresh probe subscription made now travels each
        route after every subscription dst had before; each src publishes to
        it until it arrives, which proves src has dst's earlier interest."""
        for y in dsts:
            sid = b"%d" % self.new_id()
            subj = b"soak.probe.%s.%s" % (y.name.encode(), sid)
            got = set()
            y.ctl.handlers[sid] = lambda s, r, h, p, got=got: got.add(p)
            if not y.ctl.flush(10, b"SUB %s %s\r\n" % (subj, sid)):
                raise RuntimeError("probe SUB on %s failed" % y.name)
            for x in srcs:
                if x is y:
                    continue
                deadline = time.monotonic() + timeout
                tag = x.name.encode()
                while tag not in got:
                    if time.monotonic() > deadline:
                        raise RuntimeError("interest of %s never reached %s" % (y.name, x.name))
                    x.ctl.flush(10, b"PUB %s %d\r\n%s\r\n" % (subj, len(tag), tag))
                    time.sleep(0.1)
            y.ctl.send(b"UNSUB %s\r\n" % sid)

    def wait_mesh(self, new=None, timeout=60):
        alive = [n for n in self.nodes if not n.dying or n is new]
        deadline = time.monotonic() + timeout
        while True:
            counts = [n.routes() for n in alive]
            if all(c >= len(alive) - 1 for c in counts):
                return
            if time.monotonic() > deadline:
                raise RuntimeError("route mesh not formed: %s" % dict(zip([n.name for n in alive], counts)))
            time.sleep(0.2)

    def anchors(self, node):
        """Long-lived subscriptions on node, before anything is published there."""
        c = Conn(self, node, "anchor-%s" % node.name)
        c.kind = "anchor"
        self.subscribe(c, [("plain", b"soak.d.*"), ("plain", b"soak.d.>"), ("hdr", b"soak.h.*"),
                           ("big", b"soak.big.*")])
        q = Conn(self, node, "qanchor-%s" % node.name, headers=False)
        q.kind = "anchor"
        self.subscribe(q, [("queue", b"soak.q.*", b"workers")])
        p = Conn(self, node, "perm-sub-%s" % node.name, user="perm", headers=False)
        p.kind = "anchor"
        self.subscribe(p, [("plain", b"soak.d.*")])
        node.perm_sub = p
        for _ in range(2):
            Responder(self, node)

    def traffic(self, node):
        """Long-lived publishers and the rest, once interest is in place."""
        r = RATE
        Publisher(self, node, "plain", 90 * r)
        Publisher(self, node, "plain", 60 * r)
        Publisher(self, node, "plain", 40 * r, user="perm", name="perm-pub-%s" % node.name)
        Publisher(self, node, "hdr", 60 * r)
        Publisher(self, node, "queue", 60 * r)
        Publisher(self, node, "big", (1.0 if node.gnatsd else 0.5) * r)
        Requester(self, node, 30 * r)
        c = Conn(self, node, "perm-check-%s" % node.name, user="perm", headers=False)
        c.checker = True
        c.kind = "checker"
        node.checker = c

    def bring_up(self, node):
        """(Re)start node and make it a full member again."""
        node.render(self.perm_version)
        node.start()
        self.wait_mesh(node)
        self.ctl_conn(node)
        others = [n for n in self.nodes if n is not node and not n.dying]
        self.sync_interest([node], others)
        self.anchors(node)
        self.sync_interest(others, [node])
        # I2's lower bound for these subscriptions: the other nodes have their
        # interest only from now on (the SUB's own PONG proves it for this node only)
        lower = self.snapshot("assigned")
        for s in list(self.subs):
            if s.node is node and s.conn.instance == node.instance and s.kind == "anchor":
                s.lower = lower
        node.dying = False
        self.traffic(node)
        node.ready = True

    # -- background activities -----------------------------------------------
    def loop(self, fn, period):
        def run():
            while not self.stopping:
                try:
                    fn()
                except Exception as e:  # a churn client that met a restart
                    if not self.stopping:
                        BOOK.add("loop-errors." + fn.__name__)
                        if not isinstance(e, (OSError, Closed)):
                            BOOK.fail("driver", "%s: %r" % (fn.__name__, e))
                time.sleep(period)
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def pick_node(self):
        ready = [n for n in self.nodes if n.ready and not n.dying]
        return self.rng.choice(ready) if ready else None

    def churn_once(self):
        self.churn_threads = [t for t in self.churn_threads if t.is_alive()]
        if len(self.churn_threads) >= 8:
            return
        node = self.pick_node()
        if node is None:
            return
        x = self.rng.random()
        if x < 0.35:
            fn = self.churn_sub
        elif x < 0.6:
            fn = self.churn_pub
        elif x < 0.72:
            fn = self.churn_queue
        elif x < 0.82:
            fn = self.churn_interest
        else:
            fn = self.churn_bare
        t = threading.Thread(target=self.guard, args=(fn, node, self.rng.random()), daemon=True)
        t.start()
        self.churn_threads.append(t)

    def guard(self, fn, node, x):
        try:
            fn(node, x)
            BOOK.add("churn." + fn.__name__[6:])
        except (OSError, Closed):
            if not (node.dying or self.stopping):
                BOOK.add("churn-errors")
        except Exception as e:
            BOOK.fail("driver", "%s: %r" % (fn.__name__, e))

    def churn_sub(self, node, x):
        c = Conn(self, node, "churn-sub-%d" % self.new_id())
        c.kind = "churn"
        specs = [("plain", b"soak.d.*")] if x < 0.5 else [("plain", b"soak.d.>"), ("hdr", b"soak.h.*")]
        self.subscribe(c, specs)
        time.sleep(1 + 5 * self.rng.random())
        self.leave(c, "unsub" if self.rng.random() < 0.7 else "abrupt")

    def churn_pub(self, node, x):
        Publisher(self, node, "plain", 200 * RATE, count=20 + int(180 * x)).thread.join(120)

    def churn_queue(self, node, x):
        c = Conn(self, node, "churn-q-%d" % self.new_id(), headers=False)
        c.kind = "churn"
        self.subscribe(c, [("queue", b"soak.q.*", b"workers")])
        time.sleep(1 + 5 * x)
        self.leave(c, "unsub")

    def churn_interest(self, node, x):
        """Subscribes to 200 subjects of its own and drops them again (half by
        UNSUB, the rest with the connection): RS+/RS- bursts on every route."""
        c = Conn(self, node, "churn-interest-%d" % self.new_id(), headers=False)
        c.kind = "churn"
        base = self.new_id()
        subs = b"".join(b"SUB soak.u.%d.%d.%s %d\r\n" % (base, i, b"*" if i % 3 == 0 else b"x", i + 1)
                        for i in range(200))
        if not c.flush(30, subs):
            raise Closed("interest SUBs not confirmed")
        time.sleep(0.5 + x)
        if not c.flush(30, b"".join(b"UNSUB %d\r\n" % (i + 1) for i in range(0, 200, 2))):
            raise Closed("interest UNSUBs not confirmed")
        c.close()

    def churn_bare(self, node, x):
        s = socket.create_connection((HOST, node.port), timeout=10)
        try:
            s.recv(4096)
            if x < 0.6:
                s.sendall(b'CONNECT {"verbose":false,"user":"soak","pass":"soakpw"}\r\nPING\r\n')
                if x < 0.3:
                    buf = b""
                    while b"PONG" not in buf:
                        d = s.recv(4096)
                        if not d:
                            break
                        buf += d
        finally:
            s.close()

    def reload_once(self):
        self.perm_version += 1
        v = self.perm_version
        for n in self.nodes:
            n.render(v)
        targets = [n for n in self.nodes if n.ready and not n.dying and n.name in RELOAD_NODES]
        for n in targets:
            try:
                n.sighups.append(now())
                n.proc.send_signal(signal.SIGHUP)
            except OSError:
                pass
        self.reloads += 1
        denied = v % 2 == 0
        for n in targets:
            c = getattr(n, "checker", None)
            if c is None or c.closed:
                continue
            deadline = time.monotonic() + 10
            while True:
                before = len(c.errs)
                if not c.flush(10, b"PUB soak.toggle 1\r\nx\r\n"):
                    break
                if (len(c.errs) > before) == denied:
                    self.reload_checks += 1
                    break
                if n.dying or self.stopping:
                    break
                if time.monotonic() > deadline:
                    BOOK.fail("reload", "%s: permissions version %d not applied to a connected client "
                              "within 10 s" % (n.name, v))
                    break
                time.sleep(0.2)

    def reconnect_once(self):
        """The `perm` subscriber sends CONNECT again while it receives: each one
        re-applies its permissions under delivery (the path of issue #11 #1)."""
        for n in self.nodes:
            c = getattr(n, "perm_sub", None)
            if n.ready and not n.dying and c is not None and not c.closed:
                c.send(c.connect_line)
                BOOK.add("reconnects")

    def slow_once(self):
        node = self.b
        if not node.ready or node.dying:
            return
        cur = self.slow[-1] if self.slow else None
        if cur and cur["inst"] == node.instance and cur["cut"] is None:
            if re.search(r"- cid:%d - .*Slow Consumer Detected" % cur["cid"], node.log_text()):
                cur["cut"] = now()
                say("slow consumer cid %d on B cut after %.1f s" % (cur["cid"], cur["cut"] - cur["created"]))
                cur["conn"].close()
            elif now() - cur["created"] > 60:
                BOOK.fail("slow-not-cut", "slow consumer cid %d on B not cut within 60 s" % cur["cid"])
                cur["cut"] = -1
            return
        if cur and cur["inst"] == node.instance and cur["cut"] is not None and now() - cur["cut"] < 20:
            return
        c = Conn(self, node, "slow-consumer", rcvbuf=16384, start_reader=False)
        c.expected_close = True
        c.send(b"SUB soak.big.* 1\r\nSUB soak.d.* 2\r\n")
        self.slow.append({"node": "B", "inst": node.instance, "cid": c.cid, "port": c.local_port,
                          "created": now(), "cut": None, "conn": c})

    def sample_rss(self):
        for n in (self.a, self.b):
            if n.proc is not None and n.proc.poll() is None and not n.dying:
                kb = n.rss_kb()
                if kb:
                    n.instances[-1]["rss"].append((now(), kb))

    def watch_crash(self):
        for n in self.nodes:
            if n.proc is not None and not n.dying and n.proc.poll() is not None:
                BOOK.fail("crash", "%s.%d died (exit %s); log tail:\n%s"
                          % (n.name, n.instance, n.proc.returncode, n.log_text()[-4000:]))
                n.dying = True
                n.ready = False
                self.crashed = True

    def progress(self):
        c = BOOK.count
        say("pub %d recv %d | queue %d/%d | req %d/%d | events %d reloads %d | RSS A %s B %s | violations %d"
            % (sum(v for k, v in c.items() if k.startswith("pub.")),
               sum(v for k, v in c.items() if k.startswith("recv.")),
               c["recv.queue"], c["pub.queue"], c["req.replies"], c["req.sent"],
               len(self.events), self.reloads,
               self._rss_now(self.a), self._rss_now(self.b), sum(BOOK.violations.values())))

    @staticmethod
    def _rss_now(n):
        s = n.instances[-1]["rss"] if n.instances else []
        return "%.1fM" % (s[-1][1] / 1024) if s else "-"

    # -- failure injection ---------------------------------------------------
    def restart(self, node, sig, how):
        ev = {"node": node.name, "how": how, "kill": now(), "ready": None}
        self.events.append(ev)
        node.ready = False
        node.dying = True
        say("%s: %s" % (node.name, how))
        node.stop(sig, how)
        time.sleep(1.0 + self.rng.random() * 2)
        self.bring_up(node)
        ev["ready"] = now()
        say("%s back: ready %.1f s after the kill" % (node.name, ev["ready"] - ev["kill"]))

    def route_drop(self, node, peer):
        """node (gnatsd) reloads without peer in its routes and so closes the
        route itself under traffic; 2-4 s later it reloads with it again and
        dials it. Pairs across that route may lose what was sent meanwhile."""
        ev = {"node": "%s-%s" % (node.name, peer.name), "route": {node.name, peer.name},
              "how": "reload %s without its route to %s, then with it" % (node.name, peer.name),
              "kill": now(), "ready": None}
        self.events.append(ev)
        say("%s: drops its route to %s by reload" % (node.name, peer.name))
        removed = len(re.findall(r"Removed route", node.log_text()))
        node.dropped.add(peer.name)
        node.render(self.perm_version)
        node.sighups.append(now())
        node.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while len(re.findall(r"Removed route", node.log_text())) == removed:
            if time.monotonic() > deadline:
                raise RuntimeError("%s never logged Removed route" % node.name)
            time.sleep(0.1)
        down = False
        while time.monotonic() < deadline and not down:
            down = node.routes() == len(node.peers) - 1
            time.sleep(0.1)
        ev["down_seen"] = down
        time.sleep(2.0 + 2 * self.rng.random())
        node.dropped.discard(peer.name)
        node.render(self.perm_version)
        node.sighups.append(now())
        node.proc.send_signal(signal.SIGHUP)
        self.wait_mesh()
        self.sync_interest([node, peer], [node, peer])
        ev["ready"] = now()
        say("route %s-%s back (%s): ready %.1f s after the drop"
            % (node.name, peer.name, "was down" if down else "DOWN NOT SEEN", ev["ready"] - ev["kill"]))

    # -- main ----------------------------------------------------------------
    def run(self):
        say("dir %s seed %d duration %.0fs rate x%.2f events every %.0fs; gnatsd %s, reference %s"
            % (self.dir, SEED, DURATION, RATE, EVENT_EVERY, GNATSD, REFERENCE))
        self.crashed = False
        for n in self.nodes:
            n.render(self.perm_version)
        for n in self.nodes:
            n.start()
        self.wait_mesh()
        for n in self.nodes:
            self.ctl_conn(n)
        for n in self.nodes:
            self.anchors(n)
        self.sync_interest(self.nodes, self.nodes)
        for n in self.nodes:
            self.traffic(n)
            n.ready = True
        say("cluster up, traffic started")
        self.loop(self.churn_once, 0.4)
        self.loop(self.reload_once, RELOAD_EVERY)
        self.loop(self.slow_once, 1.0)
        self.loop(self.reconnect_once, RECONNECT_EVERY)
        self.loop(self.sample_rss, 2.0)
        self.loop(self.watch_crash, 0.5)
        self.loop(self.progress, 30.0)
        end = DURATION
        next_event = EVENT_EVERY
        b_done = False
        k = 0
        while now() < end and not self.crashed:
            if now() >= next_event and now() + 20 < end:
                try:
                    if not b_done and now() >= DURATION / 4:
                        b_done = True
                        self.restart(self.b, signal.SIGTERM, "SIGTERM gnatsd B (restart)")
                    else:
                        k += 1
                        if k % 3 == 1:
                            self.restart(self.r, signal.SIGKILL, "SIGKILL reference R (restart)")
                        elif k % 3 == 2:
                            self.route_drop(self.a, self.r)
                        else:
                            self.restart(self.r, signal.SIGTERM, "SIGTERM reference R (restart)")
                except RuntimeError as e:
                    BOOK.fail("restart", str(e))
                    break
                next_event = now() + EVENT_EVERY
            time.sleep(0.2)
        return self.finish()

    def finish(self):
        say("stopping load")
        self.stop_t = now()
        self.stopping = True
        pubs = list(self.pubs.values())
        for p in pubs:
            p.thread.join(90)
        for r in self.requesters:
            r.thread.join(90)
        for t in self.churn_threads:
            t.join(30)
        self.drain()
        self.check_pairs()
        self.check_queue()
        self.check_requests()
        self.check_slow()
        for n in self.nodes:
            n.dying = True
        for c in list(self.conns):
            c.expected_close = True
        for n in self.nodes:
            if n.proc is not None and n.proc.poll() is None:
                n.stop(signal.SIGTERM, "SIGTERM at the end")
            elif n.instances and n.instances[-1]["rc"] is None:
                n.instances[-1]["rc"] = n.proc.returncode
                n.instances[-1]["end"] = now()
        self.check_logs()
        self.check_rss()
        return self.summary()

    def i3_bound(self, s, p):
        if s.left == "unsub" and s.node is p.node:
            return s.hi.get(p.pid, 0)
        if s.left == "end" and p.ended in ("self", "end"):
            return p.final or 0
        return None

    def drain(self, timeout=60):
        for s in self.subs:
            if s.left is None:
                s.left = "end"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            missing = 0
            for s in self.subs:
                if s.lower is None:
                    continue
                for p in list(self.pubs.values()):
                    if not _matches(s, p):
                        continue
                    hi = self.i3_bound(s, p)
                    if hi and hi >= s.lower.get(p.pid, 0) + 1:
                        g = s.got.get(p.pid)
                        if g is None or g[1] < hi:
                            frm = s.lower.get(p.pid, 0) + 1 if g is None else g[1] + 1
                            if not self.route_excused(p.node, s.node, p.assigned_time(frm), p.assigned_time(hi)):
                                missing += 1
            if not missing:
                break
            time.sleep(0.5)
        time.sleep(1.0)

    def route_excused(self, a, b, t0, t1):
        """Were messages assigned in [t0, t1] between nodes a and b inside one
        window in which their route was dropped (route-drop event)?"""
        for ev in self.events:
            if ev.get("route") != {a.name, b.name}:
                continue
            ready = ev["ready"] if ev["ready"] is not None else float("inf")
            if ev["kill"] - SLACK <= t0 and t1 <= ready:
                return True
        return False

    def excused(self, t):
        for ev in self.events:
            ready = ev["ready"] if ev["ready"] is not None else float("inf")
            if ev["kill"] - SLACK <= t <= ready:
                return True
        return False

    def check_pairs(self):
        checked = 0
        for s in self.subs:
            if s.lower is None:
                continue
            for p in list(self.pubs.values()):
                if not _matches(s, p):
                    continue
                lower = s.lower.get(p.pid, 0) + 1
                g = s.got.get(p.pid)
                if g is not None and g[0] > lower and self.route_excused(
                        p.node, s.node, p.assigned_time(lower), p.assigned_time(g[0] - 1)):
                    lower = g[0]
                if g is not None and g[1] >= lower and g[0] > lower:
                    BOOK.fail("I2-missed-start", "sub %s (%s on %s, %s) from pid %d (on %s): first seq %d, "
                              "lower bound %d" % (s.sid.decode(), s.subject.decode(), s.node.name, s.kind,
                                                  p.pid, p.node.name, g[0], lower))
                hi = self.i3_bound(s, p)
                if hi is not None and hi >= lower:
                    # what is missing at the end (or all of it) may fall in a route-drop window
                    miss_from = lower if g is None else g[1] + 1
                    if miss_from <= hi and self.route_excused(p.node, s.node, p.assigned_time(miss_from),
                                                              p.assigned_time(hi)):
                        BOOK.add("gap-excused-route", hi - miss_from + 1)
                        hi = miss_from - 1
                if hi is not None and hi >= lower:
                    checked += hi - lower + 1
                    if g is None or g[1] < hi or g[0] > lower:
                        BOOK.fail("I3-missed-end", "sub %s (%s on %s, %s, left %s) from pid %d (on %s, %s): "
                                  "got %s, expected [%d, %d]"
                                  % (s.sid.decode(), s.subject.decode(), s.node.name, s.kind, s.left, p.pid,
                                     p.node.name, p.ended, g[:2] if g else None, lower, hi))
        self.checked = checked

    def check_queue(self):
        lost = excused = 0
        for p in self.pubs.values():
            if p.cls != "queue":
                continue
            seen = self.qgroup.seen.get(p.pid, bytearray())
            top = p.final if p.ended in ("self", "end") else max(
                (i for i in range(len(seen) - 1, 0, -1) if seen[i]), default=0)
            for seq in range(1, (top or 0) + 1):
                if seq < len(seen) and seen[seq]:
                    continue
                if self.excused(p.assigned_time(seq)):
                    excused += 1
                else:
                    lost += 1
                    if lost <= 3:
                        BOOK.fail("queue-lost", "pid %d (on %s) seq %d assigned at %.1fs never delivered"
                                  % (p.pid, p.node.name, seq, p.assigned_time(seq)))
        if lost > 3:
            BOOK.fail("queue-lost", "%d queue messages lost outside events windows in total" % lost)
        self.queue_excused = excused

    def check_requests(self):
        lost = excused = 0
        for r in self.requesters:
            top = r.confirmed if r.ended == "end" else 0
            for n in range(1, top + 1):
                if r.replied[n]:
                    continue
                if self.excused(r.sent_t[n]):
                    excused += 1
                else:
                    lost += 1
                    if lost <= 3:
                        BOOK.fail("req-lost", "requester %d on %s: request %d sent at %.1fs got no reply"
                                  % (r.rid, r.node.name, n, r.sent_t[n]))
        if lost > 3:
            BOOK.fail("req-lost", "%d requests unanswered outside events windows in total" % lost)
        self.req_excused = excused

    def check_slow(self):
        for s in self.slow:
            if s["cut"] is None:
                inst_alive = s["inst"] == self.b.instance
                if inst_alive and re.search(r"- cid:%d - .*Slow Consumer Detected" % s["cid"], self.b.log_text()):
                    s["cut"] = now()
                    s["late"] = True
                elif inst_alive and self.stop_t - s["created"] > 60:
                    BOOK.fail("slow-not-cut", "slow consumer cid %d never cut" % s["cid"])
            s["conn"].close()

    def check_logs(self):
        slow_ids = {(s["inst"], s["cid"]) for s in self.slow}
        self.sc_lines = 0
        for n in self.nodes:
            for inst in n.instances:
                text = n.log_text(inst["n"])
                m = SAN_RE.search(text)
                if m and inst.get("san") is None:
                    inst["san"] = m.group(0)
                    if "sanitizer" not in [k for k, _ in BOOK.examples]:
                        BOOK.fail("sanitizer", "%s.%d log: %s" % (n.name, inst["n"], m.group(0)))
                for line in SC_RE.findall(text):
                    self.sc_lines += 1
                    cm = re.search(r"- cid:(\d+) - ", line)
                    if n is self.b and cm and (inst["n"], int(cm.group(1))) in slow_ids:
                        continue
                    BOOK.fail("other-cut", "%s.%d: %s" % (n.name, inst["n"], line.strip()))

    def check_rss(self):
        self.rss_report = []
        for n in (self.a, self.b):
            for inst in n.instances:
                smp = inst["rss"]
                if not smp:
                    continue
                t0, t1 = smp[0][0], smp[-1][0]
                life = t1 - t0
                vals = [kb for _, kb in smp]
                line = "%s.%d: %d samples over %.0f s, min %.1f max %.1f MiB" % (
                    n.name, inst["n"], len(smp), life, min(vals) / 1024, max(vals) / 1024)
                if life >= 90:
                    mid = [kb for t, kb in smp if t0 + life / 3 <= t < t0 + 2 * life / 3]
                    last = [kb for t, kb in smp if t >= t0 + 2 * life / 3]
                    mmid, mlast = max(mid) / 1024, max(last) / 1024
                    flat = mlast <= 1.2 * mmid + 8
                    line += "; max middle third %.1f, max last third %.1f MiB: %s" % (
                        mmid, mlast, "flat" if flat else "GROWING")
                    if not flat:
                        BOOK.fail("rss", line)
                else:
                    line += "; too short to judge"
                step = max(1, len(smp) // 12)
                line += "\n      samples (MiB): " + " ".join(
                    "%.0fs:%.1f" % (t, kb / 1024) for t, kb in smp[::step])
                self.rss_report.append(line)

    def summary(self):
        c = BOOK.count
        out = ["", "==== soak summary (%.0f s requested, %.0f s run, seed %d) ====" % (DURATION, now(), SEED)]
        for cls in ("plain", "hdr", "big", "queue"):
            out.append("  %-6s published %9d  delivered %9d" % (cls, c["pub." + cls], c["recv." + cls]))
        out.append("  req    sent %9d  served %9d  replies %9d  (unanswered, excused by events windows: %d)"
                   % (c["req.sent"], c["req.served"], c["req.replies"], self.req_excused))
        out.append("  queue messages lost inside events windows (excused): %d, reordered there (excused): %d"
                   % (self.queue_excused, c["queue-reorder-excused"]))
        out.append("  messages lost across a dropped route inside its window (excused): %d"
                   % c["gap-excused-route"])
        out.append("  pair deliveries checked for completeness (I3): %d" % self.checked)
        out.append("  subscriptions tracked %d, publishers %d, queue members %d, requesters %d, connections %d"
                   % (len(self.subs), len(self.pubs), len(self.qmembers), len(self.requesters), len(self.conns)))
        out.append("  churn: %s" % ", ".join("%s %d" % (k[6:], v) for k, v in sorted(c.items())
                                            if k.startswith("churn.")))
        cuts = [s for s in self.slow if s["cut"] not in (None, -1)]
        out.append("  slow consumers created %d, cut %d (%s); Slow Consumer lines in logs: %d"
                   % (len(self.slow), len(cuts), ", ".join("cid %d %s" % (s["cid"], "seen at the end" if s.get("late") else
                                                                    "after %.1fs" % (s["cut"] - s["created"]))
                                                           for s in cuts), self.sc_lines))
        out.append("  events %d: %s" % (len(self.events), "; ".join(
            "%.0fs %s%s (ready after %s)" % (e["kill"], e["how"],
                                             "" if e.get("down_seen", True) else " [route down NOT seen]",
                                           "%.1fs" % (e["ready"] - e["kill"]) if e["ready"] else "never")
            for e in self.events)))
        out.append("  permission reloads %d (SIGHUP to %s), checks that saw the new permission: %d;"
                   " repeated CONNECTs of the perm subscribers: %d"
                   % (self.reloads, ",".join(RELOAD_NODES), self.reload_checks, c["reconnects"]))
        out.append("  connections refused by a reload during their handshake: %s"
                   % (", ".join("%s %d" % (n.name, c["reload-auth-race." + n.name]) for n in self.nodes)))
        for n in self.nodes:
            out.append("  %s instances: %s" % (n.name, ", ".join(
                "#%d exit %s%s, %s s up, %s s CPU" % (
                    i["n"], i["rc"], " SANITIZER" if i.get("san") else "",
                    "%.0f" % ((i["end"] or now()) - i["start"]),
                    "%.0f" % i["cpu"] if i.get("cpu") is not None else "?") for i in n.instances)))
        ru = resource.getrusage(resource.RUSAGE_SELF)
        out.append("  driver (this script) CPU %.0f s" % (ru.ru_utime + ru.ru_stime))
        out.append("  RSS:")
        for line in self.rss_report:
            out.append("    " + line)
        if BOOK.violations:
            out.append("  violations: %s" % ", ".join("%s %d" % kv for kv in sorted(BOOK.violations.items())))
            for kind, text in BOOK.examples:
                out.append("    %s: %s" % (kind, text.splitlines()[0][:400]))
        out.append("  logs: %s" % self.dir)
        ok = not BOOK.violations
        out.append("SOAK %s" % ("PASS" if ok else "FAIL"))
        print("\n".join(out))
        sys.stdout.flush()
        return 0 if ok else 1


def _matches(s, p):
    """Does subscription s (plain/hdr/big) get publisher p's messages?"""
    if s.cls != p.cls:
        return False
    subj = s.subject
    if subj.endswith(b".>"):
        return p.subject.startswith(subj[:-1])
    if subj.endswith(b".*"):
        return p.subject.startswith(subj[:-1]) and b"." not in p.subject[len(subj) - 1:]
    return subj == p.subject


def main():
    if not os.path.exists(GNATSD):
        print("soak: %s not found (make asan)" % GNATSD)
        return 2
    if not os.path.exists(REFERENCE):
        print("soak: reference server %s not found" % REFERENCE)
        return 2
    soak = Soak()
    try:
        return soak.run()
    except KeyboardInterrupt:
        return 130
    except Exception:
        import traceback
        traceback.print_exc()
        print("SOAK FAIL (the run itself broke; logs in %s)" % soak.dir)
        return 1
    finally:
        soak.stopping = True
        for n in soak.nodes:
            if n.proc is not None and n.proc.poll() is None:
                n.proc.kill()


if __name__ == "__main__":
    sys.exit(main())
