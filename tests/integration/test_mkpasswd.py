"""build/mkpasswd (security.md §8): output format, -p from stdin, -c COST,
errors, and hash interoperability with the reference nats-server in both
directions."""

import os
import re
import subprocess

from harness import Server, Client, REPO_ROOT
from test_auth import bcrypt_hash, _crypt, REF_PASS, REF_HASH, AUTH_VIOLATION

TIMEOUTS = {"test_cost_flag": 60}

REFERENCE_BIN = "/usr/sbin/nats-server"
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!@$#%^&*()"
HASH_RE = r"\$2a\$(\d\d)\$[./A-Za-z0-9]{53}"


def mkpasswd(*args, stdin=b""):
    path = os.environ.get("MKPASSWD_BIN", "build/mkpasswd")
    if not os.path.isabs(path):
        path = os.path.join(REPO_ROOT, path)
    assert os.access(path, os.X_OK), "mkpasswd not built at %s (make)" % path
    return subprocess.run([path] + list(args), input=stdin, capture_output=True, timeout=60)


def verify(password, h):
    """Independent check of a hash (libcrypt through Python's crypt)."""
    if _crypt is None:
        return True
    return _crypt.crypt(password, h) == h


def test_no_args_output():
    seen = set()
    for _ in range(2):
        p = mkpasswd()
        out = p.stdout.decode()
        assert p.returncode == 0, (p.returncode, out, p.stderr)
        m = re.fullmatch(r"pass: (\S{22})\nbcrypt hash: (%s)\n" % HASH_RE, out)
        assert m, "unexpected output %r" % out
        pw, h, cost = m.group(1), m.group(2), m.group(3)
        assert cost == "11", "default cost %s" % cost
        assert all(ch in ALPHABET for ch in pw), pw
        assert verify(pw, h), "hash does not verify its password"
        assert not verify(pw + "x", h)
        seen.add(pw)
    assert len(seen) == 2, "two runs produced the same password"


def test_p_reads_stdin():
    for stdin, pw in ((b"S3Cr3T0k3n!\n", "S3Cr3T0k3n!"), (b"no-newline", "no-newline"),
                      (b"crlf pass\r\n", "crlf pass"), (b"first\nsecond\n", "first")):
        p = mkpasswd("-p", "-c", "4", stdin=stdin)
        out = p.stdout.decode()
        assert p.returncode == 0, (stdin, p.returncode, out, p.stderr)
        m = re.fullmatch(r"bcrypt hash: (%s)\n" % HASH_RE, out)
        assert m, "%r: unexpected output %r (no pass: line, no prompts from a pipe)" % (stdin, out)
        assert m.group(2) == "04"
        assert verify(pw, m.group(1)), "%r: hash does not verify %r" % (stdin, pw)
        if _crypt is not None:
            assert not verify(pw + "\n", m.group(1))


def test_cost_flag():
    for args, cost in ((("-c", "4"), "04"), (("-c=5",), "05"), (("--c", "6"), "06"),
                       (("-c", "12"), "12"), (("-c", "3"), "10"), (("-c", "0"), "10")):
        p = mkpasswd("-p", *args, stdin=b"pw\n")
        out = p.stdout.decode()
        m = re.fullmatch(r"bcrypt hash: (%s)\n" % HASH_RE, out)
        assert p.returncode == 0 and m, (args, p.returncode, out, p.stderr)
        assert m.group(2) == cost, "%s: cost %s, want %s" % (args, m.group(2), cost)
        assert verify("pw", m.group(1))
    p = mkpasswd("-c", "32")
    assert p.returncode == 1, p
    assert b"Error producing bcrypt hash: crypto/bcrypt: cost 32 is outside allowed range (4,31)" \
        in p.stderr, p.stderr


def test_usage_errors():
    for args in (("-x",), ("-c",), ("-c", "abc")):
        p = mkpasswd(*args)
        assert p.returncode == 2, (args, p.returncode)
        both = p.stdout + p.stderr
        assert b"Usage: mkpasswd [-p <stdin password>] [-c COST]" in both, (args, both)
        assert b"bcrypt hash" not in p.stdout


