"""Delivery: subjects and wildcards, queue groups, UNSUB/auto-unsubscribe, echo,
headers (HPUB/HMSG), no responders (protocol.md §3-10, §18)."""

import collections
import re
import socket
import threading

from harness import Server, connected, wait_until


def _subscribe(s, *subs, **opts):
    """A quiet client with the given 'SUB ...' argument strings registered."""
    c = connected(s, **opts)
    c.send(b"".join(b"SUB " + x.encode() + b"\r\n" for x in subs))
    c.ping_pong()
    return c


def _publish(c, subject, payload, reply=None):
    c.send(b"PUB %s%s %d\r\n%s\r\n" % (subject, b" " + reply if reply else b"", len(payload), payload))


# --- subjects and wildcards ----------------------------------------------------------

def test_wildcard_matching_table():
    # the [verified] example of protocol.md §6.2
    with Server() as s:
        sub = _subscribe(s, "foo.* 1", "foo.> 2", "> 3", "*.* 4")
        p = connected(s)
        cases = [(b"foo.bar", {b"1", b"2", b"3", b"4"}),
                 (b"foo", {b"3"}),
                 (b"foo.bar.baz", {b"2", b"3"}),
                 (b"x.y", {b"3", b"4"})]
        for subj, sids in cases:
            _publish(p, subj, b"m")
            p.ping_pong()
            got = {m[1] for m in sub.read_msgs(len(sids))}
            assert got == sids, "%s: expected sids %s got %s" % (subj, sids, got)
            sub.expect_nothing(0.15)


def test_msg_carries_published_subject_not_wildcard():
    with Server() as s:
        sub = _subscribe(s, "a.*.c 9")
        p = connected(s)
        _publish(p, b"a.b.c", b"xy")
        sub.expect(b"MSG a.b.c 9 2\r\nxy\r\n")


def test_full_wildcard_needs_one_token():
    with Server() as s:
        sub = _subscribe(s, "foo.> 1")
        p = connected(s)
        _publish(p, b"foo", b"no")
        _publish(p, b"foo.a.b.c.d", b"yes")
        sub.expect(b"MSG foo.a.b.c.d 1 3\r\nyes\r\n")
        sub.expect_nothing(0.2)


def test_star_and_gt_inside_token_are_literal():
    with Server() as s:
        sub = _subscribe(s, "foo* 1", "a>b 2")
        p = connected(s)
        _publish(p, b"foox", b"1")
        _publish(p, b"foo*", b"2")
        _publish(p, b"a>b", b"3")
        sub.expect(b"MSG foo* 1 1\r\n2\r\nMSG a>b 2 1\r\n3\r\n")
        sub.expect_nothing(0.2)


def test_subjects_are_case_sensitive():
    with Server() as s:
        sub = _subscribe(s, "Foo 1")
        p = connected(s)
        _publish(p, b"foo", b"a")
        _publish(p, b"Foo", b"b")
        sub.expect(b"MSG Foo 1 1\r\nb\r\n")


def test_invalid_sub_subjects():
    with Server() as s:
        c = connected(s)
        for bad in (b"foo..bar", b".foo", b"foo.", b".", b"foo.>.bar", b">.foo", b"a.>.>"):
            c.send(b"SUB " + bad + b" 1\r\nPING\r\n")
            c.expect(b"-ERR 'Invalid Subject'\r\nPONG\r\n")
        # nothing was subscribed: publish to what would have matched
        c.send(b"PUB foo.x.bar 1\r\nx\r\nPING\r\n")
        c.expect(b"PONG\r\n")
        for good in (b"foo.*.bar", b"*", b">", b"foo.>", b"*.>"):
            c.send(b"SUB " + good + b" 2\r\nUNSUB 2\r\nPING\r\n")
            c.expect(b"PONG\r\n")


