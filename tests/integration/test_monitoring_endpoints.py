"""HTTP(S) monitoring endpoints: /connz, /routez, /subsz, /healthz, /metrics
(monitoring.md §2, §6-§9; docs/monitoring.md for /metrics).

Conformance tests run the reference (/usr/sbin/nats-server) and the server
under test ($GNATSD_BIN) side by side, drive both through the same client
actions and compare the JSON documents: same keys in the same order, same
JSON types, equal values except where they depend on time, ports or ids
(masked) or on the reference's internal $SYS account (left out). Robustness
tests check that monitoring traffic, slow or hostile HTTP clients cannot
stall the message path or grow memory without bound.

Network: 127.0.0.1 only. Every loop is bounded in count and time.
"""

import json
import math
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

from harness import (DEFAULT_BIN, HOST, http_json, Server, connected, http_get, is_reference,
                     make_self_signed_cert, owns_listener, recv_until_close, server_bin,
                     wait_until)


TIMEOUTS = {
    "test_monitoring_under_heavy_traffic": 60,
    "test_hostile_http_clients": 90,
    "test_https_monitoring": 40,
}



# values that differ between two runs (times, ports, ids, measured RTT)
# pending_bytes: what was still queued when a client closed depends on timing (the
# reference itself reports 0 or 6 for the same sequence).
MASKED = {"server_id", "now", "start", "last_activity", "stop", "port", "rtt", "uptime", "idle",
          "server_name", "mem", "cpu", "config_load_time", "http_port", "pending_bytes"}


# ---------------------------------------------------------------------------
# helpers

class QuietServer(Server):
    """A Server whose start-up wait does not connect to the client port: the
    harness's probe connection would otherwise show up in /connz?state=closed."""

    def __init__(self, **kw):
        Server.__init__(self, monitor=True, wait=False, **kw)

    def start(self):
        Server.start(self)
        wait_until(lambda: self.proc.poll() is None and owns_listener(self.proc.pid, self.port)
                   and owns_listener(self.proc.pid, self.mport), timeout=10,
                   what="%s listening" % self.bin)
        wait_until(lambda: http_get(self.mport, "/healthz")[0] == 200, timeout=10,
                   what="monitoring up")
        return self


def servers_pair():
    """(reference, ours) servers, not started."""
    ref = QuietServer()
    ref.bin = DEFAULT_BIN
    return ref, QuietServer()


def get_json(port, path):
    status, headers, body = http_get(port, path)
    assert status == 200, "GET %s -> %d %r" % (path, status, body[:300])
    return json.loads(body, object_pairs_hook=list)


def shape(v):
    """JSON value -> comparable skeleton keeping key order and types."""
    if isinstance(v, list) and v and isinstance(v[0], tuple):  # object (pairs)
        return [(k, shape(x)) for k, x in v]
    if isinstance(v, list):
        return [shape(x) for x in v]
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"  # Go prints a whole float64 without a fraction
    if isinstance(v, str):
        return "str"
    return "null" if v is None else type(v).__name__


def masked(v, key=None):
    """Masks run-dependent values; cids are renumbered by the caller."""
    if isinstance(v, list) and v and isinstance(v[0], tuple):
        return [(k, masked(x, k)) for k, x in v]
    if isinstance(v, list):
        return [masked(x) for x in v]
    if key in MASKED:
        return "<%s>" % shape(v)
    if isinstance(v, float) and v == int(v):
        return int(v)
    return v


def obj(pairs):
    return dict(pairs)


def renumber_cids(doc, mapping):
    """Replaces cid values by their rank among the cids of this run."""
    if isinstance(doc, list) and doc and isinstance(doc[0], tuple):
        return [(k, mapping.get(x, x) if k == "cid" else renumber_cids(x, mapping)) for k, x in doc]
    if isinstance(doc, list):
        return [renumber_cids(x, mapping) for x in doc]
    return doc


