"""nkey users (docs/security.md "nkeys"): keys made and nonces signed by the official
libraries (nkeys.js and nats.js's nkeyAuthenticator, from npm, tests/integration/js),
against the server; the INFO nonce, refused signatures, nkey users bound to accounts,
and the config errors. Every test also passes against the reference
(GNATSD_BIN=/usr/sbin/nats-server)."""

import os
import re
import subprocess

from harness import Client, Server, connected, http_json

HERE = os.path.dirname(os.path.abspath(__file__))
JS = os.path.join(HERE, "js")
TIMEOUTS = {"test_nkey_user_logs_in_with_nats_js": 60, "test_nkey_users_in_accounts": 60}


def _node(*args):
    assert os.path.isdir(os.path.join(JS, "node_modules", "nats")), \
        "nats.js not installed: run `make natsjs` (npm install in tests/integration/js)"
    p = subprocess.run(["node", os.path.join(JS, "nkeys_test.mjs")] + list(args),
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout.strip()


def _keygen():
    seed, pub = _node("keygen").split()
    return seed, pub


def test_nkey_user_logs_in_with_nats_js():
    seed, pub = _keygen()
    other_seed, _ = _keygen()
    conf = "authorization { users: [ {nkey: %s}, {user: u, password: p} ] }\n" % pub
    with Server(config=conf, monitor=True) as s:
        c = Client(s.port)
        nonce = c.info.get("nonce")
        assert nonce and len(nonce) == 15 and re.fullmatch(r"[A-Za-z0-9_-]+", nonce), c.info
        assert Client(s.port).info["nonce"] != nonce  # one per connection
        assert _node("connect", "nats://127.0.0.1:%d" % s.port, seed) == "ok"
        # another key, or a password user's name given as the nkey: refused
        out = _node("connect", "nats://127.0.0.1:%d" % s.port, other_seed)
        assert out.startswith("error") and "Authorization" in out, out
        bad = Client(s.port)
        bad.connect(nkey=pub, sig="AAAA")
        bad.expect(b"-ERR 'Authorization Violation'\r\n")
        s.wait_log(r'authentication error - Nkey "%s"' % pub)
        # password users still log in beside the nkey users
        connected(s, user="u", **{"pass": "p"}).ping_pong()
        nick = Client(s.port)
        nick.connect(user=pub)
        nick.expect(b"-ERR 'Authorization Violation'\r\n")


def test_no_nonce_without_nkey_users():
    with Server(config="authorization { users: [ {user: u, password: p} ] }\n") as s:
        assert "nonce" not in Client(s.port).info


def test_nkey_users_in_accounts():
    seed_a, pub_a = _keygen()
    seed_b, pub_b = _keygen()
    conf = ("accounts {\n  A: { users: [ {nkey: %s} ] }\n  B: { users: [ {nkey: %s} ] }\n}\n"
            % (pub_a, pub_b))
    with Server(config=conf, monitor=True) as s:
        url = "nats://127.0.0.1:%d" % s.port
        assert _node("connect", url, seed_a, "only.a") == "ok"
        assert _node("connect", url, seed_b, "only.b") == "ok"


def test_nkey_config_errors():
    for conf, err in (
            ("authorization { users: [ {nkey: UNOTAKEY} ] }\n",
             "Not a valid public nkey for a user"),
            ("authorization { users: [ {nkey: %s, user: x} ] }\n" % _keygen()[1],
             "Nkey users do not take usernames or passwords")):
        s = Server(config=conf, wait=False)
        s.start()
        assert s.wait_exit(10) != 0
        assert err in s.log(), s.log()[-400:]