def test_reply_subject_is_forwarded():
    with Server() as s:
        sub = _subscribe(s, "req 1")
        p = connected(s)
        _publish(p, b"req", b"ping", reply=b"_INBOX.abc")
        sub.expect(b"MSG req 1 _INBOX.abc 4\r\nping\r\n")
        # the responder answers on the reply subject
        p.send(b"SUB _INBOX.abc 7\r\nPING\r\n")
        p.expect(b"PONG\r\n")
        _publish(sub, b"_INBOX.abc", b"pong")
        p.expect(b"MSG _INBOX.abc 7 4\r\npong\r\n")


def test_two_matching_subs_same_client_get_two_copies():
    with Server() as s:
        sub = _subscribe(s, "foo 1", "foo 2", "* 3")
        p = connected(s)
        _publish(p, b"foo", b"x")
        got = sorted(m[1] for m in sub.read_msgs(3))
        assert got == [b"1", b"2", b"3"], got


def test_fanout_to_many_clients():
    with Server() as s:
        subs = [_subscribe(s, "fan %d" % i) for i in range(10)]
        p = connected(s)
        _publish(p, b"fan", b"all")
        for i, c in enumerate(subs):
            c.expect(b"MSG fan %d 3\r\nall\r\n" % i)


def test_order_preserved_per_publisher():
    with Server() as s:
        sub = _subscribe(s, "seq 1")
        p = connected(s)
        n = 500
        p.send(b"".join(b"PUB seq %d\r\n%d\r\n" % (len(str(i)), i) for i in range(n)))
        got = [int(m[3]) for m in sub.read_msgs(n, timeout=10)]
        assert got == list(range(n)), "out of order"


def test_large_payload_roundtrip():
    with Server() as s:
        sub = _subscribe(s, "big 1")
        p = connected(s)
        payload = bytes(range(256)) * 4096      # exactly 1 MiB = default max_payload
        _publish(p, b"big", payload)
        msgs = sub.read_msgs(1, timeout=10)
        assert msgs[0][3] == payload, "payload corrupted"


# --- queue groups ----------------------------------------------------------------------

def test_queue_group_exactly_one_member_and_distribution():
    n = 1000
    with Server() as s:
        members = [_subscribe(s, "work q %d" % i) for i in range(3)]
        plain = _subscribe(s, "work 100")
        p = connected(s)
        p.send(b"".join(b"PUB work 1\r\nx\r\n" for _ in range(n)))
        p.ping_pong()
        plain_msgs = plain.read_msgs(n, timeout=10)
        assert len(plain_msgs) == n
        counts = []
        for c in members:
            data = c.sync()     # all deliveries to c precede its PONG
            counts.append(data.count(b"MSG work "))
        assert sum(counts) == n, "each message must go to exactly one member: %s" % counts
        # uniform random pick: each of 3 members expects ~333; 200 is > 10 sigma away
        assert min(counts) > 200, "distribution not random enough: %s" % counts


def test_queue_groups_independent():
    with Server() as s:
        a1 = _subscribe(s, "job A 1")
        a2 = _subscribe(s, "job A 2")
        b1 = _subscribe(s, "job B 1")
        lower = _subscribe(s, "job a 1")   # queue names are case-sensitive
        p = connected(s)
        n = 50
        p.send(b"".join(b"PUB job 1\r\ny\r\n" for _ in range(n)))
        p.ping_pong()
        got = {}
        for name, c in (("a1", a1), ("a2", a2), ("b1", b1), ("lower", lower)):
            got[name] = c.sync().count(b"MSG job ")
        assert got["a1"] + got["a2"] == n, got
        assert got["b1"] == n and got["lower"] == n, got


def test_queue_group_across_wildcard_subjects():
    # grouping is by queue name across all matching subjects
    with Server() as s:
        x = _subscribe(s, "orders.* g 1")
        y = _subscribe(s, "orders.> g 2")
        p = connected(s)
        n = 40
        p.send(b"".join(b"PUB orders.new 1\r\nz\r\n" for _ in range(n)))
        p.ping_pong()
        cx = x.sync().count(b"MSG orders.new")
        cy = y.sync().count(b"MSG orders.new")
        assert cx + cy == n, (cx, cy)


