"""Black-box test harness for gnatsd-c (python3 stdlib only).

Starts a NATS server binary on 127.0.0.1 and talks to it through raw sockets.
The binary comes from $GNATSD_BIN (default: the reference /usr/sbin/nats-server)
so the same tests gate our C server and are validated against the reference.

Network rule: every socket here targets 127.0.0.1 only, and every wait loop is
bounded by a deadline.
"""

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

HOST = "127.0.0.1"
DEFAULT_BIN = "/usr/sbin/nats-server"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Servers started by the current test process: the runner prints their log
# tails when a test fails, and stops any the test forgot.
_STARTED = []
_LAUNCHED = []  # every server process started, for leaked_processes()
# A sanitizer's report in a stopped server's log: the runner fails the test that
# ran it, whatever the test asserted (a race or leak at shutdown is still one).
SANITIZER_REPORT = re.compile(
    r"(ERROR: (Address|Leak|Thread|Memory)Sanitizer|WARNING: ThreadSanitizer|runtime error:).*")
_SANITIZER_REPORTS = []


def server_bin():
    """Path of the server binary under test (relative paths are taken from the repo root)."""
    path = os.environ.get("GNATSD_BIN", DEFAULT_BIN)
    if not os.path.isabs(path):
        path = os.path.join(REPO_ROOT, path)
    return path


def sanitized(path=None, which=(b"__asan_init", b"__tsan_init", b"__msan_init")):
    """Whether the binary (default: the server under test) is built with a sanitizer
    (`which`: the runtime symbols looked for)."""
    with open(path or server_bin(), "rb") as f:
        data = f.read()
    return any(w in data for w in which)


def is_reference():
    """True when the binary under test is the reference nats-server: the suite runs
    against both, and skips what only gnatsd does or only gnatsd can be asked."""
    return os.path.realpath(server_bin()) == os.path.realpath(DEFAULT_BIN)


def make_self_signed_cert(d):
    """A self-signed certificate for 127.0.0.1/localhost in directory d: (cert, key) paths."""
    key, cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    return cert, key


def openssl(d, *args):
    """Runs the openssl CLI in directory d (quietly; raises on failure)."""
    subprocess.run(["openssl"] + list(args), cwd=d, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=30)


def make_test_ca(prefix, ca_cn, leaves):
    """A throw-away CA (ca.pem, ca-key.pem, CN ca_cn) in a new temporary directory and,
    for each (name, cn, server) in leaves, name.pem and name-key.pem signed by it
    (server certificates name IP 127.0.0.1 and DNS localhost). Returns the directory."""
    d = tempfile.mkdtemp(prefix=prefix)
    openssl(d, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem", "-out",
            "ca.pem", "-days", "2", "-subj", "/CN=" + ca_cn)
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, cn, server in leaves:
        openssl(d, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + "-key.pem", "-out",
                name + ".csr", "-subj", "/CN=" + cn)
        openssl(d, "x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                "-CAcreateserial", "-out", name + ".pem", "-days", "2",
                *(["-extfile", "ext.cnf"] if server else []))
    return d


def recv_until_close(sock, timeout=5.0):
    """Everything sock receives until the peer closes, an error, or timeout seconds."""
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            x = sock.recv(65536)
        except OSError:
            break
        if not x:
            break
        data += x
    return data


def stuck_subscriber(port, subject):
    """A raw client with a tiny receive buffer that subscribes to subject and, once
    its PONG shows the SUB registered, never reads again: a slow consumer."""
    slow = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(("127.0.0.1", port))
    slow.settimeout(5)
    slow.sendall(b'CONNECT {"verbose":false}\r\nSUB %s 1\r\nPING\r\n' % subject.encode())
    got = b""
    while b"PONG\r\n" not in got:
        d = slow.recv(4096)
        assert d, "slow consumer closed before its PONG"
        got += d
    return slow


