"""Client protocol: framing, INFO, CONNECT options, -ERR classes (protocol.md §1-4, 11, 12, 18)."""

import json
import re

from harness import Server, Client, connected

EXPECTED_INFO_KEYS = ["server_id", "server_name", "version", "proto", "go", "host",
                      "port", "headers", "max_payload", "client_id", "client_ip"]


def _silent_close(s, data, connect=True):
    """Send data (after a quiet CONNECT) and require a close with no bytes at all."""
    c = s.client()
    if connect:
        c.connect()
    c.send(data)
    c.expect_closed(3)


def _err_close(s, data, err, connect=True):
    """Send data and require exactly `-ERR '<err>'` followed by a close."""
    c = s.client()
    if connect:
        c.connect()
    c.send(data)
    c.expect(b"-ERR '" + err.encode() + b"'\r\n")
    c.expect_closed(3)


# --- the README telnet session ---------------------------------------------

def test_readme_telnet_session():
    # seed README: INFO first, then SUB/PUB without CONNECT. 2.9 (and we) add
    # +OK for each op because verbose is on before any CONNECT.
    with Server() as s:
        c = s.client()
        assert c.info_line.startswith(b"INFO {")
        c.send(b"SUB foo 1\r\n")
        c.expect(b"+OK\r\n")
        c.send(b"PUB foo 11\r\nHello World\r\n")
        c.expect(b"+OK\r\nMSG foo 1 11\r\nHello World\r\n")
        c.expect_nothing(0.3)


def test_telnet_style_lf_only():
    # telnet-like clients may send bare LF; control lines accept it
    with Server() as s:
        c = s.client()
        c.send(b"SUB foo 1\nPUB foo 2\nhi\r\nPING\n")
        c.expect(b"+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\nPONG\r\n")


# --- INFO ---------------------------------------------------------------------

def test_info_is_first_and_well_formed():
    with Server() as s:
        c = s.client()
        line = c.info_line
        assert line.endswith(b"} \r\n"), "INFO must end with a space before CRLF: %r" % line[-10:]
        body = line[5:-3]
        # compact Go-style JSON: no space after separators
        assert b'": ' not in body and b'", "' not in body, "INFO JSON not compact: %r" % body
        info = json.loads(body)
        keys = [k for k in info if k != "git_commit"]
        assert keys == EXPECTED_INFO_KEYS, "INFO keys/order: %r" % list(info)
        if "git_commit" in info:
            assert list(info).index("git_commit") == 4, "git_commit must follow proto"


def test_info_field_values():
    with Server() as s:
        c = s.client()
        i = c.info
        assert isinstance(i["server_id"], str) and len(i["server_id"]) >= 16, i["server_id"]
        assert i["server_name"] == i["server_id"], "server_name defaults to server_id"
        assert i["version"] == "2.9.10", i["version"]
        assert i["proto"] == 1 and type(i["proto"]) is int
        assert isinstance(i["go"], str) and i["go"]
        assert i["host"] == "127.0.0.1", i["host"]
        assert i["port"] == s.port and type(i["port"]) is int
        assert i["headers"] is True
        assert i["max_payload"] == 1048576
        assert type(i["client_id"]) is int and i["client_id"] > 0
        assert i["client_ip"] == "127.0.0.1"
        for absent in ("auth_required", "tls_required", "tls_verify", "connect_urls", "ldm", "cluster"):
            assert absent not in i, "%s must be omitted on a plain server" % absent


def test_info_client_id_increases_and_server_id_stable():
    with Server() as s:
        a, b, c = s.client(), s.client(), s.client()
        ids = [x.info["client_id"] for x in (a, b, c)]
        assert ids[0] < ids[1] < ids[2], ids
        assert a.info["server_id"] == b.info["server_id"] == c.info["server_id"]
    with Server() as s2:
        assert s2.client().info["server_id"] != a.info["server_id"], "server_id must be unique per start"


def test_info_sent_without_client_sending_anything():
    # INFO arrives on accept, before any client byte (Client reads it first)
    with Server() as s:
        c = Client(s.port, read_info=False)
        c.expect_re(rb"INFO \{[^\r\n]*\} \r\n", 2)


# --- CONNECT and verbose --------------------------------------------------------

def test_verbose_default_before_connect():
    with Server() as s:
        c = s.client()
        c.send(b"SUB foo 1\r\nUNSUB 1\r\nUNSUB 99\r\nPING\r\n")
        c.expect(b"+OK\r\n+OK\r\n+OK\r\nPONG\r\n")


def test_connect_empty_object_keeps_verbose():
    with Server() as s:
        c = s.client()
        c.send(b"CONNECT {}\r\n")
        c.expect(b"+OK\r\n")
        c.send(b"PING\r\n")
        c.expect(b"PONG\r\n")