def test_queue_unsubscribed_member_gets_nothing():
    with Server() as s:
        a = _subscribe(s, "qq g 1")
        b = _subscribe(s, "qq g 2")
        b.send(b"UNSUB 2\r\n")
        b.ping_pong()
        p = connected(s)
        p.send(b"".join(b"PUB qq 1\r\nz\r\n" for _ in range(20)))
        assert len(a.read_msgs(20)) == 20
        b.expect_nothing(0.3)


# --- UNSUB ----------------------------------------------------------------------------------

def test_unsub_stops_delivery():
    with Server() as s:
        sub = _subscribe(s, "u 1")
        p = connected(s)
        _publish(p, b"u", b"1")
        sub.expect(b"MSG u 1 1\r\n1\r\n")
        sub.send(b"UNSUB 1\r\n")
        sub.ping_pong()
        _publish(p, b"u", b"2")
        p.ping_pong()
        sub.expect_nothing(0.3)


def test_auto_unsubscribe_max():
    # [verified] SUB foo 1, UNSUB 1 2, three PUBs -> two MSGs
    with Server() as s:
        c = connected(s)
        c.send(b"SUB foo 1\r\nUNSUB 1 2\r\n")
        c.send(b"PUB foo 1\r\na\r\nPUB foo 1\r\nb\r\nPUB foo 1\r\nc\r\nPING\r\n")
        c.expect(b"MSG foo 1 1\r\na\r\nMSG foo 1 1\r\nb\r\nPONG\r\n")
        c.expect_nothing(0.2)


def test_auto_unsubscribe_counts_earlier_deliveries():
    with Server() as s:
        c = connected(s)
        c.send(b"SUB foo 1\r\nPUB foo 1\r\na\r\nPUB foo 1\r\nb\r\nPING\r\n")
        c.expect(b"MSG foo 1 1\r\na\r\nMSG foo 1 1\r\nb\r\nPONG\r\n")
        # max 3 with 2 already delivered: exactly one more
        c.send(b"UNSUB 1 3\r\nPUB foo 1\r\nc\r\nPUB foo 1\r\nd\r\nPING\r\n")
        c.expect(b"MSG foo 1 1\r\nc\r\nPONG\r\n")
        # max <= delivered: removed at once
        c.send(b"SUB bar 2\r\nPUB bar 1\r\ne\r\nUNSUB 2 1\r\nPUB bar 1\r\nf\r\nPING\r\n")
        c.expect(b"MSG bar 2 1\r\ne\r\nPONG\r\n")


def test_auto_unsubscribe_verbose_ok():
    with Server() as s:
        c = s.client()
        c.send(b"SUB foo 1\r\nUNSUB 1 1\r\nPUB foo 1\r\na\r\nPUB foo 1\r\nb\r\n")
        c.expect(b"+OK\r\n+OK\r\n+OK\r\nMSG foo 1 1\r\na\r\n+OK\r\n")
        c.expect_nothing(0.2)


def test_auto_unsubscribe_queue_member_counts_own_messages():
    with Server() as s:
        a = connected(s)
        a.send(b"SUB w g 1\r\nUNSUB 1 5\r\n")
        a.ping_pong()
        b = _subscribe(s, "w g 1")
        p = connected(s)
        n = 100
        p.send(b"".join(b"PUB w 1\r\nz\r\n" for _ in range(n)))
        p.ping_pong()
        ca = a.sync().count(b"MSG w ")
        cb = b.sync().count(b"MSG w ")
        assert ca == 5, "member with max 5 got %d" % ca
        assert ca + cb == n, (ca, cb)


# --- echo --------------------------------------------------------------------------------------