def count_msgs(sock, want, deadline, result, hiccup_every=0, hiccup=0.0):
    """Reader thread over a raw CONNECTed socket: counts MSG frames until `want` or the
    deadline, answers the server's PINGs, appends the count to `result`. With
    hiccup_every it stops reading for `hiccup` seconds after each hiccup_every bytes: a
    consumer that keeps up on average but is descheduled now and then."""
    buf = b""
    got = 0
    since = 0
    sock.settimeout(0.5)
    while got < want and time.monotonic() < deadline:
        try:
            data = sock.recv(65536 if hiccup_every else 1 << 20)
        except socket.timeout:
            continue
        except OSError:
            break
        if not data:
            break
        since += len(data)
        if hiccup_every and since >= hiccup_every:
            since = 0
            time.sleep(hiccup)
        buf += data
        pos = 0  # parse by index: slicing per message would be quadratic
        while True:
            nl = buf.find(b"\r\n", pos)
            if nl < 0:
                break
            line = buf[pos:nl]
            if line.startswith(b"MSG "):
                end = nl + 2 + int(line.rsplit(b" ", 1)[1]) + 2
                if len(buf) < end:
                    break
                got += 1
                pos = end
            else:
                if line == b"PING":
                    sock.sendall(b"PONG\r\n")
                pos = nl + 2
        buf = buf[pos:]
    result.append(got)


PORT_RESERVATIONS = os.path.join(tempfile.gettempdir(), "gnatsd-it-ports")
PORT_RESERVATION_S = 600


def _reserve_port(port):
    """Claims port for this process against every other harness process on the machine
    (a file made with O_EXCL, taken over once PORT_RESERVATION_S old): a port that is
    free when picked is not bound until the server starts, and another suite running at
    the same time picked the same one (a CI failure: "bind: address already in use")."""
    path = os.path.join(PORT_RESERVATIONS, str(port))
    os.makedirs(PORT_RESERVATIONS, exist_ok=True)
    for _ in range(2):
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return True
        except FileExistsError:
            try:
                if time.time() - os.stat(path).st_mtime < PORT_RESERVATION_S:
                    return False
                os.unlink(path)  # a stale claim: take it over
            except FileNotFoundError:
                pass
    return False