def sort_sub_lists(doc):
    """Subscription lists are unordered in the reference: sort them."""
    if isinstance(doc, list) and doc and isinstance(doc[0], tuple):
        out = []
        for k, x in doc:
            x = sort_sub_lists(x)
            if k in ("subscriptions_list", "subscriptions_list_detail") and isinstance(x, list):
                x = sorted(x, key=lambda e: json.dumps(e, sort_keys=True))
            out.append((k, x))
        return out
    if isinstance(doc, list):
        return [sort_sub_lists(x) for x in doc]
    return doc


def compare_docs(path, ref_doc, our_doc, cids_ref, cids_our):
    assert shape(sort_sub_lists(ref_doc)) == shape(sort_sub_lists(our_doc)), \
        "%s: structure differs\nref: %s\nour: %s" % (path, shape(ref_doc), shape(our_doc))
    a = sort_sub_lists(masked(renumber_cids(ref_doc, cids_ref)))
    b = sort_sub_lists(masked(renumber_cids(our_doc, cids_our)))
    assert a == b, "%s: values differ\nref: %s\nour: %s" % (path, a, b)


def client_actions(s):
    """The same client traffic for both servers; returns the clients kept open."""
    c1 = connected(s, name="sub1", lang="python", version="0.1")
    c1.send("SUB foo 1\r\nSUB foo.* q 2\r\nUNSUB 1 5\r\nSUB bar.> 3\r\n")
    c1.ping_pong()
    c2 = connected(s, name="pub1", lang="python", version="0.2")
    c2.send("PUB foo 5\r\nhello\r\nPUB foo.x 2\r\nhi\r\nPUB bar.y.z 0\r\n\r\n")
    c2.ping_pong()
    c1.read_msgs(3)
    c1.ping_pong()
    c3 = connected(s, name="gone")
    c3.send("SUB x 9\r\nSUB y q 10\r\n")
    c3.ping_pong()
    c3.close()
    wait_until(lambda: obj(get_json(s.mport, "/connz?state=closed"))["total"] == 1,
               what="closed connection recorded")
    return [c1, c2]


def local_cids(s):
    """Connection ids of this run in order, from /connz?state=all -> rank (1-based)."""
    d = obj(get_json(s.mport, "/connz?state=all"))
    cids = sorted(obj(c)["cid"] for c in d["connections"])
    return {c: i + 1 for i, c in enumerate(cids)}


# ---------------------------------------------------------------------------
# conformance against the reference

CONNZ_QUERIES = [
    "/connz", "/connz?subs=1", "/connz?subs=true&sort=subs", "/connz?subs=detail",
    "/connz?subs=DETAIL&sort=msgs_from", "/connz?sort=msgs_to", "/connz?sort=bytes_to",
    "/connz?sort=bytes_from", "/connz?sort=start",
    "/connz?limit=1&offset=1", "/connz?offset=7", "/connz?offset=-3&limit=-1",
    "/connz?state=closed", "/connz?state=closed&subs=1",
    "/connz?state=CLOSED&sort=stop", "/connz?state=closed&sort=reason",
    "/connz?state=any", "/connz?state=all&sort=cid", "/connz?auth=1", "/connz?auth=true&subs=1",
    "/connz?user=nobody", "/connz?acc=$G", "/connz?acc=unknown",
    "/routez", "/routez?subs=1", "/routez?subs=detail",
]


