"""The binary says what it is (issue #13): gnatsd-c's own version and git commit in the
start-up log, -h and /varz, while what tools and clients parse stays the reference's
(-v, the INFO line, /varz "version")."""

import json
import os
import re
import subprocess

from harness import Server, server_bin, is_reference, REPO_ROOT
from test_proto import EXPECTED_INFO_KEYS

VERSION_RE = r"\d+\.\d+\.\d+[-+.\w]*"
TS = r"^\[\d+\] \S+ \S+ \[INF\] "


def _commit_known(commit):
    """The binary's commit is one of this repository's (it may be older than HEAD when
    the binary was built before the last commit), or "not set" outside a checkout."""
    if not os.path.isdir(os.path.join(REPO_ROOT, ".git")) and \
            not os.path.isfile(os.path.join(REPO_ROOT, ".git")):
        return commit == "not set"
    r = subprocess.run(["git", "-C", REPO_ROOT, "cat-file", "-e", commit + "^{commit}"],
                       capture_output=True, timeout=10)
    return re.fullmatch(r"[0-9a-f]{7,40}", commit) is not None and r.returncode == 0


def _help_footer():
    p = subprocess.run([server_bin(), "-h"], capture_output=True, timeout=10)
    lines = [l for l in p.stdout.decode().splitlines() if l.strip()]
    return lines[-1]


def test_startup_log_names_the_build():
    with Server() as s:
        log = s.wait_log(r"Server is ready") and s.log()
    # the reference's banner, unchanged in shape (Version is what tools read)
    assert re.search(TS + r"Starting nats-server$", log, re.M), log
    assert re.search(TS + r"  Version:  2\.9\.10$", log, re.M), log
    m = re.search(TS + r"  Git:      \[([^\]]+)\]$", log, re.M)
    assert m, "no Git: line in %r" % log
    if is_reference():
        return
    commit = m.group(1)
    assert _commit_known(commit), "Git: [%s] is not a commit of this repository" % commit
    lines = log.splitlines()
    ids = [i for i, l in enumerate(lines) if re.search(TS + r"  ID:       \S+$", l)]
    assert ids, log
    # ours comes after the reference's banner (its last line is ID:)
    ours = lines[ids[0] + 1]
    want = r"  gnatsd-c: (%s)" % VERSION_RE + (r" \(git %s\)" % commit if commit != "not set" else "")
    assert re.search(TS + want + "$", ours), "line after ID: is %r, want %r" % (ours, want)


def test_help_names_the_build():
    if is_reference():
        return
    footer = _help_footer()
    m = re.fullmatch(r"gnatsd-c (%s)(?: \(git (\w+)\))?, compatible with nats-server 2\.9\.10"
                     % VERSION_RE, footer)
    assert m, "last line of -h: %r" % footer
    with Server() as s:
        log = s.wait_log(r"Server is ready") and s.log()
    # the same build as the log says
    assert "  gnatsd-c: %s" % m.group(1) in log, (footer, log)
    assert "  Git:      [%s]" % (m.group(2) or "not set") in log, (footer, log)


def test_varz_git_commit_and_own_version():
    with Server(monitor=True) as s:
        v = s.varz()
        log = s.log()
    keys = list(v)
    assert v["version"] == "2.9.10", v["version"]
    if is_reference():
        return
    commit = re.search(r"  Git:      \[([^\]]+)\]", log).group(1)
    if commit == "not set":
        assert "git_commit" not in v, "git_commit shown although not set: %r" % v["git_commit"]
    else:
        assert v.get("git_commit") == commit, (v.get("git_commit"), commit)
        # where the reference's Varz struct puts it: after proto, before go
        assert keys.index("git_commit") == keys.index("proto") + 1, keys[:8]
    assert re.fullmatch(VERSION_RE, v["gnatsd_c_version"]), v["gnatsd_c_version"]
    assert "  gnatsd-c: %s" % v["gnatsd_c_version"] in log
    assert keys.index("gnatsd_c_version") == keys.index("go") + 1, keys[:8]


def test_version_flag_and_info_unchanged():
    for arg in ("-v", "--version"):
        p = subprocess.run([server_bin(), arg], capture_output=True, timeout=10)
        assert p.returncode == 0
        assert p.stdout == b"nats-server: v2.9.10\n", (arg, p.stdout)
    with Server() as s:
        c = s.client()
        info = json.loads(c.info_line[5:-3])
    assert info["version"] == "2.9.10", info
    # the build's identity is not in the INFO clients read
    assert [k for k in info if k != "git_commit"] == EXPECTED_INFO_KEYS, list(info)
    if not is_reference():
        assert "git_commit" not in info and "gnatsd_c_version" not in info, info