def test_connect_verbose_false_silences_ok():
    with Server() as s:
        c = s.client()
        c.send(b'CONNECT {"verbose":false}\r\nSUB foo 1\r\nPUB foo 1\r\nx\r\nUNSUB 1\r\nPING\r\n')
        c.expect(b"MSG foo 1 1\r\nx\r\nPONG\r\n")


def test_second_connect_is_reprocessed():
    with Server() as s:
        c = s.client()
        c.send(b'CONNECT {"verbose":false}\r\nSUB a 1\r\nPING\r\n')
        c.expect(b"PONG\r\n")
        c.send(b'CONNECT {"verbose":true}\r\n')
        c.expect(b"+OK\r\n")
        c.send(b"SUB b 2\r\n")
        c.expect(b"+OK\r\n")


def test_connect_without_space_and_unknown_keys():
    with Server() as s:
        c = s.client()
        c.send(b'CONNECT{"verbose":true,"whatever":[1,2],"name":"x","lang":"py","version":"1"}\r\n')
        c.expect(b"+OK\r\n")


def test_pub_ok_comes_before_own_msg():
    # transcript 1 of §18
    with Server() as s:
        c = s.client()
        c.send(b"SUB foo 1\r\n")
        c.expect(b"+OK\r\n")
        c.send(b"PUB foo 2\r\nhi\r\n")
        c.expect(b"+OK\r\nMSG foo 1 2\r\nhi\r\n")


def test_transcript_case_and_whitespace():
    # transcript 2 of §18: case-insensitive ops, tabs and runs of spaces
    with Server() as s:
        c = s.client()
        c.send(b'CONNECT {"verbose":false,"pedantic":false}\r\nSuB\tfoo\t\t1\r\nPUB   foo    2\r\nhi\r\nPiNg\r\n')
        c.expect(b"MSG foo 1 2\r\nhi\r\nPONG\r\n")


def test_lowercase_ops_and_trailing_whitespace():
    with Server() as s:
        c = s.client()
        c.send(b'connect {"verbose":false}\r\nsub foo 1 \r\npub foo  1 \r\nz\r\nping\r\n')
        c.expect(b"MSG foo 1 1\r\nz\r\nPONG\r\n")


def test_pedantic_invalid_publish_subject_still_delivered():
    # transcript 3 of §18 plus: the message is still delivered
    with Server() as s:
        c = s.client()
        c.send(b"CONNECT {}\r\n")
        c.expect(b"+OK\r\n")
        c.send(b"PUB foo.* 2\r\nhi\r\n")
        c.expect(b"-ERR 'Invalid Publish Subject'\r\n+OK\r\n")
        sub = connected(s)
        sub.send(b"SUB foo.* 1\r\nPING\r\n")
        sub.expect(b"PONG\r\n")
        c.send(b"PUB foo.* 2\r\nhi\r\nPING\r\n")
        c.expect(b"-ERR 'Invalid Publish Subject'\r\n+OK\r\nPONG\r\n")
        sub.expect(b"MSG foo.* 1 2\r\nhi\r\n")


def test_pedantic_false_wildcard_publish_no_error():
    with Server() as s:
        sub = connected(s)
        sub.send(b"SUB foo.* 1\r\nSUB > 2\r\nPING\r\n")
        sub.expect(b"PONG\r\n")
        p = connected(s)
        p.send(b"PUB foo.* 2\r\nhi\r\nPING\r\n")
        p.expect(b"PONG\r\n")
        got = sorted(m[1] for m in sub.read_msgs(2))
        assert got == [b"1", b"2"], got


def test_pedantic_empty_token_publish():
    with Server() as s:
        c = s.client()
        c.send(b'CONNECT {"verbose":false,"pedantic":true}\r\nPUB foo..bar 1\r\nx\r\nPING\r\n')
        c.expect(b"-ERR 'Invalid Publish Subject'\r\nPONG\r\n")


def test_connect_echo_false_self_not_delivered():
    with Server() as s:
        c = connected(s, echo=False)
        c.send(b"SUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n")
        c.expect(b"PONG\r\n")
        c.expect_nothing(0.3)


# --- PING/PONG ------------------------------------------------------------------

def test_ping_pong_and_trailing_junk():
    with Server() as s:
        c = s.client()
        c.send(b"PING\r\nPING foo bar\r\nPINGX\r\n")
        c.expect(b"PONG\r\nPONG\r\nPONG\r\n")


def test_client_pong_info_ok_are_ignored():
    with Server() as s:
        c = s.client()
        c.send(b'PONG\r\nINFO {"foo":1}\r\n+OK\r\nPING\r\n')
        c.expect(b"PONG\r\n")
        c.expect_nothing(0.3)