def test_connz_routez_match_reference():
    ref, ours = servers_pair()
    with ref, ours:
        keep = client_actions(ref) + client_actions(ours)
        try:
            cr, co = local_cids(ref), local_cids(ours)
            for q in CONNZ_QUERIES:
                compare_docs(q, get_json(ref.mport, q), get_json(ours.mport, q), cr, co)
            # keys with ties (both pending 0; idle/last/uptime are timing dependent):
            # the reference's order among equals is unspecified, so compare as sets and
            # check our order separately
            for q, key, desc in (("/connz?sort=pending", "pending_bytes", True),
                                 ("/connz?sort=last", "last_activity", True),
                                 ("/connz?sort=idle", None, True),
                                 ("/connz?sort=uptime", None, False),
                                 ("/connz?state=all&sort=uptime", None, False)):
                a, b = get_json(ref.mport, q), get_json(ours.mport, q)
                by_cid = lambda d: [(k, sorted(x, key=lambda c: obj(c)["cid"])
                                     if k == "connections" else x) for k, x in d]
                compare_docs(q, by_cid(renumber_cids(a, cr)), by_cid(renumber_cids(b, co)),
                             {}, {})
                if key:
                    vals = [obj(c)[key] for c in obj(b)["connections"]]
                    assert vals == sorted(vals, reverse=desc), (q, vals)
            # cid selects one connection (the first client: rank 1)
            first_ref = min(cr)
            first_our = min(co)
            for extra in ("", "&subs=1", "&state=open"):
                compare_docs("cid" + extra,
                             get_json(ref.mport, "/connz?cid=%d%s" % (first_ref, extra)),
                             get_json(ours.mport, "/connz?cid=%d%s" % (first_our, extra)), cr, co)
            # cid with state=all searches closed connections only
            closed_ref = max(cr)
            closed_our = max(co)
            compare_docs("cid closed", get_json(ref.mport, "/connz?state=all&cid=%d" % closed_ref),
                         get_json(ours.mport, "/connz?state=all&cid=%d" % closed_our), cr, co)
            compare_docs("cid open via all",
                         get_json(ref.mport, "/connz?state=all&cid=%d" % first_ref),
                         get_json(ours.mport, "/connz?state=all&cid=%d" % first_our), cr, co)
            # Last: in the reference this request leaves the detail list attached to
            # the closed entry for every later request (it mutates its ring; not
            # imitated).
            q = "/connz?state=closed&subs=detail"
            compare_docs(q, get_json(ref.mport, q), get_json(ours.mport, q), cr, co)
        finally:
            for c in keep:
                c.close()


def test_connz_values():
    with QuietServer() as s:
        c = connected(s, name="n", lang="go", version="1.2.3")
        c.send("SUB foo 1\r\nSUB foo.> 2\r\nPUB foo 5\r\nhello\r\nPUB foo.bar 5\r\nworld\r\n")
        c.read_msgs(2)
        d = obj(get_json(s.mport, "/connz?subs=detail"))
        assert d["num_connections"] == 1 and d["total"] == 1
        assert d["offset"] == 0 and d["limit"] == 1024
        ci = obj(d["connections"][0])
        assert ci["kind"] == "Client" and ci["type"] == "nats" and ci["ip"] == HOST
        assert (ci["in_msgs"], ci["in_bytes"], ci["out_msgs"], ci["out_bytes"]) == (2, 10, 2, 10)
        assert ci["subscriptions"] == 2
        assert (ci["name"], ci["lang"], ci["version"]) == ("n", "go", "1.2.3")
        assert re.match(r"^(0s|\d+(\.\d+)?(ns|µs|ms|s))$", ci["rtt"]), ci["rtt"]
        det = sorted((obj(x) for x in ci["subscriptions_list_detail"]), key=lambda e: e["sid"])
        assert [e["subject"] for e in det] == ["foo", "foo.>"]
        assert all(e["msgs"] == 1 and e["cid"] == ci["cid"] for e in det)
        # the raw body escapes '>' as Go does
        _, _, body = http_get(s.mport, "/connz?subs=1")
        assert b'"foo.\\u003e"' in body
        # offset beyond the end: empty list, normal counts
        d = obj(get_json(s.mport, "/connz?offset=5"))
        assert d["connections"] == [] and d["total"] == 1 and d["num_connections"] == 0
        # unknown account: the reference's half-empty document
        d = obj(get_json(s.mport, "/connz?acc=nope"))
        assert d["server_id"] == "" and d["connections"] is None
        c.close()


