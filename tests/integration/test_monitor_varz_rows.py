"""/varz's option fields and /metrics's option gauges come from the option table
(src/conf/opts_rows.c): every row with a /varz field shows the configured value,
in the reference's order, and every row with a gauge shows it in /metrics."""

import os
import re
import tempfile

from harness import REPO_ROOT, Server, http_get, http_json, is_reference, make_self_signed_cert

# per /varz field of an option row: its config line and the value /varz shows
ROWS = {
    "host": (None, "127.0.0.1"),  # the harness writes host
    "max_connections": ("max_connections: 100", 100),
    "max_subscriptions": ("max_subscriptions: 50", 50),
    "ping_interval": ('ping_interval: "30s"', 30000000000),
    "ping_max": ("ping_max: 5", 5),
    "http_base_path": ('http_base_path: "/mon"', "/mon"),
    "auth_timeout": ("authorization { user: u, password: p, timeout: 3 }", 3),
    "max_control_line": ("max_control_line: 2048", 2048),
    "max_payload": ("max_payload: 65536", 65536),
    "max_pending": ("max_pending: 1000000", 1000000),
    "tls_timeout": (None, 4),  # the tls block, below
    "write_deadline": ('write_deadline: "3s"', 3000000000),
}
# the reference's Varz order of the fields this config shows
ORDER = ["server_id", "server_name", "version", "proto", "go", "host", "port",
         "auth_required", "tls_required", "max_connections", "max_subscriptions",
         "ping_interval", "ping_max", "http_host", "http_port", "http_base_path",
         "https_port", "auth_timeout", "max_control_line", "max_payload", "max_pending",
         "cluster", "gateway", "leaf", "mqtt", "websocket", "jetstream", "tls_timeout",
         "write_deadline", "start", "now", "uptime", "mem", "cores", "gomaxprocs", "cpu",
         "connections", "total_connections", "routes", "remotes", "leafnodes", "in_msgs",
         "out_msgs", "in_bytes", "out_bytes", "slow_consumers", "subscriptions",
         "http_req_stats", "config_load_time"]


# per /metrics option gauge: its config line and the sample /metrics shows
GAUGES = {
    "gnatsd_max_connections": ("max_connections: 100", "100"),
    "gnatsd_max_payload_bytes": ("max_payload: 65536", "65536"),
}


def _table(pattern):
    with open(os.path.join(REPO_ROOT, "src", "conf", "opts_rows.c")) as f:
        return set(re.findall(pattern, f.read()))


def _table_varz_fields():
    return _table(r'\.varz = \{"(\w+)"')


def test_varz_rows_all_checked():
    fields = _table_varz_fields()
    assert fields == set(ROWS), "rows with a /varz field vs this test: table %s, test %s" % (
        sorted(fields - set(ROWS)), sorted(set(ROWS) - fields))


def test_varz_rows_show_configured_values():
    with tempfile.TemporaryDirectory(prefix="gnatsd-varz-rows-") as d:
        cert, key = make_self_signed_cert(d)
        conf = "\n".join(line for line, _ in ROWS.values() if line)
        conf += '\ntls { cert_file: "%s", key_file: "%s", timeout: 4 }\n' % (cert, key)
        with Server(config=conf, monitor=True) as s:
            v = http_json(s.mport, "/mon/varz")
    for field, (_, want) in ROWS.items():
        assert v.get(field) == want, "%s: %r, configured %r" % (field, v.get(field), want)
    # the reference also names its system account, which this server has not; the
    # build's git_commit and gnatsd_c_version are test_version.py's
    keys = [k for k in v if k not in ("system_account", "git_commit", "gnatsd_c_version")]
    assert keys == ORDER, "varz key order: %s" % keys


def test_metrics_option_gauges():
    assert _table(r'\.metric = "(\w+)"') == set(GAUGES), "rows with a gauge vs this test"
    if is_reference():
        return  # /metrics is our extension
    conf = "\n".join(line for line, _ in GAUGES.values())
    with Server(config=conf, monitor=True) as s:
        status, _, body = http_get(s.mport, "/metrics")
    assert status == 200, status
    text = body.decode()
    for name, (line, want) in GAUGES.items():
        key = line.split(":")[0]
        fam = "# HELP %s Configured %s.\n# TYPE %s gauge\n%s %s\n" % (name, key, name, name, want)
        assert fam in text, "%s: %r" % (name, [l for l in text.splitlines() if name in l])


def test_metrics_option_gauge_negative():
    """max_connections: -1 is shown as configured (as /varz does), not as a wrapped
    unsigned 18446744073709551615."""
    if is_reference():
        return  # /metrics is our extension
    with Server(config="max_connections: -1", monitor=True) as s:
        v = http_json(s.mport, "/varz")
        status, _, body = http_get(s.mport, "/metrics")
    assert v.get("max_connections") == -1, v.get("max_connections")
    assert status == 200, status
    assert "\ngnatsd_max_connections -1\n" in body.decode()
