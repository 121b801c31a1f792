"""The seed README's example configuration files (completed where the seed
text is cut; ports and paths made local) load and behave as described."""

import os
import re
import shutil
import tempfile
import time

from harness import Server, Client, connected, free_port, http_json, wait_until, HOST

TIMEOUTS = {"test_seed_main_example": 60, "test_seed_edge_cloud_route_permissions": 60,
            "test_seed_cluster_seed_node": 45}

MAIN = """listen: {host}:{port} # host/port to listen for client connections

http: {host}:{mport} # HTTP monitoring port

# Authorization for client connections
authorization {{
  user:     derek
  # ./util/mkpasswd -p T0pS3cr3t
  password: $2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG
  timeout:  1
}}

# Cluster definition

cluster {{

  listen: {host}:{cport} # host/port for inbound route connections

  # Authorization for route connections
  authorization {{
    user: route_user
    # ./util/mkpasswd -p T0pS3cr3tT00!
    password: $2a$11$xH8dkGrty1cBNtZjhPeWJewu/YPbSU.rXJWmS6SFilOBXzmZoMk9m
    timeout: 0.5
  }}

  # Routes are actively solicited and connected to from this server.
  # Other servers can connect to us if they supply the correct credentials
  # in their routes definitions from above.

  routes = [
    nats-route://user1:pass1@{host}:{r1}
    nats-route://user2:pass2@{host}:{r2}
  ]
}}

# logging options
debug:   false
trace:   true
logtime: false
log_file: "{dir}/nats-server.log"

# pid file
pid_file: "{dir}/nats-server.pid"

# Some system overides

# max_connections
max_connections: 100

# max_subscriptions (per connection)
max_subscriptions: 1000

# maximum protocol control line
max_control_line: 512

# maximum payload
max_payload: 65536

# Duration the server can block on a socket write to a client.  Exceeding the
# deadline will designate a client as a slow consumer.
write_deadline: "2s"
"""


def _derek(s):
    return connected(s, user="derek", **{"pass": "T0pS3cr3t"})


def _denied(s, **creds):
    c = Client(s.port)
    c.connect(**creds)
    c.expect(b"-ERR 'Authorization Violation'\r\n", 5)
    c.close()


def test_seed_main_example():
    d = tempfile.mkdtemp(prefix="gnatsd-seed-")
    port, mport, cport = free_port(), free_port(), free_port()
    conf = MAIN.format(host=HOST, port=port, mport=mport, cport=cport, r1=free_port(),
                       r2=free_port(), dir=d)
    with Server(config=conf, port=port) as s:
        s.mport = mport
        i = s.client().info
        assert i["auth_required"] is True and i["max_payload"] == 65536, i
        v = wait_until(lambda: s.varz(), 5, what="varz")
        assert v["max_connections"] == 100 and v["max_control_line"] == 512, v
        assert v["write_deadline"] == 2 * 10**9 and v["auth_timeout"] == 1, v
        assert v["cluster"]["cluster_port"] == cport, v["cluster"]
        assert open(os.path.join(d, "nats-server.pid")).read() == str(s.proc.pid)
        _denied(s, user="derek", **{"pass": "wrong"})
        _denied(s)
        c = _derek(s)
        # max_subscriptions: 1000
        c.send("".join("SUB s.%d %d\r\n" % (n, n) for n in range(1000)))
        c.ping_pong()
        c.send("SUB s.over 1001\r\n")
        c.expect(b"-ERR 'maximum subscriptions exceeded'\r\n", 5)
        c.close()
        # max_control_line: 512
        c = _derek(s)
        c.send("SUB " + "x" * 600 + " 1\r\n")
        c.expect(b"-ERR 'maximum control line exceeded'\r\n", 5)
        c.close()
        # max_payload: 65536
        c = _derek(s)
        c.send("PUB big 65537\r\n")
        c.expect(b"-ERR 'Maximum Payload Violation'\r\n", 5)
        c.close()
        # the cluster listener is there, and protected
        r = Client(cport, read_info=True)
        assert r.info.get("auth_required") is True, r.info
        r.close()
        logf = os.path.join(d, "nats-server.log")
        wait_until(lambda: "[TRC]" in open(logf).read(), 5, what="trace lines in log_file")
        lines = open(logf).read().splitlines()
        assert all(re.match(r"^\[\d+\] \[(INF|TRC|WRN|ERR)\] ", l) for l in lines), lines[:5]
        assert not any("[DBG]" in l for l in lines)
        assert s.log().strip() == "", s.log()
    shutil.rmtree(d, ignore_errors=True)


def test_seed_single_user_example():
    conf = "authorization {\n  user:        derek\n  password: T0pS3cr3t\n  timeout:  1\n}\n"
    with Server(config=conf) as s:
        _derek(s).close()
        _denied(s, user="derek", **{"pass": "nope"})
        assert "Plaintext passwords detected" in s.log()