ERROR_QUERIES = [
    "/connz?sort=foo", "/connz?sort=rtt", "/connz?sort=stop", "/connz?sort=reason",
    "/connz?sort=stop&state=all", "/connz?auth=maybe", "/connz?subs=yes", "/connz?subs=maybe%0a",
    "/connz?offset=x", "/connz?limit=abc", "/connz?limit=99999999999999999999",
    "/connz?limit=%2B", "/connz?cid=-1", "/connz?cid=%2B1", "/connz?cid=1.5",
    "/connz?cid=99999999999999999999", "/connz?state=weird", "/subsz?subs=2",
    "/subsz?offset=--1", "/subsz?limit=1e3", "/subsz?test=foo.*", "/subsz?test=foo.%3E",
    "/subsz?test=a..b", "/subscriptionsz?test=*", "/routez?subs=x",
    "/healthz?js-enabled=yes", "/healthz?js-enabled-only=2", "/healthz?js-server-only=nah",
]


def test_parameter_errors_match_reference():
    ref, ours = servers_pair()
    with ref, ours:
        for q in ERROR_QUERIES:
            a = http_get(ref.mport, q)
            b = http_get(ours.mport, q)
            assert a[0] == b[0] == 400, "%s: ref %d our %d" % (q, a[0], b[0])
            assert a[2] == b[2], "%s: ref %r our %r" % (q, a[2], b[2])
            ctype = {k.lower(): v for k, v in b[1].items()}.get("content-type")
            assert ctype == "text/plain; charset=utf-8", (q, ctype)
        # /connz and /routez requests rejected while decoding parameters are not
        # counted; the sort/state checks and every /subsz and /healthz request are
        va = obj(get_json(ref.mport, "/varz"))["http_req_stats"]
        vb = obj(get_json(ours.mport, "/varz"))["http_req_stats"]
        assert va == vb, (va, vb)


def test_subsz_matches_reference():
    ref, ours = servers_pair()
    with ref, ours:
        keep = client_actions(ref) + client_actions(ours)
        try:
            cr, co = local_cids(ref), local_cids(ours)
            for q in ("/subsz", "/subscriptionsz", "/subsz?subs=0", "/subsz?subs=1&test=nomatch",
                      "/subsz?subs=1&offset=1000"):
                a, b = get_json(ref.mport, q), get_json(ours.mport, q)
                # statistics only (bare object); values depend on $SYS in the reference
                assert shape(a) == shape(b), (q, shape(a), shape(b))
                assert [k for k, _ in b][0] == "num_subscriptions", q
            # lists: only $G entries are comparable (the reference adds $SYS ones)
            for q in ("/subsz?subs=1&test=foo", "/subsz?subs=1&test=foo.x",
                      "/subsz?subs=1&test=bar.y.z", "/subsz?subs=1&acc=$G&test=foo"):
                a, b = get_json(ref.mport, q), get_json(ours.mport, q)
                assert shape(a) == shape(b), (q, shape(a), shape(b))
                la = sort_sub_lists([("subscriptions_list", obj(a)["subscriptions_list"])])
                lb = sort_sub_lists([("subscriptions_list", obj(b)["subscriptions_list"])])
                assert masked(renumber_cids(la, cr)) == masked(renumber_cids(lb, co)), (q, la, lb)
                assert obj(a)["total"] == obj(b)["total"]
            if is_reference():
                return
            # our own statistics are exact: 3 live subscriptions, 5 inserted, 2 removed in
            # the global account, besides the 3 service imports every account gets from the
            # system account ($SYS.REQ.ACCOUNT.PING.CONNZ and .STATZ, $SYS.REQ.SERVER.PING.CONNZ)
            d = obj(get_json(ours.mport, "/subsz?subs=1&limit=2&offset=1&acc=$G"))
            assert d["num_subscriptions"] == 3 + 3 and d["num_inserts"] == 5 + 3, d
            assert d["num_removes"] == 2, d
            assert d["total"] == 2 and d["offset"] == 1 and d["limit"] == 2
            assert [k for k, _ in get_json(ours.mport, "/subsz?subs=1&limit=2&offset=1")][:3] == \
                ["server_id", "now", "num_subscriptions"]
            assert all(obj(e)["account"] == "$G" for e in d["subscriptions_list"])
            d = obj(get_json(ours.mport, "/subsz?subs=1&acc=OTHER"))
            assert d["num_subscriptions"] == 0 and "subscriptions_list" not in d
            va = obj(obj(get_json(ours.mport, "/varz"))["http_req_stats"])
            assert "/subscriptionsz" not in va and va["/subsz"] >= 9, va
        finally:
            for c in keep:
                c.close()