def free_port():
    """A free TCP port on 127.0.0.1.

    Tries random ports in 20000-32767 first: that range sits below Linux's
    ephemeral range, so it cannot collide with the source ports of our own
    client sockets, and each pick is reserved (_reserve_port) so parallel suites never
    get the same one. Falls back to
    letting the kernel choose (bind port 0).
    """
    for _ in range(50):
        port = random.randint(20000, 32767)
        if not _reserve_port(port):
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((HOST, port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((HOST, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def wait_port(port, timeout=10.0, proc=None):
    """Poll-connect until something accepts on port; False on timeout or if proc died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def _listen_inodes(port):
    """Socket inodes of TCP sockets in LISTEN state on `port` (Linux /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(parts[9])
        except OSError:
            continue
    return inodes


def under_wine():
    """True when the binary under test is the Windows build run by wine (tests/wine.sh):
    its sockets are not the launched process's own descriptors (wine's server holds
    them), so ownership checks through /proc cannot apply."""
    return os.environ.get("GNATSD_WINE") == "1"


def owns_listener(pid, port):
    """True if process pid holds a listening socket on port.

    Needed because a bare connect() can succeed against somebody else's
    server that grabbed the same port (parallel suites on one machine).
    Under wine the listener belongs to wine's server, not to the launched process:
    only that something listens can be checked.
    """
    inodes = _listen_inodes(port)
    if not inodes:
        return False
    if under_wine():
        return True
    fd_dir = "/proc/%d/fd" % pid
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return False
    for fd in fds:
        try:
            link = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return True
    return False


def wait_own_port(proc, port, timeout=10.0):
    """Wait until proc listens on port and a connect succeeds; False if it died or timed out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if owns_listener(proc.pid, port) and wait_port(port, 0.5, proc):
            return True
        time.sleep(0.03)
    return False


class Server:
    """One server process.

    config: text of a config file (flat keys such as `max_payload: 100`), or a
    dict rendered as `key: value` lines. With a config, host/port are written
    into the file (unless the text sets `port` itself) so that the config path
    is exercised; otherwise they are passed as -a/-p.
    """

    def __init__(self, args=(), config=None, monitor=False, port=None,
                 listen_flags=None, wait=True, log_to_file=True):
        self.bin = server_bin()
        self.dir = tempfile.mkdtemp(prefix="gnatsd-it-")
        self.auto_ports = port is None
        self.port = port or free_port()
        self.mport = free_port() if monitor else None
        self.args = list(args)
        self.config = config
        self.listen_flags = listen_flags
        self.wait = wait
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.stdout_path = os.path.join(self.dir, "stdout.log")
        self.conf_path = None
        self.proc = None
        self.returncode = None
        self._err = self._out = None
        # registered at once so the runner cleans the temp dir even if the
        # server is never started
        _STARTED.append(self)

    # -- lifecycle ---------------------------------------------------------
    def command(self):
        cmd = [self.bin]
        listen_flags = self.listen_flags
        if self.config is not None:
            text = self.config
            if isinstance(text, dict):
                text = "".join("%s: %s\n" % (k, v) for k, v in text.items())
            if not re.search(r"^\s*\{?\s*\"?(port|listen)\b", text, re.M | re.I):
                text += "\nhost: %s\nport: %d\n" % (HOST, self.port)
                if listen_flags is None:
                    listen_flags = False
            self.conf_path = os.path.join(self.dir, "server.conf")
            with open(self.conf_path, "w") as f:
                f.write(text)
            cmd += ["-c", self.conf_path]
        if listen_flags is None or listen_flags:
            cmd += ["-a", HOST, "-p", str(self.port)]
        if self.mport:
            cmd += ["-m", str(self.mport)]
        return cmd + self.args

    def start(self):
        if not os.path.exists(self.bin):
            raise AssertionError("server binary not found: %s" % self.bin)
        # started again (a test changing bin or flags): the old process must not outlive
        # the object that forgets it (it did: one server left running per suite run)
        if self.alive():
            self.stop()
        # ports we picked ourselves may be taken between the pick and the
        # server's bind (other tests/suites): then retry with fresh ports
        for attempt in range(3):
            if self._start_once():
                return self
            if not (self.auto_ports and self.proc.poll() is not None and attempt < 2):
                break
            self._close_files()
            self.port = free_port()
            if self.mport:
                self.mport = free_port()
        tail = self.log_tail()
        self.stop()
        raise AssertionError("server not listening on port %d (monitor %s) within 10 s\ncmd: %s\nlog:\n%s"
                             % (self.port, self.mport, " ".join(self.cmd), tail))

    def _close_files(self):
        for f in (self._err, self._out):
            if f is not None:
                f.close()

    def _start_once(self):
        cmd = self.command()
        self.cmd = cmd
        self._err = open(self.log_path, "wb")
        self._out = open(self.stdout_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=self._err,
                                     cwd=self.dir)
        _LAUNCHED.append(self.proc)
        if not self.wait:
            return True
        # wine starts a process in seconds, more on a loaded machine
        limit = 60.0 if under_wine() else 10.0
        if not wait_own_port(self.proc, self.port, limit):
            return False
        if self.mport and not wait_own_port(self.proc, self.mport, limit):
            return False
        return True

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=5.0):
        """Exit status, or None if still running after timeout."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self):
        """SIGTERM, then SIGKILL after 5 s. Returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.returncode = self.proc.returncode
        self._close_files()
        text = self.log()
        m = SANITIZER_REPORT.search(text)
        if m and self.log_path not in [p for p, _ in _SANITIZER_REPORTS]:
            _SANITIZER_REPORTS.append((self.log_path, text[max(0, m.start() - 200):m.start() + 4000]))
        return self.returncode

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        # keep the temp dir when the test failed so the log can be printed
        if exc[0] is None:
            shutil.rmtree(self.dir, ignore_errors=True)
            if self in _STARTED:
                _STARTED.remove(self)
        return False

    # -- logs ----------------------------------------------------------------
    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=30):
        return "\n".join(self.log().splitlines()[-n:])

    def wait_log(self, regex, timeout=5.0):
        """Wait until the stderr log matches regex (multiline); returns the match."""
        deadline = time.monotonic() + timeout
        pat = re.compile(regex, re.M)
        while True:
            m = pat.search(self.log())
            if m:
                return m
            if time.monotonic() >= deadline:
                raise AssertionError("log never matched %r within %.1fs; tail:\n%s"
                                     % (regex, timeout, self.log_tail()))
            time.sleep(0.05)

    # -- helpers -------------------------------------------------------------
    def client(self, **kw):
        return Client(self.port, **kw)

    def varz(self):
        return http_json(self.mport, "/varz")


def http_get(port, path, timeout=5.0):
    """(status, headers, body bytes) of GET http://127.0.0.1:port/path."""
    url = "http://%s:%d%s" % (HOST, port, path)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def http_json(port, path="/varz", timeout=5.0):
    status, _, body = http_get(port, path, timeout)
    assert status == 200, "GET %s -> %d %r" % (path, status, body[:200])
    return json.loads(body)


def leaked_processes():
    """Server processes this test process launched that are still running although
    every Server was stopped: killed here, and returned (the runner fails the test)."""
    left = [p for p in _LAUNCHED if p.poll() is None]
    for p in left:
        p.kill()
        p.wait(5)
    return left


def sanitizer_reports():
    """(log path, the report) of every stopped server whose log has a sanitizer
    report (the runner fails the test and prints them)."""
    return list(_SANITIZER_REPORTS)


def running_servers():
    return list(_STARTED)


def stop_all():
    for s in list(_STARTED):
        try:
            s.stop()
        except Exception:
            pass


# ---------------------------------------------------------------------------
# raw protocol client

_MSG_RE = re.compile(rb"^(?:MSG|msg)[ \t]+\S+[ \t]+\S+(?:[ \t]+\S+)?[ \t]+(\d+)\r?$")
_HMSG_RE = re.compile(rb"^(?:HMSG|hmsg)[ \t]+\S+[ \t]+\S+(?:[ \t]+\S+)?[ \t]+\d+[ \t]+(\d+)\r?$")


class Closed(Exception):
    pass


class Client:
    """Raw NATS client over a socket.

    Incoming bytes are split into server frames (a control line, or a MSG/HMSG
    line plus its payload). With auto_pong (default) a server `PING\\r\\n` frame
    is answered with PONG and dropped, because the server pings ~2 s after
    CONNECT and that must not disturb byte-exact expectations. Everything else
    lands in self.buf, which expect() consumes from the front.
    """

    def __init__(self, port, host=HOST, auto_pong=True, read_info=True, timeout=5.0):
        self.auto_pong = auto_pong
        self.raw = b""        # received, not yet framed
        self.buf = b""        # framed, not yet consumed by expect()
        self.closed = False
        self.pings_seen = 0
        self.send_timeout = 20.0
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.info = None
        self.info_line = None
        if read_info:
            self.info_line = self.expect_re(rb"INFO [^\r\n]*\r\n", timeout).group(0)
            self.info = parse_info(self.info_line)

    # -- sending ---------------------------------------------------------------
    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        # _recv leaves short timeouts on the socket; a big write to a busy
        # server needs longer (still bounded)
        self.sock.settimeout(self.send_timeout)
        self.sock.sendall(data)

    def connect(self, **opts):
        """Send CONNECT with the given options (verbose/pedantic default to false)."""
        o = {"verbose": False, "pedantic": False}
        o.update(opts)
        self.send(b"CONNECT " + json.dumps(o, separators=(",", ":")).encode() + b"\r\n")

    def ping_pong(self, timeout=5.0):
        """Round trip: everything sent before has been processed by the server."""
        self.send(b"PING\r\n")
        self.expect(b"PONG\r\n", timeout)

    def sync(self, timeout=5.0):
        """PING and return every byte that arrived before the PONG.

        The server answers PING in order with its other output, so this
        collects all deliveries already queued for this connection. (Payloads
        containing "PONG\r\n" would confuse it; tests don't use such payloads.)
        """
        self.send(b"PING\r\n")
        return self.expect_re(rb"(.*?)PONG\r\n", timeout).group(1)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- receiving -------------------------------------------------------------
    def _frame(self):
        """Move complete frames from raw to buf (filtering PING if asked)."""
        while True:
            nl = self.raw.find(b"\n")
            if nl < 0:
                return
            line = self.raw[:nl]
            end = nl + 1
            m = _MSG_RE.match(line) or _HMSG_RE.match(line)
            if m:
                end = nl + 1 + int(m.group(1)) + 2
                if len(self.raw) < end:
                    return
            frame, self.raw = self.raw[:end], self.raw[end:]
            if frame == b"PING\r\n":
                self.pings_seen += 1
                if self.auto_pong:
                    try:
                        self.sock.sendall(b"PONG\r\n")
                    except OSError:
                        pass
                    continue
            self.buf += frame

    def _recv(self, deadline):
        """Read once (until deadline). Returns False on timeout; raises Closed on EOF."""
        if self.closed:
            raise Closed()
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(min(left, 0.5))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return True
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.closed = True
            # unframed remainder still counts as received bytes
            self.buf += self.raw
            self.raw = b""
            raise Closed()
        self.raw += data
        self._frame()
        return True

    def expect(self, want, timeout=3.0):
        """Wait for `want` at the front of the received stream and consume it.

        want as bytes: exact match of the next bytes (fails fast on mismatch).
        want as str or compiled bytes regex: re.match at the front (str is
        compiled with DOTALL); returns the match object.
        """
        deadline = time.monotonic() + timeout
        exact = isinstance(want, bytes)
        if isinstance(want, str):
            pat = re.compile(want.encode(), re.S)
        elif isinstance(want, re.Pattern):
            pat = want
        else:
            pat = None
        while True:
            if exact:
                if self.buf.startswith(want):
                    self.buf = self.buf[len(want):]
                    return want
                n = min(len(self.buf), len(want))
                if self.buf[:n] != want[:n]:
                    raise AssertionError("expected %r, got %r" % (want, self.buf[:len(want) + 80]))
            else:
                m = pat.match(self.buf)
                if m:
                    self.buf = self.buf[m.end():]
                    return m
            try:
                if not self._recv(deadline):
                    break
            except Closed:
                if exact and self.buf.startswith(want):
                    continue
                if not exact and pat.match(self.buf):
                    continue
                raise AssertionError("connection closed while expecting %r; got %r"
                                     % (want, self.buf[:300]))
        raise AssertionError("timeout (%.1fs) expecting %r; got %r"
                             % (timeout, want, (self.buf + self.raw)[:300]))

    def expect_re(self, regex, timeout=3.0):
        """expect() with a bytes regex."""
        if isinstance(regex, str):
            regex = regex.encode()
        return self.expect(re.compile(regex, re.S), timeout)

    def expect_closed(self, timeout=3.0, allow_data=False):
        """The server closes the connection within timeout.

        Unless allow_data, nothing (other than filtered PINGs) may arrive first.
        """
        deadline = time.monotonic() + timeout
        while True:
            if not allow_data and self.buf:
                raise AssertionError("expected close, got data %r" % self.buf[:300])
            try:
                if not self._recv(deadline):
                    raise AssertionError("connection still open after %.1fs (pending %r)"
                                         % (timeout, self.buf[:200]))
            except Closed:
                if not allow_data and self.buf:
                    raise AssertionError("expected silent close, got %r" % self.buf[:300])
                return self.buf

    def expect_nothing(self, duration=0.5):
        """Nothing arrives (and the connection stays open) for duration seconds."""
        deadline = time.monotonic() + duration
        while True:
            if self.buf:
                raise AssertionError("expected nothing, got %r" % self.buf[:300])
            try:
                if not self._recv(deadline):
                    return
            except Closed:
                raise AssertionError("connection closed, expected it to stay open (got %r)"
                                     % self.buf[:300])

    def read_for(self, duration):
        """Collect whatever arrives for duration seconds (stops early on close)."""
        deadline = time.monotonic() + duration
        while True:
            try:
                if not self._recv(deadline):
                    break
            except Closed:
                break
        out, self.buf = self.buf, b""
        return out

    def read_msgs(self, count, timeout=5.0):
        """Consume `count` MSG/HMSG frames; returns list of (subject, sid, reply, payload)."""
        msgs = []
        for _ in range(count):
            m = self.expect_re(rb"MSG (\S+) (\S+)(?: (\S+))? (\d+)\r\n", timeout)
            n = int(m.group(4))
            payload = self.expect_re(rb"(.{%d})\r\n" % n, timeout).group(1)
            msgs.append((m.group(1), m.group(2), m.group(3), payload))
        return msgs


def parse_info(line):
    assert line.startswith(b"INFO "), "not an INFO line: %r" % line
    body = line[5:].rstrip(b"\r\n").strip()
    return json.loads(body)


def connected(server, auto_pong=True, **opts):
    """A raw client that sent CONNECT(opts) and completed a PING/PONG."""
    c = Client(server.port, auto_pong=auto_pong)
    c.connect(**opts)
    c.ping_pong()
    return c


def connected_retry(server, timeout=3.0, **opts):
    """connected(), retried while the server still counts the readiness probe
    (matters for max_connections tests: the probe's close is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return connected(server, **opts)
        except (AssertionError, OSError):
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)


def got_within(client, want, window):
    """Whether client receives `want` (bytes, or a compiled regex) within window
    seconds: for probes repeated until interest has crossed a route."""
    try:
        client.expect(want, window)
        return True
    except AssertionError:
        return False


def wait_until(fn, timeout=5.0, interval=0.05, what="condition"):
    """Poll fn() until truthy; returns its value or raises AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timeout waiting for %s" % what)
        time.sleep(interval)


def route_interest(server, account, subject):
    """server holds interest in subject from one of its routes, in account. (The
    routes' detail list names each as "account subject[ queue]", ours and the
    reference's; /subsz's num_subscriptions counts the whole account, the system
    imports included, so a count there does not say that a subscription crossed.)"""
    key = "%s %s" % (account, subject)
    for r in http_json(server.mport, "/routez?subs=detail")["routes"]:
        for d in r.get("subscriptions_list_detail") or []:
            if d["sid"] == key or d["sid"].startswith(key + " "):
                return True
    return False