def test_seed_token_examples():
    plain = ("authorization {\n  #cleartext is supported but it is recommended you encrypt tokens "
             "with util/mkpasswd.go\n  token:   S3Cr3T0k3n!\n  timeout: 1\n}\n")
    hashed = ("authorization {\n  # You can generate the token using /util/mkpasswd.go\n"
              "  token:    $2a$11$UP3xizk94sWF9SHF/wkklOfBT9jphTGNrhZqz2OHoBdk9yO1kvErG\n"
              "  timeout: 1\n}\n")
    for conf in (plain, hashed):
        with Server(config=conf) as s:
            connected(s, auth_token="S3Cr3T0k3n!").close()
            _denied(s, auth_token="S3Cr3T0k3n")
            _denied(s)


MULTI = """authorization {
  ADMIN = {
    publish = ">"
    subscribe = ">"
  }
  REQUESTOR = {
    publish = ["req.foo", "req.bar"]
    subscribe = "_INBOX.>"
  }
  RESPONDER = {
    subscribe = ["req.foo", "req.bar"]
    publish = "_INBOX.>"
  }
  DEFAULT_PERMISSIONS = {
    publish = "SANDBOX.*"
    subscribe = ["PUBLIC.>", "_INBOX.>"]
  }

  PASS: abcdefghijklmnopqrstuvwxwz0123456789
  users = [
    {user: joe,     password: foo,   permissions: $ADMIN}
    {user: alice,   password: bar,   permissions: $REQUESTOR}
    {user: bob,     password: $PASS, permissions: $RESPONDER}
    {user: charlie, password: bar}
  ]
  default_permissions = $DEFAULT_PERMISSIONS
}
"""


def _user(s, name, pw):
    return connected(s, user=name, **{"pass": pw})


def _pub_ok(c, subj):
    c.send("PUB %s 1\r\nx\r\n" % subj)
    assert c.sync() == b"", "publish to %s refused" % subj


def _pub_denied(c, subj):
    c.send("PUB %s 1\r\nx\r\n" % subj)
    c.expect(("-ERR 'Permissions Violation for Publish to \"%s\"'\r\n" % subj).encode())


def _sub_ok(c, subj, sid=1):
    c.send("SUB %s %d\r\n" % (subj, sid))
    assert c.sync() == b"", "subscribe to %s refused" % subj


def _sub_denied(c, subj, sid=1):
    c.send("SUB %s %d\r\n" % (subj, sid))
    c.expect(("-ERR 'Permissions Violation for Subscription to \"%s\"'\r\n" % subj).encode())


def test_seed_multi_user_permissions():
    with Server(config=MULTI) as s:
        joe = _user(s, "joe", "foo")
        _pub_ok(joe, "anything.at.all")
        _sub_ok(joe, "x.>")
        alice = _user(s, "alice", "bar")
        bob = _user(s, "bob", "abcdefghijklmnopqrstuvwxwz0123456789")
        charlie = _user(s, "charlie", "bar")
        _denied(s, user="bob", **{"pass": "$PASS"})
        # request/reply between alice (REQUESTOR) and bob (RESPONDER)
        _sub_ok(bob, "req.foo", 1)
        _sub_ok(alice, "_INBOX.a1", 2)
        alice.send("PUB req.foo _INBOX.a1 3\r\nask\r\n")
        _, _, reply, payload = bob.read_msgs(1)[0]
        assert reply == b"_INBOX.a1" and payload == b"ask"
        bob.send("PUB _INBOX.a1 6\r\nanswer\r\n")
        assert alice.read_msgs(1)[0][3] == b"answer"
        _pub_denied(alice, "other")
        _sub_denied(alice, "req.foo", 5)
        _pub_denied(bob, "req.bar")
        _sub_denied(bob, "PUBLIC.x", 6)
        # charlie inherits default_permissions
        _pub_ok(charlie, "SANDBOX.x")
        _pub_denied(charlie, "SANDBOX.x.y")
        _sub_ok(charlie, "PUBLIC.>", 1)
        _sub_denied(charlie, "req.foo", 2)
        for c in (joe, alice, bob, charlie):
            c.ping_pong()  # violations do not close connections
            c.close()


ALLOW_DENY = """authorization {
    myUserPerms = {
      publish = {
        allow = "*.*"
        deny = ["SYS.*", "bar.baz", "foo.*"]
      }
      subscribe = {
        allow = ["foo.*", "bar"]
        deny = "foo.baz"
      }
    }
    users = [
        {user: myUser, password: pwd, permissions: $myUserPerms}
    ]
}
"""


