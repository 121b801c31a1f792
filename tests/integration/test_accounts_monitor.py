"""/accountz and /accstatz (docs/monitoring.md): the account list, one account's
detail (exports, imports (the system account's own included), pending service
responses, counts), the error for an unknown account, and per-account connection
statistics. Every test also passes against the reference
(GNATSD_BIN=/usr/sbin/nats-server)."""

import json

from harness import Server, connected, http_get, http_json, stuck_subscriber, wait_until

CONF = """
accounts {
  A: { users: [ {user: a, password: pa} ]
       imports: [ {service: {account: B, subject: "svc.*"}, to: "asvc.*"},
                  {stream: {account: B, subject: "ev.>"}, prefix: "b"} ] }
  B: { users: [ {user: b, password: pb} ]
       exports: [ {service: "svc.*", response: stream}, {stream: "ev.>", accounts: [A]} ] }
}
"""


def _login(s, user, pw):
    return connected(s, user=user, **{"pass": pw})


def _imports(detail):
    return sorted((i["type"], i["subject"], i["account"], i.get("to", ""),
                   i.get("local_subject", "")) for i in detail.get("imports", []))


def test_accountz():
    with Server(config=CONF, monitor=True) as s:
        a, b = _login(s, "a", "pa"), _login(s, "b", "pb")
        b.send(b"SUB svc.* 1\r\n")
        b.ping_pong()
        a.send(b"SUB inbox 1\r\nPUB asvc.x inbox 1\r\nq\r\n")
        a.ping_pong()
        b.expect_re(rb"MSG svc.x 1 _R_\S+ 1\r\nq\r\n")
        az = http_json(s.mport, "/accountz")
        assert sorted(az["accounts"]) == ["$G", "$SYS", "A", "B"], az
        assert az["system_account"] == "$SYS"
        da = http_json(s.mport, "/accountz?acc=A")["account_detail"]
        assert da["account_name"] == "A" and da["client_connections"] == 1, da
        assert not da.get("is_system") and da["complete"] and not da["expired"]
        assert _imports(da) == [
            ("service", "$SYS.REQ.ACCOUNT.PING.CONNZ", "$SYS", "$SYS.REQ.ACCOUNT.A.CONNZ", ""),
            ("service", "$SYS.REQ.ACCOUNT.PING.STATZ", "$SYS", "$SYS.REQ.ACCOUNT.A.STATZ", ""),
            ("service", "$SYS.REQ.SERVER.PING.CONNZ", "$SYS", "$SYS.REQ.ACCOUNT.A.CONNZ", ""),
            ("service", "asvc.*", "B", "svc.*", ""),
            ("stream", "ev.>", "B", "", "b.ev.>")], _imports(da)
        assert da["sublist_stats"]["num_subscriptions"] == da["subscriptions"]
        db = http_json(s.mport, "/accountz?acc=B")["account_detail"]
        assert db["exports"] == [
            {"subject": "svc.*", "type": "service", "response_type": "Streamed"},
            {"subject": "ev.>", "type": "stream", "approved_accounts": ["A"]}], db["exports"]
        # the request waits for its (streamed) responses: one pending response in B
        resp = db["responses"]
        assert len(resp) == 1, resp
        (key, r), = resp.items()
        assert key.startswith("_R_.") and r["subject"] == key and r["account"] == "A", r
        assert r["to"] == "inbox" and r["type"] == 2, r  # (a number here, as the reference)
        assert http_json(s.mport, "/accountz?acc=$SYS")["account_detail"]["is_system"] is True
        st, _, body = http_get(s.mport, "/accountz?acc=NOPE")
        assert st == 400 and body == b"Account NOPE does not exist", (st, body)


def test_accstatz():
    with Server(config=CONF, monitor=True) as s:
        a = _login(s, "a", "pa")
        a.send(b"SUB x 1\r\nPUB x 2\r\nhi\r\n")
        assert a.sync() == b"MSG x 1 2\r\nhi\r\n"
        st = http_json(s.mport, "/accstatz")
        assert [x["acc"] for x in st["account_statz"]] == ["A"], st  # accounts in use only
        (x,) = st["account_statz"]
        assert x["conns"] == 1 and x["total_conns"] == 1 and x["leafnodes"] == 0, x
        assert set(x) == {"acc", "conns", "leafnodes", "total_conns", "sent", "received",
                          "slow_consumers"}, x
        every = http_json(s.mport, "/accstatz?unused=1")["account_statz"]
        assert sorted(y["acc"] for y in every) == ["$G", "$SYS", "A", "B"], every
        a.close()
        wait_until(lambda: not http_json(s.mport, "/accstatz")["account_statz"], 5,
                   what="A without connections")


def test_accstatz_counts_an_accounts_slow_consumers():
    conf = CONF + "no_auth_user: a\nmax_pending: 65536\nmax_payload: 16384\nwrite_deadline: \"1s\"\n"
    with Server(config=conf, monitor=True) as s:
        slow = stuck_subscriber(s.port, "data")  # in A (no_auth_user)
        pub = _login(s, "a", "pa")
        chunk = b"PUB data 16000\r\n" + b"z" * 16000 + b"\r\n"
        for _ in range(16):  # 8 MB: more than the kernel's socket buffers hold
            pub.send(chunk * 32)
        pub.ping_pong(timeout=30)

        def counts():
            rows = http_json(s.mport, "/accstatz?unused=1")["account_statz"]
            return {r["acc"]: r["slow_consumers"] for r in rows}
        wait_until(lambda: counts()["A"] == 1, 20, what="A's slow consumer counted")
        assert counts()["B"] == 0
        slow.close()
