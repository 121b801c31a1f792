"""Operator mode (JWT authentication): `operator` (a file or the JWT inline),
`resolver = MEMORY`, `resolver_preload` and `system_account`. Every key, JWT and
.creds file is made by the official libraries (@nats-io/nkeys and @nats-io/jwt
from npm, through js/jwt_tool.mjs); logins go through nats.js (credsAuthenticator,
jwtAuthenticator), libnats (natsOptions_SetUserCredentialsFromFiles, the program
built from libnats_creds_test.c), nats.go (nats.UserCredentials, the program built
from go/creds_client.go with Debian's Go sources) and raw sockets (the nonce signed by
nkeys.js).
Every test passes against the reference (GNATSD_BIN=/usr/sbin/nats-server 2.9.10).

What the reference does that may surprise (all checked here, on 2.9.10):
* every refused login, whatever the cause (no JWT, a JWT without its signature, a
  wrong signature, an unknown account, an account of an untrusted operator, an
  expired or revoked user, a key the account does not list, a scoped user with
  its own permissions) gets the same `-ERR 'Authorization Violation'` and a close;
  the log says only "authentication error" (plus "[WRN] Account fetch failed:
  account missing" when the account is not in the preload).
* start-up is NOT refused for: an expired operator JWT, an expired account JWT in
  the preload (its users are refused), a preloaded account signed by an operator
  that is not trusted (its users are refused), no system account (a warning,
  "Trusted Operators should utilize a System Account"), and a single
  `authorization { user: x, password: y }` (started, but x/y cannot log in) --
  while a `users` list, an `accounts` block and `no_auth_user` are refused.
* an account's `subs` limit counts per connection, not per account; its `payload`
  limit is enforced (`-ERR 'Maximum Payload Violation'` and a close) but INFO keeps
  advertising the server's max_payload.
* a user JWT with its own permissions replaces the account's default_permissions
  entirely (nothing is merged).
* a user JWT that expires while connected gets `-ERR 'User Authentication
  Expired'` and is closed, at exp.000; a login during the expiry second itself is
  accepted (the JWT check is "now > exp" in whole seconds) and gets the same
  error at once.
* a reload that drops an account from the preload closes its clients with
  `-ERR 'Authorization Violation'` (/connz reason "Authentication Failure"); a
  bad JWT in the preload fails the reload with the entry's file:line:col and the
  server keeps running on the old configuration.
* /accountz lists `$G` and the system account from the start, any other account
  only once one of its users logged in (the order of the list is not stable: the
  reference ranges over a Go map, so the test compares sets).
* system events are delivered as "MSG <subject> <sid>  <size>" (two blanks: the
  empty reply), as outside operator mode.
* without `resolver`, the reference fails with `could not fetch <"/accounts/">`
  (it takes the missing resolver for a URL resolver); not tested here.
* (a client's, not the server's) libnats 3.4.1 now and then sends its CONNECT
  without the nonce's signature (about 1 process in 100, seen with .creds files
  over 1 KiB): _libnats() tries a refused login that should work once more.
* jwt.js writes `jti` as standard base64 of a SHA-512 (with '+', '/', '='),
  not Go's base32; the reference does not look at it.
"""

import json
import os
import re
import select
import signal
import subprocess
import tempfile
import time

from harness import Client, Server, HOST, REPO_ROOT, http_json, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
JS = os.path.join(HERE, "js")
TOOL = os.path.join(JS, "jwt_tool.mjs")
AUTH_ERR = b"-ERR 'Authorization Violation'\r\n"

TIMEOUTS = {"test_user_creds_login_with_nats_js_and_libnats_and_nats_go": 60,
            "test_refused_users": 60, "test_account_signing_keys": 45,
            "test_reload_preload": 45, "test_startup_refusals": 90,
            "test_user_jwt_expiry_disconnects": 40, "test_account_jwt_limits": 45}


# ---------------------------------------------------------------------------
# js/jwt_tool.mjs, kept running for the test (one JSON line per request)