def test_http_behaviour_matches_reference():
    """Redirects, 404, JSONP, HEAD and POST, as Go's net/http answers them."""
    def raw(port, req):
        with socket.create_connection((HOST, port), timeout=5) as s:
            s.sendall(req)
            data = b""
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                d = s.recv(65536)
                if not d:
                    break
                data += d
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        hdrs = {}
        for l in lines[1:]:
            k, _, v = l.partition(b":")
            hdrs[k.strip().lower()] = v.strip()
        hdrs.pop(b"date", None)
        return lines[0], hdrs, body

    ref, ours = servers_pair()
    with ref, ours:
        reqs = [b"GET //varz?a=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                b"HEAD /a/../connz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                b"POST /./subsz/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                b"GET /connz/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                b"GET /CONNZ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                b"GET /healthz?callback=cb HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                b"GET /connz?sort=nope&callback=cb HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"]
        for r in reqs:
            a, b = raw(ref.mport, r), raw(ours.mport, r)
            assert a[0] == b[0], (r, a[0], b[0])
            for h in (b"content-type", b"location"):
                assert a[1].get(h) == b[1].get(h), (r, h, a[1].get(h), b[1].get(h))
            assert a[2] == b[2], (r, a[2], b[2])
        # JSONP wraps the indented document
        st, hd, body = http_get(ours.mport, "/connz?callback=fn")
        assert st == 200 and body.startswith(b"fn({\n") and body.endswith(b"})")
        assert {k.lower(): v for k, v in hd.items()}["content-type"] == "application/javascript"


def test_jsz_matches_reference_without_jetstream():
    """/jsz: JetStream is not built, so the document of a reference server that has it
    disabled, whatever the query."""
    ref, ours = servers_pair()
    with ref, ours:
        for q in ("/jsz", "/jsz?acc=X&streams=true"):
            a, b = http_json(ref.mport, q), http_json(ours.mport, q)
            for d in (a, b):
                d.pop("server_id"), d.pop("now")
            assert a == b, (q, a, b)
            assert b["disabled"] is True


# ---------------------------------------------------------------------------
# /metrics

METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
FLOAT = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$|^[+-]?Inf$|^NaN$")


def parse_prometheus(text):
    """Strict text-format 0.0.4 parser: {family: {"type", "help", "samples": [(name, labels, v)]}}."""
    fams = {}
    cur = None
    assert text.endswith("\n"), "exposition must end with a newline"
    for ln, line in enumerate(text.split("\n")[:-1], 1):
        assert line == line.strip() and line, "line %d: stray whitespace/empty: %r" % (ln, line)
        if line.startswith("#"):
            parts = line.split(" ", 3)
            assert parts[0] == "#" and parts[1] in ("HELP", "TYPE"), "line %d: %r" % (ln, line)
            name = parts[2]
            assert METRIC_NAME.match(name), "line %d: bad name %r" % (ln, name)
            f = fams.setdefault(name, {"type": None, "help": None, "samples": []})
            if parts[1] == "HELP":
                assert f["help"] is None, "duplicate HELP for %s" % name
                f["help"] = parts[3]
            else:
                assert f["type"] is None and not f["samples"], "TYPE for %s too late" % name
                assert parts[3] in ("counter", "gauge", "histogram", "summary", "untyped")
                f["type"] = parts[3]
            cur = name
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$", line)
        assert m, "line %d: bad sample %r" % (ln, line)
        name, labels_txt, value = m.group(1), m.group(3), m.group(4)
        assert FLOAT.match(value), "line %d: bad value %r" % (ln, value)
        labels = {}
        if labels_txt:
            pos = 0
            while pos < len(labels_txt):
                lm = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)').match(
                    labels_txt, pos)
                assert lm, "line %d: bad labels %r" % (ln, labels_txt)
                assert lm.group(1) not in labels, "duplicate label"
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
        fam = name
        if cur and name != cur:
            for suf in ("_total", "_count", "_sum", "_bucket"):
                if name == cur + suf:
                    fam = cur
        assert fam == cur, "line %d: sample %s outside its family (%s)" % (ln, name, cur)
        fams[fam]["samples"].append((name, labels, float(value)))
    for name, f in fams.items():
        assert f["type"] and f["help"], "%s lacks TYPE or HELP" % name
        if f["type"] == "counter":
            assert all(v >= 0 for _, _, v in f["samples"]), name
    return fams