def test_echo_default_true():
    with Server() as s:
        c = connected(s)
        c.send(b"SUB e 1\r\nPUB e 1\r\nx\r\nPING\r\n")
        c.expect(b"MSG e 1 1\r\nx\r\nPONG\r\n")


def test_echo_false_others_still_receive():
    with Server() as s:
        me = connected(s, echo=False)
        other = _subscribe(s, "e 5")
        me.send(b"SUB e 1\r\nPUB e 2\r\nhi\r\nPING\r\n")
        me.expect(b"PONG\r\n")
        other.expect(b"MSG e 5 2\r\nhi\r\n")
        me.expect_nothing(0.2)
        # but messages from others do reach an echo:false client
        _publish(other, b"e", b"yo")
        me.expect(b"MSG e 1 2\r\nyo\r\n")


def test_echo_false_queue_moves_to_other_member():
    with Server() as s:
        me = connected(s, echo=False)
        me.send(b"SUB j g 1\r\n")
        me.ping_pong()
        other = _subscribe(s, "j g 2")
        n = 30
        me.send(b"".join(b"PUB j 1\r\nq\r\n" for _ in range(n)))
        me.ping_pong()
        assert len(other.read_msgs(n)) == n, "echo must not lose queue messages"
        me.expect_nothing(0.2)


# --- headers --------------------------------------------------------------------------------

HDR = b"NATS/1.0\r\nA:B\r\n\r\n"        # 17 bytes


def test_hpub_to_header_and_plain_subscribers():
    # transcript of §18: HMSG to header-aware subs, stripped MSG to others
    with Server() as s:
        hsub = _subscribe(s, "foo 1", headers=True)
        psub = _subscribe(s, "foo 1")
        p = connected(s, headers=True)
        p.send(b"HPUB foo 17 19\r\n" + HDR + b"hi\r\n")
        hsub.expect(b"HMSG foo 1 17 19\r\n" + HDR + b"hi\r\n")
        psub.expect(b"MSG foo 1 2\r\nhi\r\n")


def test_hpub_with_reply_and_empty_payload():
    with Server() as s:
        hsub = _subscribe(s, "foo 1", headers=True)
        p = connected(s, headers=True)
        p.send(b"HPUB foo rep 12 12\r\nNATS/1.0\r\n\r\n\r\n")
        hsub.expect(b"HMSG foo 1 rep 12 12\r\nNATS/1.0\r\n\r\n\r\n")


def test_plain_pub_to_header_subscriber_is_msg():
    with Server() as s:
        hsub = _subscribe(s, "foo 1", headers=True)
        p = connected(s)
        _publish(p, b"foo", b"plain")
        hsub.expect(b"MSG foo 1 5\r\nplain\r\n")


def test_hpub_zero_header_length_is_plain_msg():
    with Server() as s:
        hsub = _subscribe(s, "foo 1", headers=True)
        p = connected(s, headers=True)
        p.send(b"HPUB foo 0 2\r\nhi\r\n")
        hsub.expect(b"MSG foo 1 2\r\nhi\r\n")


def test_hpub_header_block_not_validated():
    with Server() as s:
        hsub = _subscribe(s, "foo 1", headers=True)
        p = connected(s, headers=True)
        p.send(b"HPUB foo 5 5\r\nhello\r\n")
        hsub.expect(b"HMSG foo 1 5 5\r\nhello\r\n")


def test_hpub_without_headers_support_silent_close():
    with Server() as s:
        c = connected(s)
        c.send(b"HPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n")
        c.expect_closed()


def test_hpub_header_larger_than_total_silent_close():
    with Server() as s:
        c = connected(s, headers=True)
        c.send(b"HPUB foo 12 5\r\n")
        c.expect_closed()


def test_hpub_bad_arg_count_silent_close():
    with Server() as s:
        c = connected(s, headers=True)
        c.send(b"HPUB foo 12\r\n")
        c.expect_closed()