class _Tool:
    def __init__(self):
        assert os.path.isdir(os.path.join(JS, "node_modules", "@nats-io", "jwt")) and \
            os.path.isdir(os.path.join(JS, "node_modules", "nats")), \
            "nats.js / @nats-io/jwt not installed: run `make natsjs` (npm install in tests/integration/js)"
        self.err = tempfile.TemporaryFile()
        # stdin closes when the test process exits, and the tool exits with it
        self.proc = subprocess.Popen(["node", TOOL, "serve"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.err)
        self.buf = b""

    def call(self, cmd, timeout=20.0, **req):
        req["cmd"] = cmd
        self.proc.stdin.write(json.dumps(req).encode() + b"\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("jwt_tool %s: no answer within %.0fs" % (cmd, timeout))
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                data = os.read(self.proc.stdout.fileno(), 65536)
                if not data:
                    self.err.seek(0)
                    raise AssertionError("jwt_tool exited: %s" % self.err.read()[-2000:].decode())
                self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def ok(self, cmd, **req):
        out = self.call(cmd, **req)
        assert "error" not in out, "jwt_tool %s: %s" % (cmd, out["error"])
        return out


_TOOL = None


def _tool():
    global _TOOL
    if _TOOL is None:
        _TOOL = _Tool()
    return _TOOL


def _key(kind):
    """(seed, public key) of a new operator/account/user key pair."""
    k = _tool().ok("keys", kind=kind)["keys"][0]
    return k["seed"], k["pub"]


def _operator(seed, name="OP", **kw):
    return _tool().ok("operator", seed=seed, name=name, **kw)["jwt"]


def _account(signer, name="A", **kw):
    """(seed, pub, jwt) of a new account whose JWT `signer` (a seed) signed."""
    seed, pub = _key("account")
    return seed, pub, _tool().ok("account", pub=pub, signer=signer, name=name, **kw)["jwt"]


def _account_jwt(pub, signer, name="A", **kw):
    return _tool().ok("account", pub=pub, signer=signer, name=name, **kw)["jwt"]


def _user(account_seed, name="u", **kw):
    """(seed, pub, jwt) of a new user of the account (seed) ."""
    seed, pub = _key("user")
    return seed, pub, _tool().ok("user", pub=pub, account=account_seed, name=name, **kw)["jwt"]


def _creds(path, user):
    _tool().ok("creds", jwt=user[2], seed=user[0], path=path)
    return path


def _decode(jwt):
    return _tool().ok("decode", jwt=jwt)["claims"]


def _conf(operator, preload, system_account=None, extra=""):
    """The operator-mode config; preload entries are at line 4 on, column 3."""
    text = 'operator = "%s"\nresolver = MEMORY\nresolver_preload = {\n' % operator
    text += "".join('  %s: "%s"\n' % (k, v) for k, v in preload.items())
    text += "}\n"
    if system_account:
        text += "system_account = %s\n" % system_account
    return text + extra


class _World:
    """An operator (optionally with a signing key), its system account SYS and
    accounts made with account(); conf() preloads them all."""

    def __init__(self, signing_key=False, sys_in_operator=False):
        self.oseed, self.opub = _key("operator")
        self.osk = _key("operator") if signing_key else None
        self.sys = _account(self.oseed, "SYS")
        kw = {}
        if self.osk:
            kw["signing_keys"] = [self.osk[1]]
        if sys_in_operator:
            kw["system_account"] = self.sys[1]
        self.sys_in_operator = sys_in_operator
        self.jwt = _operator(self.oseed, "OP1", **kw)
        self.accounts = {self.sys[1]: self.sys[2]}

    def account(self, name, signer=None, preload=True, **kw):
        a = _account(signer or self.oseed, name, **kw)
        if preload:
            self.accounts[a[1]] = a[2]
        return a

    def conf(self, operator=None, extra="", accounts=None):
        return _conf(operator or self.jwt, accounts if accounts is not None else self.accounts,
                     None if self.sys_in_operator else self.sys[1], extra)


def _login(s, user, **opts):
    """A raw client that sent CONNECT with the user's JWT and the server's nonce
    signed by the user's seed (user = (seed, pub, jwt); seed None: no signature)."""
    c = Client(s.port)
    o = {"jwt": user[2]}
    if user[0]:
        o["sig"] = _tool().ok("sign", seed=user[0], nonce=c.info["nonce"])["sig"]
    o.update(opts)
    c.connect(**o)
    return c


def _logged_in(s, user, **opts):
    c = _login(s, user, **opts)
    c.ping_pong()
    return c


def _refused(c, err=AUTH_ERR, timeout=5.0):
    """The CONNECT was refused: the error, then the server closes."""
    c.send(b"PING\r\n")
    c.expect(err, timeout)
    c.expect_closed(timeout)


def _url(s):
    return "nats://%s:%d" % (HOST, s.port)


def _natsjs(s, **kw):
    """nats.js login (creds=path, or jwt (+ seed)) and a pub/sub round trip:
    "ok" or the error text."""
    out = _tool().call("connect", url=_url(s), timeout=30, **kw)
    return "ok" if out.get("ok") else "error: " + out.get("error", repr(out))


def _libnats(s, creds, expect_ok=True):
    """libnats login with the .creds file (the program built from libnats_creds_test.c),
    a request/reply and a pub/sub round trip: "ok" or "error: ...".

    libnats 3.4.1 now and then (about 1 process in 100, seen with creds files over
    1 KiB, e.g. a signing key's users) sends its CONNECT without the nonce's signature
    (the reference's debug log says "Signature missing"; the CONNECT seen on the wire
    has no "sig"): a login that should work and was refused is tried once more."""
    exe = os.environ.get("LIBNATS_CREDS_TEST_BIN", "build/itest/libnats_creds_test")
    if not os.path.isabs(exe):
        exe = os.path.join(REPO_ROOT, exe)
    # a missing program is a failure, never a skip
    assert os.access(exe, os.X_OK), (
        "libnats creds program not found at %s; build it with `make itest`" % exe)
    for attempt in range(2):
        p = subprocess.run([exe, _url(s), creds], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=40)
        out = (p.stdout.decode("utf-8", "replace").strip() or
               "no output, exit %d: %s" % (p.returncode, p.stderr.decode("utf-8", "replace")))
        if out == "ok" or not expect_ok or "Authorization Violation" not in out:
            return out
    return out


def _natsgo(s, creds):
    """nats.go (the official Go client, tests/integration/go/creds_client.go) logs in with
    the .creds file: a pub/sub round trip and a request; "ok" or the error."""
    exe = os.path.join(REPO_ROOT, "build/itest/creds_client")
    assert os.access(exe, os.X_OK), (
        "nats.go creds program not found at %s; build it with `make itest`" % exe)
    p = subprocess.run([exe, _url(s), creds, "go.creds"], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=40)
    return (p.stdout.decode("utf-8", "replace").strip() or
            "no output, exit %d: %s" % (p.returncode, p.stderr.decode("utf-8", "replace")))


def _msg(c, subject_re, timeout=5.0):
    """The next MSG whose subject matches: (subject, parsed JSON payload)."""
    while True:
        m = c.expect_re(rb"MSG (\S+) \d+ +(?:\S+ +)?(\d+)\r\n", timeout)
        body = c.expect_re(rb"(.{%d})\r\n" % int(m.group(2)), timeout).group(1)
        if re.fullmatch(subject_re, m.group(1).decode()):
            return m.group(1).decode(), json.loads(body)


def _rewrite_and_reload(s, text, expect):
    n = len(re.findall(expect, s.log()))
    with open(s.conf_path, "w") as f:
        f.write(text + "\nhost: %s\nport: %d\n" % (HOST, s.port))
    s.signal(signal.SIGHUP)
    wait_until(lambda: len(re.findall(expect, s.log())) > n, 10, what=expect)


def _wait_closed_reasons(s, jwt, want, timeout=5.0):
    """/connz?state=closed lists, for the connections that presented `jwt` (the
    reference shows a closed connection's JWT), exactly the reasons `want` (sorted)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = http_json(s.mport, "/connz?state=closed")["connections"]
        got = sorted(x.get("reason") for x in rows if x.get("jwt") == jwt)
        if got == sorted(want):
            return
        if time.monotonic() >= deadline:
            raise AssertionError("closed connections with the JWT: reasons %r, want %r; rows "
                                 "(cid, reason, has jwt): %r" % (got, sorted(want), [
                                     (x.get("cid"), x.get("reason"), "jwt" in x) for x in rows]))
        time.sleep(0.05)


def _start_fails(conf):
    """Starts a server that must refuse the config: its stderr."""
    s = Server(config=conf, wait=False)
    s.start()
    rc = s.wait_exit(10)
    log = s.log()
    s.stop()
    assert rc is not None, "server still running with a config it must refuse:\n%s" % log[-600:]
    assert rc != 0, "exit status 0 for a config it must refuse:\n%s" % log[-600:]
    return log


# ---------------------------------------------------------------------------
# 1. start-up, INFO, /varz

def test_operator_from_file_and_inline():
    w = _World(signing_key=True, sys_in_operator=True)
    d = tempfile.mkdtemp(prefix="gnatsd-op-")
    path = os.path.join(d, "op.jwt")
    with open(path, "w") as f:
        f.write(w.jwt)
    claims = _decode(w.jwt)
    assert claims["nats"]["signing_keys"] == [w.osk[1]], claims
    for operator in (path, w.jwt):
        with Server(config=w.conf(operator=operator), monitor=True) as s:
            c = Client(s.port)
            assert c.info.get("auth_required") is True, c.info
            nonce = c.info.get("nonce")
            assert nonce and re.fullmatch(r"[A-Za-z0-9_-]+", nonce), c.info
            assert Client(s.port).info["nonce"] != nonce  # one per connection
            c.connect()
            _refused(c)
            c = Client(s.port)
            c.connect(user="u", **{"pass": "p"})
            _refused(c)
            v = s.varz()
            assert v["trusted_operators_jwt"] == [w.jwt], v.get("trusted_operators_jwt")
            got = v["trusted_operators_claim"]
            assert isinstance(got, list) and len(got) == 1, got
            got = got[0]
            for k in ("iss", "sub", "name", "iat", "jti", "aud"):
                assert got.get(k) == claims[k], (k, got, claims)
            assert got["iss"] == got["sub"] == w.opub and got["name"] == "OP1", got
            assert got["nats"]["signing_keys"] == [w.osk[1]], got
            assert got["nats"]["system_account"] == w.sys[1], got
            assert got == claims, (got, claims)
            # the operator JWT's system_account is the system account
            assert v["system_account"] == w.sys[1], v["system_account"]


# ---------------------------------------------------------------------------
# 2. logins and refusals

def test_user_creds_login_with_nats_js_and_libnats_and_nats_go():
    w = _World(signing_key=True)
    a = w.account("A", signer=w.osk[0])  # signed by the operator's signing key
    u = _user(a[0], "alice")
    d = tempfile.mkdtemp(prefix="gnatsd-op-")
    creds = _creds(os.path.join(d, "alice.creds"), u)
    with open(creds) as f:
        text = f.read()
    assert text.startswith("-----BEGIN NATS USER JWT-----\n%s\n------END NATS USER JWT------\n"
                           % u[2]), text
    assert "-----BEGIN USER NKEY SEED-----\n%s\n------END USER NKEY SEED------" % u[0] in text
    with Server(config=w.conf(), monitor=True) as s:
        assert _natsjs(s, creds=creds) == "ok"
        assert _libnats(s, creds) == "ok"
        assert _natsgo(s, creds) == "ok"
        c = _logged_in(s, u)
        c.send(b"SUB raw 1\r\nPUB raw 2\r\nhi\r\n")
        assert c.sync() == b"MSG raw 1 2\r\nhi\r\n"
        # the same user key, a second connection at once
        _logged_in(s, u).ping_pong()
        conns = http_json(s.mport, "/connz?auth=1")["connections"]
        row = [r for r in conns if r.get("authorized_user") == u[1]]
        assert row and row[0]["account"] == a[1], conns


def test_refused_users():
    w = _World()
    a = w.account("A")
    o2seed, _ = _key("operator")
    untrusted = w.account("X", signer=o2seed)          # preloaded, another operator's
    unknown = w.account("Y", preload=False)             # not in the preload
    good = _user(a[0], "good")
    expired = _user(a[0], "expired", exp=int(time.time()) - 5)
    revoked = _user(a[0], "revoked")
    # revoke JWTs of that user issued up to now (after its iat)
    w.accounts[a[1]] = _account_jwt(a[1], w.oseed, "A", revocations={revoked[1]: int(time.time())})
    x_user = _user(untrusted[0], "x")
    y_user = _user(unknown[0], "y")
    h, b, sig = good[2].split(".")
    mid = len(sig) // 2
    bad_sig = (good[0], good[1], "%s.%s.%s%s%s" % (h, b, sig[:mid], "A" if sig[mid] != "A" else "B",
                                                   sig[mid + 1:]))
    d = tempfile.mkdtemp(prefix="gnatsd-op-")
    with Server(config=w.conf()) as s:
        _logged_in(s, good).ping_pong()
        for who in (expired, revoked, x_user, y_user, bad_sig):
            _refused(_login(s, who))
        s.wait_log(r"\[WRN\] Account fetch failed: account missing")
        # the good JWT without a signature, or signed by another key
        _refused(_login(s, (None, good[1], good[2])))
        c = Client(s.port)
        c.connect(jwt=good[2], sig=_tool().ok("sign", seed=revoked[0], nonce=c.info["nonce"])["sig"])
        _refused(c)
        # the official clients see the same refusal
        for who in (expired, x_user):
            creds = _creds(os.path.join(d, "%s.creds" % who[1]), who)
            out = _natsjs(s, creds=creds)
            assert out.startswith("error") and "Authorization Violation" in out, out
            out = _libnats(s, creds, expect_ok=False)
            assert out.startswith("error") and "Authorization Violation" in out, out


# ---------------------------------------------------------------------------
# 3. accounts, exports and imports from the JWTs

def test_accounts_isolated_and_jwt_imports():
    w = _World()
    e = w.account("E", exports=[{"name": "ev", "subject": "ev.>", "type": "stream"},
                                {"name": "svc", "subject": "svc.>", "type": "service"}])
    i = w.account("I", imports=[
        {"name": "ev", "subject": "ev.>", "account": e[1], "type": "stream"},
        {"name": "evx", "subject": "ev.x", "account": e[1], "type": "stream",
         "local_subject": "mine.x"},
        {"name": "help", "subject": "svc.help", "account": e[1], "type": "service",
         "local_subject": "help"},
        {"name": "other", "subject": "svc.other", "account": e[1], "type": "service"}])
    with Server(config=w.conf()) as s:
        ec = _logged_in(s, _user(e[0], "e"))
        ic = _logged_in(s, _user(i[0], "i"))
        ic2 = _logged_in(s, _user(i[0], "i2"))
        ic.send(b"SUB ev.> 1\r\nSUB mine.> 2\r\nSUB iso 3\r\n")
        ic.ping_pong()
        ec.send(b"SUB iso 9\r\nSUB svc.> 8\r\n")
        ec.ping_pong()
        # isolation: "iso" stays in the publisher's account
        ec.send(b"PUB iso 1\r\nE\r\n")
        assert ec.sync() == b"MSG iso 9 1\r\nE\r\n"
        ic2.send(b"PUB iso 1\r\nI\r\n")
        ic2.ping_pong()
        assert ic.sync() == b"MSG iso 3 1\r\nI\r\n"
        # the stream export, imported as is and as a local subject
        ec.send(b"PUB ev.x 2\r\nhi\r\n")
        ec.ping_pong()
        assert ic.sync() == b"MSG ev.x 1 2\r\nhi\r\nMSG mine.x 2 2\r\nhi\r\n"
        # an export is not an import: E does not see I's ev.x
        ec.send(b"SUB ev.x 7\r\n")
        ec.ping_pong()
        ic2.send(b"PUB ev.x 1\r\nz\r\n")
        ic2.ping_pong()
        assert ec.sync() == b""
        # service requests from I, answered in E, back on I's reply subject
        ic2.send(b"SUB inbox.1 1\r\nPUB help inbox.1 3\r\nreq\r\nPUB svc.other inbox.1 4\r\nreq2\r\n")
        ic2.ping_pong()
        got = []
        for _ in range(2):
            m = ec.expect_re(rb"MSG (\S+) 8 (\S+) (\d+)\r\n")
            body = ec.expect_re(rb"(.{%d})\r\n" % int(m.group(3))).group(1)
            assert m.group(2).startswith(b"_R_."), m.group(0)
            got.append((m.group(1), body))
            ec.send(b"PUB " + m.group(2) + b" 3\r\nans\r\n")
        assert got == [(b"svc.help", b"req"), (b"svc.other", b"req2")], got
        ec.ping_pong()
        assert ic2.read_msgs(2) == [(b"inbox.1", b"1", None, b"ans")] * 2
        # the exporter cannot call "help" (nothing is imported into E)
        ec.send(b"SUB inbox.e 5\r\nPUB help inbox.e 1\r\nx\r\n")
        assert ec.sync() == b""


# ---------------------------------------------------------------------------
# 4. permissions

def test_user_jwt_permissions():
    w = _World()
    a = w.account("A")
    u = _user(a[0], "perm", pub_allow=["ok.>"], pub_deny=["ok.no"], sub_deny=["secret.>"])
    with Server(config=w.conf()) as s:
        c = _logged_in(s, u)
        c.send(b"PUB x 1\r\na\r\nPUB ok.no 1\r\na\r\nSUB secret.a 1\r\nSUB secret.> 2\r\n"
               b"SUB ok.> 3\r\nPUB ok.yes 1\r\na\r\n")
        assert c.sync() == (b"-ERR 'Permissions Violation for Publish to \"x\"'\r\n"
                            b"-ERR 'Permissions Violation for Publish to \"ok.no\"'\r\n"
                            b"-ERR 'Permissions Violation for Subscription to \"secret.a\"'\r\n"
                            b"-ERR 'Permissions Violation for Subscription to \"secret.>\"'\r\n"
                            b"MSG ok.yes 3 1\r\na\r\n")
        s.wait_log(r'Publish Violation - JWT User "%s", Subject "x"' % u[1])
        s.wait_log(r'Subscription Violation - JWT User "%s", Subject "secret.a", SID 1' % u[1])
        c.ping_pong()  # still connected


def test_account_default_permissions():
    w = _World()
    a = w.account("A", default_permissions={"pub": {"deny": ["dflt.>"]},
                                            "sub": {"deny": ["dsub"]}})
    with Server(config=w.conf()) as s:
        c = _logged_in(s, _user(a[0], "plain"))
        c.send(b"PUB dflt.a 1\r\na\r\nSUB dsub 1\r\nSUB other 2\r\nPUB other 1\r\nb\r\n")
        assert c.sync() == (b"-ERR 'Permissions Violation for Publish to \"dflt.a\"'\r\n"
                            b"-ERR 'Permissions Violation for Subscription to \"dsub\"'\r\n"
                            b"MSG other 2 1\r\nb\r\n")
        # a user with permissions of its own: the defaults do not apply at all
        own = _logged_in(s, _user(a[0], "own", sub_deny=["zz"]))
        own.send(b"SUB zz 1\r\nSUB dsub 2\r\nPUB dsub 1\r\nc\r\nPUB dflt.a 1\r\nd\r\n")
        assert own.sync() == (b"-ERR 'Permissions Violation for Subscription to \"zz\"'\r\n"
                              b"MSG dsub 2 1\r\nc\r\n")


# ---------------------------------------------------------------------------
# 5. signing keys

def test_account_signing_keys():
    w = _World(signing_key=True)
    sk_seed, sk_pub = _key("account")
    scoped_seed, scoped_pub = _key("account")
    other_seed, _ = _key("account")
    template = {"pub": {"allow": ["scoped.>"]}, "sub": {"deny": ["nosub"]}}
    a = w.account("A", signing_keys=[sk_pub, {"key": scoped_pub, "role": "r", "template": template}])
    # an account JWT signed by a key the operator does not list
    rogue_op, _ = _key("operator")
    r = w.account("R", signer=rogue_op)

    def issued(signer, name, **kw):
        seed, pub = _key("user")
        return seed, pub, _tool().ok("user", pub=pub, account=a[0], signer=signer, name=name,
                                     **kw)["jwt"]

    by_sk = issued(sk_seed, "sk")
    assert _decode(by_sk[2])["nats"]["issuer_account"] == a[1]
    assert _decode(by_sk[2])["iss"] == sk_pub
    d = tempfile.mkdtemp(prefix="gnatsd-op-")
    with Server(config=w.conf(), monitor=True) as s:
        c = _logged_in(s, by_sk)
        c.send(b"SUB any 1\r\nPUB any 1\r\nx\r\n")
        assert c.sync() == b"MSG any 1 1\r\nx\r\n"
        creds = _creds(os.path.join(d, "sk.creds"), by_sk)
        assert _natsjs(s, creds=creds) == "ok"
        assert _libnats(s, creds) == "ok"
        row = [x for x in http_json(s.mport, "/connz?auth=1")["connections"]
               if x.get("authorized_user") == by_sk[1]]
        assert row and row[0]["account"] == a[1] and row[0].get("issuer_key") == sk_pub, row
        # a key the account does not list
        _refused(_login(s, issued(other_seed, "unlisted")))
        # the scoped key: its template's permissions
        sc = _logged_in(s, issued(scoped_seed, "scoped", scoped=True))
        sc.send(b"PUB x 1\r\na\r\nSUB nosub 1\r\nSUB scoped.> 2\r\nPUB scoped.a 1\r\nb\r\n")
        assert sc.sync() == (b"-ERR 'Permissions Violation for Publish to \"x\"'\r\n"
                             b"-ERR 'Permissions Violation for Subscription to \"nosub\"'\r\n"
                             b"MSG scoped.a 2 1\r\nb\r\n")
        # a scoped key's user may not carry permissions of its own
        _refused(_login(s, issued(scoped_seed, "scoped-own", pub_allow=["x"])))
        # the operator's signing key signed A (A works, above); R's signer is unknown
        _refused(_login(s, _user(r[0], "r")))


# ---------------------------------------------------------------------------
# 6. account limits

def test_account_jwt_limits():
    w = _World()
    a = w.account("A", limits={"conn": 2, "subs": 2, "payload": 10})
    u = _user(a[0])
    with Server(config=w.conf(), monitor=True) as s:
        c1 = _logged_in(s, u)
        assert c1.info["max_payload"] == 1048576, c1.info  # INFO keeps the server's
        c2 = _logged_in(s, u)
        c3 = _login(s, u)
        _refused(c3, b"-ERR 'maximum account active connections exceeded'\r\n")
        s.wait_log(r"maximum account active connections exceeded")
        # subscriptions: per connection
        c1.send(b"SUB a 1\r\nSUB b 2\r\nSUB c 3\r\n")
        assert c1.sync() == b"-ERR 'maximum subscriptions exceeded'\r\n"
        c2.send(b"SUB a 1\r\nSUB b 2\r\n")
        assert c2.sync() == b""
        c1.send(b"UNSUB 1\r\nSUB c 3\r\nSUB d 4\r\n")
        assert c1.sync() == b"-ERR 'maximum subscriptions exceeded'\r\n"
        # payload: 10 bytes pass, 11 close the connection
        c1.send(b"PUB c 10\r\n0123456789\r\n")
        assert c1.sync() == b"MSG c 3 10\r\n0123456789\r\n"
        c1.send(b"PUB c 11\r\n0123456789a\r\n")
        c1.expect(b"-ERR 'Maximum Payload Violation'\r\n")
        c1.expect_closed()
        s.wait_log(r"maximum payload exceeded: 11 vs 10")
        _wait_closed_reasons(s, u[2], ["Maximum Account Connections Exceeded",
                                       "Maximum Message Payload Exceeded"])
        # c1 gone: room for one more connection, and no more
        c4 = wait_until(lambda: _try_login(s, u), 5, what="a connection after c1 closed")
        c4.ping_pong()
        _refused(_login(s, u), b"-ERR 'maximum account active connections exceeded'\r\n")


def _try_login(s, user):
    c = _login(s, user)
    c.send(b"PING\r\n")
    try:
        c.expect(b"PONG\r\n")
        return c
    except AssertionError:
        c.close()
        return None


# ---------------------------------------------------------------------------
# 7. bearer tokens

def test_bearer_token():
    w = _World()
    a = w.account("A")
    bearer = _user(a[0], "bearer", bearer_token=True)
    plain = _user(a[0], "plain")
    with Server(config=w.conf()) as s:
        c = Client(s.port)
        assert c.info.get("nonce")
        c.connect(jwt=bearer[2])  # no signature
        c.send(b"SUB b 1\r\nPUB b 1\r\nx\r\n")
        assert c.sync() == b"MSG b 1 1\r\nx\r\n"
        assert _natsjs(s, jwt=bearer[2]) == "ok"  # jwtAuthenticator without a seed
        # a user JWT without bearer_token needs the signature
        _refused(_login(s, (None, plain[1], plain[2])))
        assert _natsjs(s, jwt=plain[2], seed=plain[0]) == "ok"


# ---------------------------------------------------------------------------
# 8. reload, expired account

def test_reload_preload():
    w = _World()
    a = w.account("A")
    b = w.account("B", preload=False)
    ua, ub = _user(a[0], "ua"), _user(b[0], "ub")
    with Server(config=w.conf(), monitor=True) as s:
        ca = _logged_in(s, ua)
        _refused(_login(s, ub))
        # drop A, add B
        _rewrite_and_reload(s, w.conf(accounts={w.sys[1]: w.sys[2], b[1]: b[2]}),
                            r"Reloaded server configuration")
        ca.expect(AUTH_ERR)
        ca.expect_closed()
        _wait_closed_reasons(s, ua[2], ["Authentication Failure"])
        _refused(_login(s, ua))
        cb = _logged_in(s, ub)
        # a bad JWT in the preload: the reload fails, the server keeps the old config
        text = w.conf(accounts={w.sys[1]: w.sys[2], b[1]: b[2], a[1]: "eyJhbGciOi.bad.jwt"})
        _rewrite_and_reload(s, text, r"Failed to reload server configuration")
        s.wait_log(r"\[ERR\] Failed to reload server configuration: .*server\.conf:6:3: "
                   r"invalid account JWT")
        assert s.alive()
        cb.send(b"SUB x 1\r\nPUB x 1\r\ny\r\n")
        assert cb.sync() == b"MSG x 1 1\r\ny\r\n"
        _refused(_login(s, ua))


def test_expired_account_jwt_in_preload():
    w = _World()
    x = w.account("X", exp=int(time.time()) - 10)
    a = w.account("A")
    with Server(config=w.conf()) as s:
        _refused(_login(s, _user(x[0], "x")))
        _logged_in(s, _user(a[0], "a")).ping_pong()


# ---------------------------------------------------------------------------
# 9. start-up refusals

def test_startup_refusals():
    w = _World()
    a = w.account("A")
    base = w.conf()
    _, nkey_user = _key("user")
    cases = [
        (base + "accounts { X: { users: [ {user: x, password: y} ] } }\n",
         "operators do not allow Accounts to be configured directly"),
        (base + "authorization { users: [ {user: x, password: y} ] }\n",
         "operators do not allow users to be configured directly"),
        (base + "authorization { users: [ {nkey: %s} ] }\n" % nkey_user,
         "operators do not allow users to be configured directly"),
        (base + "no_auth_user: x\n", "no_auth_user not compatible with Trusted Operator"),
        (base + "trusted_keys: [%s]\n" % w.opub,
         "conflicting options for 'TrustedKeys' and 'TrustedOperators'"),
        (base + "trusted: [%s]\n" % w.opub,
         "conflicting options for 'TrustedKeys' and 'TrustedOperators'"),
        (_conf(w.jwt, {w.sys[1]: w.sys[2], a[1]: "eyJhbGciOi.bad.jwt"}, w.sys[1]),
         re.compile(r"server\.conf:5:3: invalid account JWT")),
        (_conf(w.jwt, {a[1]: a[2]}, w.sys[1]),
         "error resolving system account: account missing"),
        (_conf(w.jwt, {a[1]: a[2]}, "SYS"),
         "error resolving system account: will only fetch valid account keys"),
        ('operator = "eyJhbGci.x.y"\nresolver = MEMORY\n',
         re.compile(r"server\.conf:1:0: error parsing operator JWT: ")),
        ('operator = "%s"\nresolver = MEMORY\n' % a[2],
         re.compile(r"server\.conf:1:0: error parsing operator JWT: not operator claim")),
        ('operator = "/nonexistent/op.jwt"\nresolver = MEMORY\n',
         re.compile(r"server\.conf:1:0: error parsing operator JWT: open /nonexistent/op\.jwt: "
                    r"no such file or directory")),
    ]
    for conf, want in cases:
        log = _start_fails(conf)
        if isinstance(want, str):
            assert want in log, "want %r for\n%s\ngot:\n%s" % (want, conf[-300:], log[-600:])
        else:
            assert want.search(log), "want %r for\n%s\ngot:\n%s" % (want.pattern, conf[-300:],
                                                                   log[-600:])


def test_startup_accepted_oddities():
    """What the reference starts with although it looks wrong (see the module doc)."""
    w = _World(sys_in_operator=True)
    a = w.account("A")
    # a single authorization user: started, but it cannot log in
    with Server(config=w.conf(extra="authorization { user: x, password: y }\n")) as s:
        c = Client(s.port)
        c.connect(user="x", **{"pass": "y"})
        _refused(c)
        _logged_in(s, _user(a[0])).ping_pong()
    # an expired operator JWT
    oseed, _ = _key("operator")
    old = _operator(oseed, "OLD", exp=int(time.time()) - 10)
    with Server(config='operator = "%s"\nresolver = MEMORY\n' % old) as s:
        s.wait_log(r"Trusted Operators should utilize a System Account")


# ---------------------------------------------------------------------------
# 10. the system account

def test_system_account_connect_events():
    w = _World()
    a = w.account("A")
    with Server(config=w.conf(), monitor=True) as s:
        assert s.varz()["system_account"] == w.sys[1]
        sysc = _logged_in(s, _user(w.sys[0], "sys"))
        sysc.send(("SUB $SYS.ACCOUNT.%s.CONNECT 1\r\nSUB $SYS.ACCOUNT.%s.DISCONNECT 2\r\n"
                   % (a[1], a[1])).encode())
        sysc.ping_pong()
        u = _user(a[0], "alice")
        c = _logged_in(s, u)
        subj, ev = _msg(sysc, r"\$SYS\.ACCOUNT\.%s\.CONNECT" % a[1])
        assert ev["type"] == "io.nats.server.advisory.v1.client_connect", ev
        cl = ev["client"]
        assert cl["acc"] == a[1] and cl["user"] == u[1] and cl["jwt"] == u[2], cl
        assert cl["issuer_key"] == a[1] and cl["name_tag"] == "alice", cl
        assert cl["kind"] == "Client" and cl["client_type"] == "nats", cl
        c.close()
        subj, ev = _msg(sysc, r"\$SYS\.ACCOUNT\.%s\.DISCONNECT" % a[1])
        assert ev["type"] == "io.nats.server.advisory.v1.client_disconnect", ev
        assert ev["client"]["acc"] == a[1] and ev["client"]["user"] == u[1], ev
        assert ev["reason"] == "Client Closed", ev
        # a user of another account cannot see the system account's subjects
        other = _logged_in(s, _user(a[0], "bob"))
        other.send(b"SUB $SYS.> 1\r\n")
        other.ping_pong()
        _logged_in(s, _user(a[0], "carol")).close()
        other.expect_nothing(0.5)


def test_accountz_lists_loaded_accounts():
    w = _World()
    a = w.account("A")
    b = w.account("B")
    with Server(config=w.conf(), monitor=True) as s:
        az = http_json(s.mport, "/accountz")
        assert az["system_account"] == w.sys[1], az
        assert sorted(az["accounts"]) == sorted(["$G", w.sys[1]]), az
        c = _logged_in(s, _user(a[0]))
        az = http_json(s.mport, "/accountz")
        assert sorted(az["accounts"]) == sorted(["$G", w.sys[1], a[1]]), az
        assert b[1] not in az["accounts"]
        c.close()


def test_user_jwt_expiry_disconnects():
    w = _World()
    a = w.account("A")
    exp = int(time.time()) + 4
    u = _user(a[0], "short", exp=exp)
    with Server(config=w.conf(), monitor=True) as s:
        c = _logged_in(s, u)
        c.expect(b"-ERR 'User Authentication Expired'\r\n", 10)
        # at the expiry (the reference's timer fires at exp.000), not before
        assert time.time() >= exp - 0.5, (time.time(), exp)
        c.expect_closed()
        # a login within the expiry second itself is accepted and expired at once
        # (the JWT check is "now > exp" in whole seconds): past it, refused
        wait_until(lambda: time.time() >= exp + 1.1, 5, what="the second after the expiry")
        _refused(_login(s, u))