def _prometheus_client():
    try:
        from prometheus_client.parser import text_string_to_metric_families
        return text_string_to_metric_families
    except ImportError:
        pass
    # Debian's python3-prometheus-client, when the interpreter is not the system one
    for d in ("/usr/lib/python3/dist-packages",):
        if os.path.isdir(os.path.join(d, "prometheus_client")) and d not in sys.path:
            sys.path.append(d)
            try:
                from prometheus_client.parser import text_string_to_metric_families
                return text_string_to_metric_families
            except ImportError:
                pass
    return None


def test_metrics_prometheus_format():
    if is_reference():
        return  # /metrics is our extension
    with QuietServer() as s:
        c = connected(s)
        c.send("SUB foo 1\r\nPUB foo 5\r\nhello\r\n")
        c.read_msgs(1)
        http_get(s.mport, "/varz")
        st, hd, body = http_get(s.mport, "/metrics")
        assert st == 200, st
        ctype = {k.lower(): v for k, v in hd.items()}["content-type"]
        assert ctype.startswith("text/plain; version=0.0.4"), ctype
        fams = parse_prometheus(body.decode())
        one = lambda n: fams[n]["samples"][0][2]
        assert fams["gnatsd_in_msgs_total"]["type"] == "counter"
        assert one("gnatsd_in_msgs_total") == 1 and one("gnatsd_out_msgs_total") == 1
        assert one("gnatsd_in_bytes_total") == 5 and one("gnatsd_out_bytes_total") == 5
        assert one("gnatsd_connections") == 1 and one("gnatsd_connections_total") == 1
        # every account's, as /varz (the system account's own requests included)
        assert one("gnatsd_subscriptions") == http_json(s.mport, "/varz")["subscriptions"]
        listed = http_json(s.mport, "/subsz?subs=1&acc=$G")["subscriptions_list"]
        assert [x["subject"] for x in listed] == ["foo"], listed
        assert one("gnatsd_mem_bytes") > 0 and one("gnatsd_uptime_seconds") >= 0
        assert one("gnatsd_routes") == 0
        info = fams["gnatsd_info"]["samples"][0][1]
        assert info["version"] == "2.9.10" and info["server_id"] == c.info["server_id"]
        paths = {l["path"]: v for _, l, v in fams["gnatsd_http_requests_total"]["samples"]}
        # the scrape in progress is already counted, like /varz's http_req_stats
        assert paths.get("/varz") == 1 and paths.get("/metrics") == 1, paths
        # no routes: no per-route family (a family is declared only with samples)
        assert not [n for n in fams if n.startswith("gnatsd_route_")], fams.keys()
        parse = _prometheus_client()
        if parse is not None:
            fam = {f.name: f for f in parse(body.decode())}
            # the library names counter families without the _total suffix
            assert {"gnatsd_in_msgs", "gnatsd_connections", "gnatsd_info"} <= set(fam), fam
            assert fam["gnatsd_in_msgs"].type == "counter"
            assert fam["gnatsd_in_msgs"].samples[0].value == 1
        c.close()


# ---------------------------------------------------------------------------
# robustness

