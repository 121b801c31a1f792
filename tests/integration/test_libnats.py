"""The official C client (libnats) against the server: runs the standalone
program built from libnats_test.c (Makefile: build/itest/libnats_test)."""

import os
import re
import subprocess

from harness import Server, REPO_ROOT

TIMEOUTS = {"test_libnats_client": 120}


def _bin():
    path = os.environ.get("LIBNATS_TEST_BIN", "build/itest/libnats_test")
    if not os.path.isabs(path):
        path = os.path.join(REPO_ROOT, path)
    return path


def test_libnats_client():
    exe = _bin()
    # a missing program is a failure, never a skip
    assert os.access(exe, os.X_OK), (
        "libnats test program not found at %s; build it with `make itest` or "
        "gcc -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -o %s "
        "tests/integration/libnats_test.c -lnats -lpthread" % (exe, exe))
    with Server() as s:
        p = subprocess.run([exe, "nats://127.0.0.1:%d" % s.port], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=100)
        out = p.stdout.decode("utf-8", "replace")
        err = p.stderr.decode("utf-8", "replace")
        lines = out.strip().splitlines()
        m = re.fullmatch(r"(\d+) passed, (\d+) failed", lines[-1] if lines else "")
        assert m, "no summary line; exit %d\n%s\n%s" % (p.returncode, out, err)
        fails = [l for l in lines if l.startswith("FAIL")]
        assert p.returncode == 0 and m.group(2) == "0" and not fails, \
            "libnats_test exit %d:\n%s%s" % (p.returncode, "\n".join(fails) or out, err)
        assert int(m.group(1)) >= 15, "too few libnats tests ran: %s" % lines[-1]