def test_hpub_verbose_ok_and_pedantic():
    with Server() as s:
        c = s.client()
        c.send(b'CONNECT {"headers":true}\r\n')
        c.expect(b"+OK\r\n")
        c.send(b"HPUB foo.> 12 12\r\nNATS/1.0\r\n\r\n\r\n")
        c.expect(b"-ERR 'Invalid Publish Subject'\r\n+OK\r\n")


# --- no responders -----------------------------------------------------------------------------

def test_no_responders_503():
    with Server() as s:
        c = s.client()
        c.send(b'CONNECT {"verbose":false,"headers":true,"no_responders":true}\r\nSUB inbox 1\r\nPUB foo inbox 2\r\nhi\r\n')
        c.expect(b"HMSG inbox 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n")


def test_no_responders_not_sent_when_someone_listens():
    with Server() as s:
        responder = _subscribe(s, "svc 1")
        c = connected(s, headers=True, no_responders=True)
        c.send(b"SUB inbox 1\r\nPUB svc inbox 2\r\nhi\r\nPING\r\n")
        c.expect(b"PONG\r\n")
        responder.expect(b"MSG svc 1 inbox 2\r\nhi\r\n")
        c.expect_nothing(0.3)


def test_no_responders_needs_reply_and_option():
    with Server() as s:
        # no reply subject: nothing
        c = connected(s, headers=True, no_responders=True)
        c.send(b"SUB inbox 1\r\nPUB foo 2\r\nhi\r\nPING\r\n")
        c.expect(b"PONG\r\n")
        c.expect_nothing(0.2)
        # option off: nothing
        d = connected(s, headers=True)
        d.send(b"SUB inbox 1\r\nPUB foo inbox 2\r\nhi\r\nPING\r\n")
        d.expect(b"PONG\r\n")
        d.expect_nothing(0.2)


def test_no_responders_echo_false_self_only():
    with Server() as s:
        c = connected(s, headers=True, no_responders=True, echo=False)
        c.send(b"SUB inbox 1\r\nSUB foo 2\r\nPUB foo inbox 2\r\nhi\r\n")
        c.expect(b"HMSG inbox 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n")


def test_unsub_zero_or_invalid_max_is_immediate():
    with Server() as s:
        for arg in (b"0", b"abc", b"1234567890"):
            c = connected(s)
            c.send(b"SUB foo 1\r\nUNSUB 1 " + arg + b"\r\nPUB foo 1\r\nx\r\nPING\r\n")
            c.expect(b"PONG\r\n")
            c.expect_nothing(0.1)


def test_queue_names_are_literal():
    # queue names are not subjects: "q.*" and ">" are just names
    with Server() as s:
        c = connected(s)
        c.send(b"SUB foo q.* 1\r\nSUB foo > 2\r\nPUB foo 1\r\nx\r\nPING\r\n")
        got = sorted(m[1] for m in c.read_msgs(2))
        assert got == [b"1", b"2"], "two distinct groups expected: %r" % got
        c.expect(b"PONG\r\n")


def test_queue_sub_invalid_subject():
    with Server() as s:
        c = connected(s)
        c.send(b"SUB foo..x q 1\r\nPING\r\n")
        c.expect(b"-ERR 'Invalid Subject'\r\nPONG\r\n")


def test_queue_sub_verbose_ok_and_reply():
    with Server() as s:
        c = s.client()
        c.send(b"SUB svc workers 1\r\n")
        c.expect(b"+OK\r\n")
        c.send(b"PUB svc inbox.1 3\r\nabc\r\n")
        c.expect(b"+OK\r\nMSG svc 1 inbox.1 3\r\nabc\r\n")


def _raw_reader(sock, sink, stop):
    """Appends everything sock receives to sink (a list) until EOF or stop is set."""
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            b = sock.recv(1 << 20)
        except socket.timeout:
            continue
        except OSError:
            return
        if not b:
            return
        sink.append(b)


