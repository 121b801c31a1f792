"""HTTP monitoring: /varz (monitoring.md §2, §5)."""

import datetime
import re
import time

from harness import Server, connected, http_get, free_port, wait_until

# keys the core-server issue requires, with their JSON types
VARZ_TYPES = [
    ("server_id", str), ("server_name", str), ("version", str), ("host", str),
    ("port", int), ("max_payload", int), ("cluster", dict), ("start", str),
    ("now", str), ("uptime", str), ("mem", int), ("cores", int), ("cpu", (int, float)),
    ("connections", int), ("total_connections", int), ("in_msgs", int),
    ("out_msgs", int), ("in_bytes", int), ("out_bytes", int), ("slow_consumers", int),
    ("subscriptions", int), ("config_load_time", str),
]
# more keys of §5 that a plain server always sends, in document order
VARZ_ORDER = ["server_id", "server_name", "version", "proto", "go", "host", "port",
              "max_connections", "ping_interval", "ping_max", "http_host", "http_port",
              "http_base_path", "https_port", "auth_timeout", "max_control_line",
              "max_payload", "max_pending", "cluster", "tls_timeout", "write_deadline",
              "start", "now", "uptime", "mem", "cores", "cpu", "connections",
              "total_connections", "in_msgs", "out_msgs", "in_bytes", "out_bytes",
              "slow_consumers", "subscriptions", "config_load_time"]
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
UPTIME = re.compile(r"^(\d+y)?(\d+d)?(\d+h)?(\d+m)?\d+s$")


def _ts(text):
    """Parse an RFC 3339 UTC time with up to nanoseconds (truncated to micro)."""
    m = re.match(r"^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$", text)
    frac = (m.group(2) or "0")[:6].ljust(6, "0")
    return datetime.datetime.strptime(m.group(1) + "." + frac, "%Y-%m-%dT%H:%M:%S.%f")


def test_varz_http_shape():
    with Server(monitor=True) as s:
        status, headers, body = http_get(s.mport, "/varz")
        assert status == 200, status
        ctype = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
        assert ctype.startswith("application/json"), ctype
        assert body.startswith(b'{\n  "server_id": '), "2-space indented JSON: %r" % body[:40]
        assert body.endswith(b"}"), "no trailing newline after the JSON: %r" % body[-5:]
        for bad in ("/varz/", "/VARZ", "/nope"):
            st, _, b = http_get(s.mport, bad)
            assert st == 404, "%s -> %d" % (bad, st)


def test_varz_fields_types_and_values():
    with Server(monitor=True) as s:
        info = s.client().info
        v = s.varz()
        for key, typ in VARZ_TYPES:
            assert key in v, "varz lacks %s" % key
            assert isinstance(v[key], typ) and not isinstance(v[key], bool), \
                "%s: %r is not %s" % (key, v[key], typ)
        assert v["server_id"] == info["server_id"]
        assert v["server_name"] == info["server_name"]
        assert v["version"] == "2.9.10"
        assert v["host"] == "127.0.0.1" and v["port"] == s.port
        assert v["max_payload"] == 1048576
        assert v["max_connections"] == 65536
        assert v["max_control_line"] == 4096
        assert v["max_pending"] == 67108864
        assert v["ping_interval"] == 120000000000 and v["ping_max"] == 2
        assert v["write_deadline"] == 10000000000
        assert v["http_port"] == s.mport and v["http_host"] == "127.0.0.1"
        assert v["cluster"] == {}, "not clustered: %r" % v["cluster"]
        assert v["mem"] > 0 and v["cores"] >= 1 and v["cpu"] >= 0
        for key in ("start", "now", "config_load_time"):
            assert RFC3339.match(v[key]), "%s=%r" % (key, v[key])
        assert _ts(v["now"]) >= _ts(v["start"])
        assert v["config_load_time"] == v["start"], "no reload yet: config_load_time = start"
        assert UPTIME.match(v["uptime"]), v["uptime"]
        assert "max_subscriptions" not in v, "0 = unlimited is omitted"


def test_varz_key_order():
    with Server(monitor=True) as s:
        keys = list(s.varz())
        present = [k for k in keys if k in VARZ_ORDER]
        missing = [k for k in VARZ_ORDER if k not in keys]
        assert not missing, "varz lacks %s" % missing
        assert present == VARZ_ORDER, "varz key order: %s" % present


def test_varz_counters_move():
    with Server(monitor=True) as s:
        # the harness's readiness probe connection may still be closing
        # (counted first: an accept not yet processed shows 0 connections too)
        wait_until(lambda: (lambda v: v["total_connections"] >= 1 and v["connections"] == 0)(
            s.varz()), 10, 0.05, "probe connection to be counted and closed")
        before = s.varz()
        sub = connected(s)
        sub.send(b"SUB foo 1\r\nSUB foo 2\r\nPING\r\n")
        sub.expect(b"PONG\r\n")
        pub = connected(s)
        for _ in range(3):
            pub.send(b"PUB foo 5\r\nhello\r\n")
        pub.send(b"PUB nobody 4\r\nlost\r\n")
        pub.ping_pong()
        sub.read_msgs(6)
        after = s.varz()
        d = {k: after[k] - before[k] for k in ("connections", "total_connections", "subscriptions",
                                               "in_msgs", "in_bytes", "out_msgs", "out_bytes")}
        assert d["connections"] == 2, d
        assert d["total_connections"] == 2, d
        assert d["subscriptions"] == 2, d
        assert d["in_msgs"] == 4 and d["in_bytes"] == 19, d
        assert d["out_msgs"] == 6 and d["out_bytes"] == 30, d
        sub.close()
        pub.close()
        wait_until(lambda: s.varz()["connections"] == before["connections"], 5, 0.1,
                   "connections to drop back")
        v = s.varz()
        assert v["subscriptions"] == before["subscriptions"], "subs of closed clients removed"
        assert v["total_connections"] == after["total_connections"], "total never decreases"


def test_varz_uptime_and_now_advance():
    with Server(monitor=True) as s:
        a = s.varz()
        time.sleep(1.2)
        b = s.varz()
        assert _ts(b["now"]) > _ts(a["now"])
        assert b["start"] == a["start"]
        assert b["uptime"] != "0s", b["uptime"]


def test_varz_cluster_name():
    cport = free_port()
    with Server(args=["--cluster", "nats://127.0.0.1:%d" % cport, "--cluster_name", "c1"],
                monitor=True) as s:
        v = s.varz()
        assert v["cluster"].get("name") == "c1", v["cluster"]
        assert v["cluster"].get("cluster_port") == cport, v["cluster"]


def test_monitor_startup_log_line():
    with Server(monitor=True) as s:
        s.wait_log(r"\[INF\] Starting http monitor on 127\.0\.0\.1:%d$" % s.mport)
        # the port accepts before its log line is written: wait for the line, not the port
        s.wait_log(r"\[INF\] Listening for client connections on ")
        log = s.log()
        assert log.index("Starting http monitor") < log.index("Listening for client connections")