def _poll_monitor(port, stop, counts, errors):
    paths = ["/varz", "/connz?subs=1", "/subsz?subs=1", "/routez", "/connz?state=all"]
    if not is_reference():
        paths.append("/metrics")
    i = 0
    deadline = time.monotonic() + 30
    while not stop.is_set() and time.monotonic() < deadline:
        st, _, _ = http_get(port, paths[i % len(paths)], timeout=10)
        if st != 200:
            errors.append(st)
        counts[0] += 1
        i += 1


def test_monitoring_under_heavy_traffic():
    """~100k msgs/s for 2 s while monitoring is polled: every message arrives in time."""
    with Server(monitor=True) as s:
        sub = connected(s)
        sub.send("SUB load 1\r\n")
        sub.ping_pong()
        pub = connected(s)
        total = 200000
        received = [0]
        done = threading.Event()

        def reader():
            sock = sub.sock
            sock.settimeout(1.0)
            buf = b""
            deadline = time.monotonic() + 30
            while received[0] < total and time.monotonic() < deadline:
                try:
                    d = sock.recv(1 << 20)
                except socket.timeout:
                    continue
                if not d:
                    break
                buf += d
                n = buf.count(b"MSG load 1 4\r\n")
                received[0] += n
                # keep a tail that may hold a partial frame
                cut = buf.rfind(b"MSG load 1 4\r\n")
                buf = buf[cut + 14:] if cut >= 0 else buf[-20:]
                if b"PING\r\n" in d:
                    sock.sendall(b"PONG\r\n")
            done.set()

        rt = threading.Thread(target=reader, daemon=True)
        rt.start()
        stop = threading.Event()
        counts, errors = [0], []
        pollers = [threading.Thread(target=_poll_monitor, args=(s.mport, stop, counts, errors),
                                    daemon=True) for _ in range(2)]
        for p in pollers:
            p.start()
        chunk = b"PUB load 4\r\nabcd\r\n" * 1000
        t0 = time.monotonic()
        for i in range(total // 1000):
            pub.send(chunk)
            # pace to ~100k msgs/s
            ahead = (i + 1) * 1000 / 100000.0 - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)
        pub.ping_pong(timeout=20)
        sent_s = time.monotonic() - t0
        assert done.wait(20), "subscriber got %d of %d" % (received[0], total)
        stop.set()
        for p in pollers:
            p.join(15)
        assert received[0] == total, "subscriber got %d of %d" % (received[0], total)
        assert sent_s < 10, "publishing took %.1fs" % sent_s
        assert not errors, errors[:5]
        assert counts[0] >= 5, "monitoring answered only %d requests" % counts[0]
        v = obj(get_json(s.mport, "/varz"))
        assert v["in_msgs"] >= total and v["slow_consumers"] == 0, v
        sub.close()
        pub.close()


def _rss_ok(s, limit):
    v = obj(get_json(s.mport, "/varz"))
    assert v["mem"] < limit, "RSS %d >= %d" % (v["mem"], limit)
    return v["mem"]


def _roundtrip(s, n=100):
    c = connected(s)
    c.send("SUB rt 1\r\n" + "PUB rt 2\r\nok\r\n" * n)
    got = c.read_msgs(n, timeout=10)
    c.close()
    assert len(got) == n


