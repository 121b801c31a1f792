"""Adversarial tests of the monitoring port (issue #11 findings 4, 8, 20, 22):
what a hostile or careless HTTP(S) client can make the monitor do, and what
/varz and /metrics must show. One test per finding, each bounded in time.

Network: 127.0.0.1 only. Every wait is bounded by a deadline.
"""

import json
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time

from harness import HOST, Server, connected, free_port, http_get, http_json, server_bin, wait_until

REF_BIN = "/usr/sbin/nats-server"

TIMEOUTS = {
    "test_f4_https_recv_failure_reads_no_uninitialized_byte": 120,
    "test_f8_pipelined_output_bounded": 60,
    "test_f8_subsz_does_not_block_subscribes": 90,
    "test_f20_varz_connect_urls_and_tls_like_reference": 60,
}


def is_reference():
    return os.path.realpath(server_bin()) == os.path.realpath(REF_BIN)


def _make_cert(d):
    key, cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    return cert, key


def _rst(sock):
    """Close with a reset (SO_LINGER 0): the server's next recv fails."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _https_get(port, path, timeout=10.0):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((HOST, port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw) as s:
            s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path.encode())
            data = b""
            while True:
                x = s.recv(65536)
                if not x:
                    break
                data += x
    return data


# ---------------------------------------------------------------------------
# finding 4: the HTTPS sniffing read looked at the peeked byte even when recv
# returned nothing (EAGAIN right after accept, a reset). A stack byte that was
# never written decided a branch. Valgrind's memcheck sees it on a build where
# the compiler keeps the read (e.g. -O0); ASan does not track definedness.

class _ValgrindServer(Server):
    def __init__(self, vg_log, **kw):
        Server.__init__(self, wait=False, **kw)
        self.vg_log = vg_log

    def command(self):
        return ["valgrind", "--log-file=%s" % self.vg_log, "--error-exitcode=0"] + \
            Server.command(self)


def _sanitized(path):
    with open(path, "rb") as f:
        data = f.read()
    return b"__asan_init" in data or b"__tsan_init" in data or b"__msan_init" in data


def test_f4_https_recv_failure_reads_no_uninitialized_byte():
    # only meaningful for our C binary, unsanitized, with valgrind present
    if is_reference() or not shutil.which("valgrind") or not shutil.which("openssl") \
            or _sanitized(server_bin()):
        return
    d = tempfile.mkdtemp(prefix="gnatsd-f4-")
    try:
        cert, key = _make_cert(d)
        hp = free_port()
        vg_log = os.path.join(d, "vg.log")
        conf = 'https: %s:%d\ntls {\n cert_file: "%s"\n key_file: "%s"\n}\n' % (HOST, hp, cert, key)
        with _ValgrindServer(vg_log, config=conf) as s:
            s.wait_log(r"Server is ready", timeout=60)
            # accept, then nothing: the first events find recv -> EAGAIN
            a = socket.create_connection((HOST, hp), timeout=10)
            time.sleep(0.5)
            # a partial TLS record, then a reset: recv fails
            a.sendall(b"\x16\x03")
            time.sleep(0.5)
            _rst(a)
            # connect and reset at once
            b = socket.create_connection((HOST, hp), timeout=10)
            _rst(b)
            # two plain bytes that could start an HTTP request, then a reset
            c = socket.create_connection((HOST, hp), timeout=10)
            c.sendall(b"GE")
            time.sleep(0.5)
            _rst(c)
            # the port still serves
            reply = _https_get(hp, "/healthz", timeout=30)
            assert reply.startswith(b"HTTP/1.1 200 OK"), reply[:200]
            s.signal(signal.SIGTERM)
            assert s.wait_exit(60) is not None, "server under valgrind did not exit"
        with open(vg_log) as f:
            log = f.read()
        assert "ERROR SUMMARY: 0 errors" in log, log[-4000:]
    finally:
        shutil.rmtree(d, ignore_errors=True)