def test_fanout_across_workers_in_order_while_a_subscriber_leaves():
    """Two workers: subscribers owned by the publisher's worker and by the other one
    (whose bulk writes that worker does itself). Every remaining subscriber gets every
    message once and in order while another one disconnects mid-stream."""
    n, size = 30000, 128
    with Server(args=["--workers", "2"]) as s:
        subs, sinks, threads = [], [], []
        stop = threading.Event()
        for i in range(4):
            c = connected(s)
            c.send(b"SUB fan %d\r\n" % i)
            c.ping_pong()
            subs.append(c)
        for c in subs:
            sink = []
            t = threading.Thread(target=_raw_reader, args=(c.sock, sink, stop), daemon=True)
            t.start()
            sinks.append(sink)
            threads.append(t)
        pub = connected(s)
        body = b"".join(b"PUB fan %d\r\n%s\r\n" % (size, (b"%08d" % k).ljust(size, b"x"))
                        for k in range(n))
        half = len(body) // 2
        pub.send(body[:half])
        subs[2].close()  # leaves while deliveries to it may be in flight
        pub.send(body[half:])
        pub.ping_pong(timeout=20)
        msg = re.compile(rb"MSG fan (\d) %d\r\n(\d{8})x*\r\n" % size)

        def stream(i):
            # the server's first PING (2 s after CONNECT, as the reference's) may
            # come between messages on a slow machine: only MSGs are counted
            return b"".join(sinks[i]).replace(b"PING\r\n", b"")
        for i in (0, 1, 3):
            want = n * (len("MSG fan 0 128\r\n") + size + 2)
            wait_until(lambda: len(stream(i)) >= want, timeout=20,
                       what="subscriber %d got every message" % i)
            got = stream(i)
            seqs = [int(m.group(2)) for m in msg.finditer(got)]
            assert len(got) == want, "subscriber %d: %d bytes, want %d" % (i, len(got), want)
            assert seqs == list(range(n)), "subscriber %d: lost or reordered" % i
        stop.set()
        for t in threads:
            t.join(2)
        assert s.alive()


def test_auto_unsubscribes_on_other_workers_race_the_owners_unsubs():
    # Deliverers on other workers close subs at their limit and put them on the owner's
    # dead list while the owner UNSUBs some of the same subs and then reuses every sid
    # (nats/subs.c sub_discard, nats/deliver.c auto_unsub; ASan and TSan runs check the
    # lifetimes). Each sub gets at most its one message, the even ones exactly one.
    n = 400
    with Server() as s:
        sub = connected(s)
        pubs = [connected(s) for _ in range(3)]
        for rnd in range(4):
            sub.send(b"".join(b"SUB x.%d %d\r\nUNSUB %d 1\r\n" % (i, i, i) for i in range(n)))
            sub.ping_pong()
            ts = [threading.Thread(target=p.send, args=(b"".join(
                b"PUB x.%d 1\r\n%d\r\n" % (i, rnd) for i in range(n)),)) for p in pubs]
            for t in ts:
                t.start()
            sub.send(b"".join(b"UNSUB %d\r\n" % i for i in range(1, n, 2)))
            for t in ts:
                t.join()
            for p in pubs:
                p.ping_pong()
            got = collections.Counter(re.findall(rb"MSG x\.\d+ (\d+) 1\r\n", sub.sync()))
            assert all(v == 1 for v in got.values()), [k for k, v in got.items() if v > 1][:5]
            assert all(got[b"%d" % i] == 1 for i in range(0, n, 2)), "round %d: %d of %d" % (
                rnd, sum(got[b"%d" % i] for i in range(0, n, 2)), n // 2)
            # every sub is gone: nothing more arrives, and the next round reuses the sids
            pubs[0].send(b"".join(b"PUB x.%d 1\r\nz\r\n" % i for i in range(n)))
            pubs[0].ping_pong()
            assert b"MSG" not in sub.sync()