def test_hostile_http_clients():
    """Partial requests held open, a >1 MiB header and 2000 simultaneous HTTP
    connections: messages still flow, monitoring still answers, memory stays bounded."""
    with Server(monitor=True) as s:
        base = _rss_ok(s, 1 << 40)
        limit = base + 300 * 1024 * 1024
        socks = []
        try:
            # partial requests, never finished
            for i in range(50):
                k = socket.create_connection((HOST, s.mport), timeout=5)
                k.sendall(b"GET /varz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                socks.append(k)
            _roundtrip(s)
            st, _, _ = http_get(s.mport, "/varz")
            assert st == 200
            # a header larger than 1 MiB: rejected (431) or closed, never buffered forever
            k = socket.create_connection((HOST, s.mport), timeout=10)
            k.sendall(b"GET /varz HTTP/1.1\r\nHost: x\r\n")
            big = b"X-Big: " + b"a" * 8192 + b"\r\n"
            sent = 0
            try:
                while sent < 2 * 1024 * 1024:
                    k.sendall(big)
                    sent += len(big)
                k.sendall(b"\r\n")
                k.settimeout(10)
                reply = k.recv(4096)
            except OSError:
                reply = b""
            k.close()
            assert reply == b"" or reply.startswith(b"HTTP/1.1 431"), reply[:100]
            _roundtrip(s)
            # 2000 connections at once, half of them sending a partial header
            for i in range(2000):
                try:
                    k = socket.create_connection((HOST, s.mport), timeout=5)
                except OSError:
                    break
                if i % 2:
                    try:
                        k.sendall(b"GET /connz HTTP/1.1\r\nHost: x\r\n" + b"Y: " + b"b" * 4000)
                    except OSError:
                        pass
                socks.append(k)
            _roundtrip(s)
            st, _, _ = http_get(s.mport, "/varz", timeout=10)
            assert st == 200
            _rss_ok(s, limit)
        finally:
            for k in socks:
                k.close()
        # everything released: the server still works and does not keep growing
        _roundtrip(s)
        wait_until(lambda: http_get(s.mport, "/healthz")[0] == 200, timeout=10)
        _rss_ok(s, limit)


# ---------------------------------------------------------------------------
# HTTPS



def test_https_monitoring():
    if not shutil.which("openssl"):
        return
    d = tempfile.mkdtemp(prefix="gnatsd-https-")
    try:
        cert, key = make_self_signed_cert(d)
        tls = 'tls {\n cert_file: "%s"\n key_file: "%s"\n}\n' % (cert, key)
        from harness import free_port
        hp = free_port()
        with Server(config="https: %s:%d\n%s" % (HOST, hp, tls)) as s:
            wait_until(lambda: _can_connect(hp), timeout=10, what="https port")
            s.wait_log(r"\[INF\] Starting https monitor on 127\.0\.0\.1:%d" % hp)
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            import urllib.request

            def connz():
                with urllib.request.urlopen("https://%s:%d/connz" % (HOST, hp), context=ctx,
                                            timeout=5) as r:
                    return json.loads(r.read())
            # the harness's readiness probe (a TLS client that hangs up before its
            # handshake) is listed until its close is processed: wait for it to go
            doc = wait_until(lambda: (lambda d: d if d["num_connections"] == 0 else None)(connz()),
                             timeout=10, what="readiness probe gone from /connz")
            assert doc["num_connections"] == 0 and doc["connections"] == []
            with urllib.request.urlopen("https://%s:%d/varz" % (HOST, hp), context=ctx,
                                        timeout=5) as r:
                v = json.loads(r.read())
            assert v["http_port"] == 0 and v["https_port"] == hp, (v["http_port"], v["https_port"])
            # plain HTTP to the HTTPS port: Go's raw reply
            with socket.create_connection((HOST, hp), timeout=5) as k:
                k.sendall(b"GET /varz HTTP/1.1\r\nHost: x\r\n\r\n")
                data = recv_until_close(k, 5)
            assert data == (b"HTTP/1.0 400 Bad Request\r\n\r\n"
                            b"Client sent an HTTP request to an HTTPS server.\n"), data
        # misconfigurations are fatal at start
        for conf, msg in (
                ("https: %s:%d\n" % (HOST, free_port()),
                 "Can't start monitoring: TLS cert and key required for HTTPS"),
                ("http: %s:%d\nhttps: %s:%d\n%s" % (HOST, 18222, HOST, 18443, tls),
                 "Can't start monitoring: can't specify both HTTP (18222) and HTTPs (18443) ports")):
            s = Server(config=conf, wait=False)
            s.start()
            rc = s.wait_exit(10)
            assert rc not in (None, 0), "server kept running with %r" % conf
            assert "[FTL] " + msg in s.log(), s.log_tail()
            s.cleanup()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _can_connect(port):
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False