def _check_server_accepts(binary, password, h):
    s = Server(config='authorization { users = [ {user: derek, password: "%s"} ] }' % h)
    s.bin = binary
    with s:
        c = Client(s.port)
        c.connect(user="derek", **{"pass": password})
        c.ping_pong()
        c.close()
        c = Client(s.port)
        c.connect(user="derek", **{"pass": password + "?"})
        c.expect(AUTH_VIOLATION)
        c.expect_closed()


def test_mkpasswd_hash_accepted_by_reference():
    assert os.access(REFERENCE_BIN, os.X_OK), "reference server missing at %s" % REFERENCE_BIN
    p = mkpasswd("-p", "-c", "6", stdin=b"Interop-Pw#1\n")
    h = re.fullmatch(r"bcrypt hash: (%s)\n" % HASH_RE, p.stdout.decode()).group(1)
    _check_server_accepts(REFERENCE_BIN, "Interop-Pw#1", h)
    # and by the server under test
    from harness import server_bin
    _check_server_accepts(server_bin(), "Interop-Pw#1", h)
    # a generated password too
    p = mkpasswd("-c", "5")
    m = re.fullmatch(r"pass: (\S{22})\nbcrypt hash: (%s)\n" % HASH_RE, p.stdout.decode())
    _check_server_accepts(REFERENCE_BIN, m.group(1), m.group(2))


def test_reference_hash_accepted_by_server():
    from harness import server_bin
    # the pair the reference's mkpasswd printed (seed README / security.md §8)
    _check_server_accepts(REFERENCE_BIN, REF_PASS, REF_HASH)
    _check_server_accepts(server_bin(), REF_PASS, REF_HASH)
    # a $2a$ hash made outside both (libcrypt), the form Go's bcrypt produces
    h = bcrypt_hash("Made-Elsewhere", 5, "2a")
    _check_server_accepts(REFERENCE_BIN, "Made-Elsewhere", h)
    _check_server_accepts(server_bin(), "Made-Elsewhere", h)


def _run_on_pty(args, answers):
    """Runs mkpasswd on a pseudo-terminal, answering each prompt; returns
    (exit status, everything it wrote to the terminal)."""
    import pty
    import select
    import time as _t
    path = os.environ.get("MKPASSWD_BIN", "build/mkpasswd")
    if not os.path.isabs(path):
        path = os.path.join(REPO_ROOT, path)
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(path, [path] + list(args))
    out = b""
    answers = list(answers)
    deadline = _t.monotonic() + 20
    try:
        while _t.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                out += data
            if answers and out.endswith(b"Password: "):
                os.write(fd, answers.pop(0).encode() + b"\n")
                out += b"<typed>"
    finally:
        status = None
        for _ in range(10):
            wpid, st = os.waitpid(pid, os.WNOHANG)
            if wpid:
                status = st
                break
            _t.sleep(0.1)
        if status is None:              # hung: kill it and fail below
            os.kill(pid, 9)
            status = os.waitpid(pid, 0)[1]
        os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode("utf-8", "replace")


def test_p_prompts_on_terminal():
    rc, out = _run_on_pty(["-p", "-c", "4"], ["T0pS3cr3t", "T0pS3cr3t"])
    assert rc == 0, (rc, out)
    m = re.fullmatch(r"Enter Password: <typed>\r?\nReenter Password: <typed>\r?\n"
                     r"bcrypt hash: (%s)\r?\n" % HASH_RE, out)
    assert m, "unexpected terminal output %r" % out
    assert "T0pS3cr3t" not in out, "password echoed"
    assert verify("T0pS3cr3t", m.group(1))
    rc, out = _run_on_pty(["-p", "-c", "4"], ["one", "two"])
    assert rc == 1 and "Error, passwords do not match" in out, (rc, out)
    assert "bcrypt hash" not in out