def test_pipelined_many_ops_one_write():
    with Server() as s:
        c = connected(s)
        n = 200
        data = b"SUB foo 1\r\n" + b"".join(b"PUB foo 3\r\n%03d\r\n" % i for i in range(n)) + b"PING\r\n"
        c.send(data)
        msgs = c.read_msgs(n)
        assert [m[3] for m in msgs] == [b"%03d" % i for i in range(n)], "order/content"
        c.expect(b"PONG\r\n")


def test_byte_by_byte_split():
    # every op split at every byte must still parse (sent one byte per write)
    with Server() as s:
        c = connected(s, headers=True)
        data = b"SUB foo 1\r\nPUB foo bar 5\r\nhello\r\nHPUB x 12 12\r\nNATS/1.0\r\n\r\n\r\nPING\r\n"
        import time
        for i in range(len(data)):
            c.send(data[i:i + 1])
            if i % 8 == 0:
                time.sleep(0.002)
        c.expect(b"MSG foo 1 bar 5\r\nhello\r\nPONG\r\n", 5)


def test_zero_length_payload_and_leading_zeros():
    with Server() as s:
        c = connected(s)
        c.send(b"SUB foo 1\r\nPUB foo 0\r\n\r\nPUB foo 002\r\nab\r\nPING\r\n")
        c.expect(b"MSG foo 1 0\r\n\r\n")
        # the reference copies the size text verbatim ("MSG foo 1 002"); a
        # normalised "2" is equally valid for clients, so accept both
        c.expect_re(rb"MSG foo 1 (002|2)\r\nab\r\nPONG\r\n")


def test_payload_with_crlf_inside():
    with Server() as s:
        c = connected(s)
        c.send(b"SUB foo 1\r\nPUB foo 6\r\na\r\nb\r\n\r\nPING\r\n")
        c.expect(b"MSG foo 1 6\r\na\r\nb\r\n\r\nPONG\r\n")


def test_binary_and_utf8_subjects():
    with Server() as s:
        c = connected(s)
        subj = "préfixe.ü\x01".encode("utf-8")
        c.send(b"SUB " + subj + b" s1\r\nPUB " + subj + b" 3\r\n\x00\xff\x01\r\nPING\r\n")
        c.expect(b"MSG " + subj + b" s1 3\r\n\x00\xff\x01\r\nPONG\r\n")


def test_non_numeric_sid_and_duplicate_sid():
    with Server() as s:
        c = s.client()
        c.send(b"SUB foo abc\r\nSUB bar abc\r\n")
        c.expect(b"+OK\r\n+OK\r\n")          # duplicate sid: +OK, sub unchanged
        c.send(b"PUB bar 1\r\nx\r\nPUB foo 1\r\ny\r\n")
        c.expect(b"+OK\r\n+OK\r\nMSG foo abc 1\r\ny\r\n")


# --- E-close --------------------------------------------------------------------

def test_unknown_op_closes():
    with Server() as s:
        _err_close(s, b"FOO bar\r\n", "Unknown Protocol Operation")


def test_missing_space_after_op_closes():
    with Server() as s:
        for op in (b"PUB\r\n", b"SUB\r\n", b"UNSUB\r\n", b"HPUB\r\n"):
            _err_close(s, op, "Unknown Protocol Operation")


def test_empty_line_and_leading_whitespace_close():
    with Server() as s:
        _err_close(s, b"\r\n", "Unknown Protocol Operation")
        _err_close(s, b" PING\r\n", "Unknown Protocol Operation")
        # valid ops before the bad line are still answered
        c = s.client()
        c.send(b"PINGX\r\n\r\n")
        c.expect(b"PONG\r\n-ERR 'Unknown Protocol Operation'\r\n")
        c.expect_closed()


def test_server_only_ops_rejected():
    with Server() as s:
        for op in (b"MSG foo 1 2\r\nhi\r\n", b"HMSG foo 1 2 2\r\nhi\r\n", b"RS+ $G foo\r\n",
                   b"RMSG $G foo 2\r\nhi\r\n", b"LS+ foo\r\n", b"A+ foo\r\n"):
            _err_close(s, op, "Unknown Protocol Operation")


def test_payload_longer_than_declared_closes():
    # transcript 4 of §18
    with Server() as s:
        _err_close(s, b"PUB foo 2\r\nhello\r\n", "Unknown Protocol Operation")


def test_payload_terminated_by_lone_lf_closes():
    with Server() as s:
        _err_close(s, b"PUB foo 2\r\nhi\nPING\r\n", "Unknown Protocol Operation")


def test_connect_invalid_protocol():
    with Server() as s:
        _err_close(s, b'CONNECT {"protocol":2}\r\n', "invalid client protocol", connect=False)
        _err_close(s, b'CONNECT {"protocol":-1}\r\n', "invalid client protocol", connect=False)
        c = s.client()
        c.send(b'CONNECT {"protocol":1}\r\n')
        c.expect(b"+OK\r\n")


