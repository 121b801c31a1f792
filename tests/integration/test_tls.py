"""TLS on the client port: handshake after the plaintext INFO, verify, the
allow_non_tls sniffing, connection_rate_limit, and refusing what is not
implemented (verify_and_map) instead of running with less protection."""

import json
import os
import socket
import ssl
import subprocess

from harness import (REPO_ROOT, Server, http_json, make_test_ca, openssl, parse_info,
                     server_bin, wait_until)

_CERTS = None


def certs():
    """A throw-away CA and a server certificate for 127.0.0.1 (openssl CLI)."""
    global _CERTS
    if not _CERTS:
        _CERTS = make_test_ca("gnatsd-tls-", "test-ca", [("srv", "localhost", True)])
    return _CERTS


def tls_conf(extra=""):
    d = certs()
    return ('tls {\n  cert_file: "%s/srv.pem"\n  key_file: "%s/srv-key.pem"\n  ca_file: "%s/ca.pem"\n%s}\n'
            % (d, d, d, extra))


def tls_client(port):
    """Reads the plaintext INFO, then upgrades; returns (info, ssl socket)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    line = b""
    while not line.endswith(b"\r\n"):
        line += raw.recv(1)
    ctx = ssl.create_default_context(cafile=os.path.join(certs(), "ca.pem"))
    return parse_info(line), ctx.wrap_socket(raw, server_hostname="127.0.0.1")


def test_tls_required_and_pubsub_over_tls():
    with Server(config=tls_conf()) as s:
        info, c = tls_client(s.port)
        assert info.get("tls_required") is True, info
        c.sendall(b'CONNECT {"verbose":false}\r\nSUB a 1\r\nPUB a 2\r\nhi\r\nPING\r\n')
        buf = b""
        while b"PONG\r\n" not in buf:
            buf += c.recv(4096)
        assert b"MSG a 1 2\r\nhi\r\n" in buf, buf


def test_tls13_key_updates_over_each_suite():
    # After a TLS 1.3 handshake the server's own record layer (core/tlsrec.c) carries the
    # connection. An OpenSSL client updates its key ten times in a session, asking the
    # server to update its own every other time, with messages bigger than a record
    # between: each suite must carry every message intact and the server must answer
    # each request with a KeyUpdate of its own. Then /connz names the suite.
    exe = os.path.join(REPO_ROOT, "build/itest/tls_keyupdate")
    ca = os.path.join(certs(), "ca.pem")
    with Server(config=tls_conf(), monitor=True) as s:
        for suite in ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                      "TLS_CHACHA20_POLY1305_SHA256"):
            out = subprocess.run([exe, str(s.port), ca, suite], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, timeout=60).stdout.decode()
            assert out.strip() == "ok", (suite, out)
        info, c = tls_client(s.port)
        c.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
        buf = b""
        while b"PONG\r\n" not in buf:
            buf += c.recv(4096)
        conns = http_json(s.mport, "/connz")["connections"]
        assert [(x["tls_version"], x["tls_cipher_suite"]) for x in conns] == \
            [("1.3", "TLS_AES_128_GCM_SHA256")], conns
        assert s.alive()


def test_plaintext_client_on_tls_port_is_closed():
    with Server(config=tls_conf()) as s:
        raw = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        raw.recv(4096)  # INFO
        raw.sendall(b"CONNECT {}\r\nPING\r\n")
        data = b""
        try:
            while True:
                chunk = raw.recv(4096)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        assert b"PONG" not in data, data
        s.wait_log(r"TLS handshake error")


def test_allow_non_tls_accepts_both():
    with Server(config=tls_conf() + "allow_non_tls: true\n") as s:
        info, c = tls_client(s.port)
        assert info.get("tls_available") is True and "tls_required" not in info, info
        c.sendall(b"PING\r\n")
        assert c.recv(100).startswith(b"PONG"), "TLS client"
        raw = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        raw.recv(4096)
        raw.sendall(b"PING\r\n")
        assert raw.recv(100).startswith(b"PONG"), "plaintext client"


def test_connection_rate_limit():
    with Server(config=tls_conf("  connection_rate_limit: 2\n")) as s:
        refused = 0
        for _ in range(6):
            raw = socket.create_connection(("127.0.0.1", s.port), timeout=5)
            data = raw.recv(4096)
            if b"Connection throttling is active" in data:
                refused += 1
            raw.close()
        assert refused >= 3, refused


def test_verify_and_map_refuses_to_start():
    s = Server(config=tls_conf("  verify_and_map: true\n"), wait=False)
    s.start()
    wait_until(lambda: s.proc.poll() is not None, 5, what="server exit")
    assert s.proc.returncode == 1, s.proc.returncode
    assert "verify_and_map is not supported" in s.log(), s.log()
    s.stop()


REFERENCE = "/usr/sbin/nats-server"


def _client_chain_certs():
    """A client certificate with every kind of subject attribute Go names, one it
    does not (emailAddress), values needing escapes, a multi-valued RDN, issued by
    an intermediate CA that the client sends along."""
    d = certs()
    if os.path.exists(os.path.join(d, "cli-chain.pem")):
        return d
    def run(*args):
        openssl(d, *args)
    with open(os.path.join(d, "ca.cnf"), "w") as f:
        f.write("basicConstraints=critical,CA:true\nkeyUsage=keyCertSign,cRLSign\n")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "int-key.pem", "-out", "int.csr",
        "-subj", "/CN=Inter CA/O=Acme, Inc.")
    run("x509", "-req", "-in", "int.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
        "-CAcreateserial", "-out", "int.pem", "-days", "2", "-extfile", "ca.cnf")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "cli-key.pem", "-out", "cli.csr",
        "-subj", "/C=US/ST=CA/L=Los Angeles/street=1 Main St/postalCode=90001/O=Synadia"
        "/OU=nats.io/OU=eng+OU=ops/CN=#alice /CN=Alice;<B>/emailAddress=alice@example.com"
        "/serialNumber=42")
    run("x509", "-req", "-in", "cli.csr", "-CA", "int.pem", "-CAkey", "int-key.pem",
        "-CAcreateserial", "-out", "cli.pem", "-days", "2")
    with open(os.path.join(d, "cli-chain.pem"), "w") as out:
        for name in ("cli.pem", "int.pem"):
            with open(os.path.join(d, name)) as f:
                out.write(f.read())
    return d


def _cert_client(s, d):
    """A TLS client of server s presenting the client chain of d, logged in (PONG seen)."""
    raw = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    line = b""
    while not line.endswith(b"\r\n"):
        line += raw.recv(1)
    ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.pem"))
    ctx.load_cert_chain(os.path.join(d, "cli-chain.pem"), os.path.join(d, "cli-key.pem"))
    c = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    c.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
    buf = b""
    while b"PONG\r\n" not in buf:
        buf += c.recv(4096)
    return c


def _peer_certs_of(binary):
    """tls_peer_certs of the one client in /connz?auth=true, and in /connz."""
    d = _client_chain_certs()
    s = Server(config=tls_conf("  verify: true\n"), monitor=True)
    s.bin = binary
    with s:
        c = _cert_client(s, d)
        with_auth = http_json(s.mport, "/connz?auth=true")["connections"][0].get("tls_peer_certs")
        plain = http_json(s.mport, "/connz")["connections"][0].get("tls_peer_certs")
        c.close()
    return with_auth, plain


def test_connz_tls_peer_certs_as_the_reference_shows_them():
    if not os.path.exists(REFERENCE):
        raise AssertionError("reference nats-server not installed at %s" % REFERENCE)
    ours, ours_plain = _peer_certs_of(server_bin())
    ref, ref_plain = _peer_certs_of(REFERENCE)
    assert ours_plain is None and ref_plain is None, (ours_plain, ref_plain)
    assert ref and len(ref) == 2, ref  # leaf, then the intermediate the client sent
    assert ours == ref, "ours:\n%s\nreference:\n%s" % (json.dumps(ours, indent=1),
                                                        json.dumps(ref, indent=1))


def test_closed_tls_client_certs_in_connz_twice():
    """A closed client's certificates are shown by /connz?state=closed as often as it is
    asked (the closed ring's copies were once freed by the first answer: a double free
    on the second)."""
    d = _client_chain_certs()
    with Server(config=tls_conf("  verify: true\n"), monitor=True) as s:
        _cert_client(s, d).close()
        closed = wait_until(lambda: http_json(s.mport, "/connz?state=closed&auth=true")[
            "connections"], 5, what="the closed TLS client in /connz")
        first = closed[0].get("tls_peer_certs")
        for _ in range(3):
            again = http_json(s.mport, "/connz?state=closed&auth=true")["connections"]
            assert again[0].get("tls_peer_certs") == first, (again, first)
        assert s.alive()