def test_seed_allow_deny_permissions():
    with Server(config=ALLOW_DENY) as s:
        c = _user(s, "myUser", "pwd")
        _pub_ok(c, "a.b")
        for subj in ("SYS.x", "bar.baz", "foo.x", "onetoken", "a.b.c"):
            _pub_denied(c, subj)
        _sub_ok(c, "foo.bar", 1)
        _sub_ok(c, "bar", 2)
        _sub_denied(c, "foo.baz", 3)
        _sub_denied(c, "baz", 4)
        c.close()


def test_seed_cluster_seed_node():
    mport, cport = free_port(), free_port()
    seed = "# Cluster Seed Node\n\nhttp: %d\n\ncluster {\n  listen: %s:%d\n}\n" % (mport, HOST, cport)
    with Server(config=seed, args=["-D"]) as s:
        s.wait_log(r"\[INF\] Listening for route connections on %s:%d" % (HOST, cport))
        wait_until(lambda: _varz(mport), 5, what="monitor on http port")
        p2, c2 = free_port(), free_port()
        other = Server(args=["-p", str(p2), "-cluster", "nats://%s:%d" % (HOST, c2),
                             "-routes", "nats://%s:%d" % (HOST, cport), "-D"], port=p2,
                       listen_flags=False)
        with other:
            wait_until(lambda: _varz(mport).get("routes") == 1, 10, what="route to the seed")
            sub = connected(s)
            sub.send("SUB hello 1\r\n")
            sub.ping_pong()
            pub = connected(other)
            deadline = time.monotonic() + 5
            while True:  # wait for the interest to propagate
                pub.send("PUB hello 2\r\nhi\r\n")
                pub.ping_pong()
                got = sub.read_for(0.2)
                if b"MSG hello 1 2\r\nhi\r\n" in got or time.monotonic() > deadline:
                    break
            assert b"MSG hello 1 2\r\nhi\r\n" in got, got
    # the port-only form of the cluster block
    cport = free_port()
    with Server(config="cluster {\n  port: %d\n}\n" % cport) as s:
        s.wait_log(r"Listening for route connections on 0\.0\.0\.0:%d" % cport)


def _varz(mport):
    try:
        return http_json(mport, "/varz", 2)
    except Exception:
        return {}


EDGE_CLOUD = """cluster {{
  listen: {host}:{cport}

  authorization {{
    user: ruser
    # bcrypted hash of "top_secret"
    password: $2a$11$UaoHwUEqHaMwqo6L4kM2buOBnGFnSCWxNXY87hl.kCERqKK8WAXM.
    timeout: 3
  }}

  permissions {{
    import:{imp}
    export:{exp}
  }}

  routes = [{routes}]
}}
"""


def test_seed_edge_cloud_route_permissions():
    ec, cc = free_port(), free_port()
    edge_conf = EDGE_CLOUD.format(host=HOST, cport=ec, imp='["_INBOX.>", "global.>"]',
                                  exp='["_INBOX.>", "global.>", "sensors.>"]',
                                  routes="nats-route://ruser:top_secret@%s:%d" % (HOST, cc))
    cloud_conf = EDGE_CLOUD.format(host=HOST, cport=cc, imp='["_INBOX.>", "global.>", "sensors.>"]',
                                   exp='["_INBOX.>", "global.>"]', routes="")
    with Server(config=cloud_conf, monitor=True) as cloud, Server(config=edge_conf) as edge:
        wait_until(lambda: cloud.varz().get("routes") == 1, 10, what="edge-cloud route")
        at_cloud = connected(cloud)
        at_edge = connected(edge)
        for c in (at_cloud, at_edge):
            c.send("SUB global.x 1\r\nSUB sensors.t 2\r\n")
            c.ping_pong()
        # the route may be re-made once while the dynamic cluster names settle:
        # wait until global.x flows edge -> cloud
        deadline = time.monotonic() + 10
        while True:
            at_edge.send("PUB global.x 5\r\nprobe\r\n")
            at_edge.sync()
            got = at_cloud.read_for(0.3)
            if b"probe" in got or time.monotonic() > deadline:
                break
        assert b"probe" in got, "no route traffic"
        time.sleep(0.3)
        at_edge.read_for(0.2)
        at_cloud.read_for(0.2)
        # global.> flows both ways
        at_edge.send("PUB global.x 1\r\ne\r\n")
        at_cloud.send("PUB global.x 1\r\nc\r\n")
        got_c = _payloads(at_cloud, 2)
        got_e = _payloads(at_edge, 2)
        assert sorted(got_c) == [b"c", b"e"] and sorted(got_e) == [b"c", b"e"], (got_c, got_e)
        # sensors.> only from edge to cloud
        at_edge.send("PUB sensors.t 1\r\nE\r\n")
        at_cloud.send("PUB sensors.t 1\r\nC\r\n")
        assert sorted(_payloads(at_cloud, 2)) == [b"C", b"E"]
        assert _payloads(at_edge, 1) == [b"E"]
        at_edge.expect_nothing(0.5)


def _payloads(c, n):
    return [m[3] for m in c.read_msgs(n, 5)]