def test_connect_account_is_authorization_violation():
    with Server() as s:
        _err_close(s, b'CONNECT {"verbose":false,"account":"A"}\r\n', "Authorization Violation", connect=False)
        _err_close(s, b'CONNECT {"verbose":false,"new_account":true}\r\n', "Authorization Violation", connect=False)


def test_no_responders_requires_headers():
    with Server() as s:
        _err_close(s, b'CONNECT {"verbose":false,"no_responders":true}\r\n',
                   "no responders requires headers support", connect=False)
        c = s.client()
        c.send(b'CONNECT {"no_responders":true,"headers":true}\r\n')
        c.expect(b"+OK\r\n")


def test_connect_too_long_for_default_control_line():
    with Server() as s:
        blob = json.dumps({"verbose": False, "name": "x" * 5000}).encode()
        _err_close(s, b"CONNECT " + blob + b"\r\n", "maximum control line exceeded", connect=False)
        # 3000 bytes is under the 4096 default
        c = s.client()
        c.send(b"CONNECT " + json.dumps({"verbose": True, "name": "x" * 3000}).encode() + b"\r\n")
        c.expect(b"+OK\r\n")


# --- silent close -----------------------------------------------------------------

def test_pub_bad_args_silent_close():
    # transcript 4b of §18 and the argument-count rules
    with Server() as s:
        _silent_close(s, b"PUB foo abc\r\n")
        _silent_close(s, b"PUB foo\r\n")
        _silent_close(s, b"PUB a b c 1\r\n")
        _silent_close(s, b"PUB foo -1\r\n")
        _silent_close(s, b"PUB foo 1234567890\r\n")


def test_sub_unsub_bad_args_silent_close():
    with Server() as s:
        _silent_close(s, b"SUB foo\r\n")
        _silent_close(s, b"SUB a b c d\r\n")
        _silent_close(s, b"UNSUB 1 2 3\r\n")


def test_connect_bad_json_silent_close():
    with Server() as s:
        _silent_close(s, b"CONNECT {nope\r\n", connect=False)
        _silent_close(s, b"CONNECT\r\n", connect=False)
        _silent_close(s, b'CONNECT {"verbose":false} x\r\n', connect=False)
        _silent_close(s, b'CONNECT {"echo":"x"}\r\n', connect=False)


def test_client_sent_err_silent_close():
    with Server() as s:
        _silent_close(s, b"-ERR 'oops'\r\n")


def test_connection_survives_after_other_client_error():
    # one client's protocol error must not disturb another connection
    with Server() as s:
        good = connected(s)
        good.send(b"SUB foo 1\r\nPING\r\n")
        good.expect(b"PONG\r\n")
        _err_close(s, b"BOGUS\r\n", "Unknown Protocol Operation")
        p = connected(s)
        p.send(b"PUB foo 2\r\nok\r\n")
        good.expect(b"MSG foo 1 2\r\nok\r\n")


# --- E-keep / ignore -----------------------------------------------------------------

def test_invalid_sub_subject_keeps_connection():
    # transcript 5 of §18; verbose: no +OK after the -ERR
    with Server() as s:
        c = s.client()
        c.send(b'CONNECT {"verbose":false}\r\nSUB foo..bar 1\r\n')
        c.expect(b"-ERR 'Invalid Subject'\r\n")
        c.ping_pong()
        v = s.client()
        v.send(b"SUB foo. 1\r\nPING\r\n")
        v.expect(b"-ERR 'Invalid Subject'\r\nPONG\r\n")


def test_unsub_unknown_sid_ignored():
    with Server() as s:
        c = s.client()
        c.send(b"UNSUB 42\r\nUNSUB 43 5\r\nPING\r\n")
        c.expect(b"+OK\r\n+OK\r\nPONG\r\n")


def test_pub_empty_token_subject_dropped_silently():
    with Server() as s:
        sub = connected(s)
        sub.send(b"SUB > 1\r\nPING\r\n")
        sub.expect(b"PONG\r\n")
        c = connected(s)
        c.send(b"PUB foo..bar 1\r\nx\r\nPUB .foo 1\r\nx\r\nPUB foo. 1\r\nx\r\nPING\r\n")
        c.expect(b"PONG\r\n")
        c.send(b"PUB ok 1\r\ny\r\n")
        sub.expect(b"MSG ok 1 1\r\ny\r\n")     # nothing before the valid one


def test_server_alive_after_garbage_connections():
    import random
    rnd = random.Random(1234)
    with Server() as s:
        for _ in range(20):
            c = s.client()
            c.send(bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 400))) + b"\r\n")
            c.read_for(0.05)
            c.close()
        c = s.client()
        c.ping_pong()
        assert s.alive()
