"""Reload of the cluster block and of tls {}: which changes log "Reloaded:
cluster" (the cluster rows with a reload effect, the permissions, the block's
tls) and "Reloaded: tls" (the tls keys a reload applies), and which do not."""

import re
import signal
import tempfile

from harness import HOST, Server, free_port, is_reference, make_self_signed_cert, wait_until

TIMEOUTS = {"test_reload_cluster_changes": 60, "test_reload_tls_changes": 40}

CLUSTER = """
cluster {
  name: c1
  listen: "%(host)s:%(cport)d"
  authorization { user: r, password: s, timeout: 2 }
  permissions { publish: ["a.>"] }
  tls { cert_file: "%(cert)s", key_file: "%(key)s", timeout: 3 }
}
"""


def _reload(s, text):
    n = s.log().count("Reloaded server configuration")
    with open(s.conf_path, "w") as f:
        f.write(text)
    s.signal(signal.SIGHUP)
    wait_until(lambda: s.log().count("Reloaded server configuration") > n, 5,
               what="reload")


def _count(s, line):
    return len(re.findall(r"\[INF\] %s\n" % re.escape(line), s.log()))


def test_reload_cluster_changes():
    with tempfile.TemporaryDirectory(prefix="gnatsd-reload-cl-") as d:
        cert, key = make_self_signed_cert(d)
        base = {"host": HOST, "cport": free_port(), "cert": cert, "key": key}
        head = "host: %s\nport: %%d\n" % HOST
        conf = CLUSTER % base
        with Server(config=head.replace("%d", "0") + conf) as s:
            head = head % s.port
            cases = [  # (change of the block's text, logs "Reloaded: cluster")
                (None, False),
                (("name: c1", "name: c2"), True),
                (("name: c1", "name: c1\n  no_advertise: true"), True),
                (("name: c1", "name: c1\n  connect_retries: 3"), True),
                (("user: r", "user: r2"), True),
                (("password: s", "password: s2"), True),
                (("timeout: 2", "timeout: 4"), True),
                (('publish: ["a.>"]', 'publish: ["b.>"]'), True),
                (("timeout: 3", "timeout: 5"), True),
            ]
            for change, logged in cases:
                text = conf if change is None else CLUSTER.replace(*change) % base
                before = _count(s, "Reloaded: cluster")
                _reload(s, head + text)
                after = _count(s, "Reloaded: cluster")
                assert after == before + (1 if logged else 0), \
                    "%r: %d -> %d\n%s" % (change, before, after, s.log_tail())
                if change is not None:  # back to the start, which logs it too
                    _reload(s, head + conf)


def test_reload_tls_changes():
    if is_reference():
        # it logs a line per changed key ("Reloaded: tls timeout = 4"); this
        # server one line for the block: the test pins which keys reload TLS
        return
    with tempfile.TemporaryDirectory(prefix="gnatsd-reload-tls-") as d:
        cert, key = make_self_signed_cert(d)
        tls = 'tls { cert_file: "%s", key_file: "%s", timeout: 3 }\n' % (cert, key)
        with Server(config=tls) as s:
            head = "host: %s\nport: %d\n" % (HOST, s.port)
            cases = [  # (changed tls text, logs "Reloaded: tls = enabled")
                (tls, False),
                (tls.replace("timeout: 3", "timeout: 4"), True),
                (tls.replace("timeout: 3", "timeout: 3, verify: true"), True),
                (tls.replace("timeout: 3", 'timeout: 3, cipher_suites: '
                             '["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]'), True),
            ]
            for text, logged in cases:
                before = _count(s, "Reloaded: tls = enabled")
                _reload(s, head + text)
                after = _count(s, "Reloaded: tls = enabled")
                assert after == before + (1 if logged else 0), \
                    "%r: %d -> %d\n%s" % (text, before, after, s.log_tail())
                if text != tls:
                    _reload(s, head + tls)
