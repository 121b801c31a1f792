#!/usr/bin/env python3
"""Runner for the black-box integration suite.

    GNATSD_BIN=build/gnatsd python3 tests/integration/run.py [-k substr] [-j N]

Discovers tests/integration/test_*.py, runs every `test_*` function in its own
child process (so a hung test can be killed together with the servers it
started: the child gets its own process group), up to -j at a time (default 3:
the machine has 2 cores and the servers under test need CPU too).

Prints `ok   file::test` or `FAIL file::test` plus the failure and the tail of
the logs of the servers the test started; the last line is exactly
`N passed, N failed`. Exit status 1 if anything failed.

A test module may set TIMEOUTS = {"test_name": seconds} for tests that need
more than the default per-test timeout.
"""

import argparse
import importlib
import inspect
import os
import signal
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_TIMEOUT = 30.0


def timeout_scale():
    """Sanitizer builds run the server several times slower (TSan most): a test's
    outer deadline grows with them, so a loaded machine running `make test` fails a
    test only when it is stuck, not when it is slow. ITEST_TIMEOUT_SCALE overrides."""
    if os.environ.get("ITEST_TIMEOUT_SCALE"):
        return float(os.environ["ITEST_TIMEOUT_SCALE"])
    binary = os.environ.get("GNATSD_BIN", "")
    return 3.0 if "/tsan/" in binary else 2.0 if "/asan/" in binary else 1.0


def discover(selectors=None, excludes=None):
    """[(file, test_name, timeout)] in file order, then definition order: those whose
    file::name contains one of selectors (all if none) and none of excludes."""
    sys.path.insert(0, HERE)
    out = []
    for fname in sorted(os.listdir(HERE)):
        if not (fname.startswith("test_") and fname.endswith(".py")):
            continue
        mod = importlib.import_module(fname[:-3])
        timeouts = getattr(mod, "TIMEOUTS", {})
        funcs = [(n, f) for n, f in vars(mod).items()
                 if n.startswith("test_") and inspect.isfunction(f) and f.__module__ == mod.__name__]
        funcs.sort(key=lambda nf: nf[1].__code__.co_firstlineno)
        for name, _ in funcs:
            ident = "%s::%s" % (fname, name)
            if selectors and not any(s in ident for s in selectors):
                continue
            if excludes and any(x in ident for x in excludes):
                continue
            out.append((fname, name, float(timeouts.get(name, DEFAULT_TIMEOUT)) * timeout_scale()))
    return out


def run_one(ident):
    """Child mode: run one test; exit 0 on pass, 1 on failure (details on stdout)."""
    sys.path.insert(0, HERE)
    import harness
    fname, name = ident.split("::")
    mod = importlib.import_module(fname[:-3])
    ok = True

    def on_term(signum, frame):
        # the parent's timeout: say where we were stuck, then fail
        raise TimeoutError("test timed out (killed by runner)")
    signal.signal(signal.SIGTERM, on_term)
    try:
        getattr(mod, name)()
    except BaseException:
        ok = False
        print(traceback.format_exc().rstrip())
        for s in harness.running_servers():
            print("--- server log tail (%s) ---" % " ".join(getattr(s, "cmd", [s.bin])))
            print(s.log_tail(25))
    finally:
        harness.stop_all()
        for s in harness.running_servers():
            s.cleanup()
        for path, report in harness.sanitizer_reports():
            ok = False
            print("sanitizer report in the server's log (%s):\n%s" % (path, report))
        left = harness.leaked_processes()
        if left:
            ok = False
            print("server process(es) left running by the test: %s"
                  % ", ".join(" ".join(p.args) for p in left))
    sys.stdout.flush()
    os._exit(0 if ok else 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-k", dest="selectors", action="append",
                    help="run only tests whose file::name contains this (repeatable: any)")
    ap.add_argument("-x", dest="excludes", action="append",
                    help="skip tests whose file::name contains this (repeatable)")
    ap.add_argument("-j", dest="jobs", type=int, default=int(os.environ.get("ITEST_JOBS", "3")))
    ap.add_argument("-v", dest="verbose", action="store_true", help="print output of passing tests too")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        run_one(a.one)
        return

    tests = discover(a.selectors, a.excludes)
    jobs = max(1, min(a.jobs, 4))
    pending = list(tests)
    running = []   # (ident, proc, start, timeout, outfile)
    passed = failed = 0
    t0 = time.monotonic()
    print("binary: %s" % os.environ.get("GNATSD_BIN", "/usr/sbin/nats-server"), flush=True)

    def finish(ident, proc, outfile, timed_out, timeout):
        nonlocal passed, failed
        outfile.seek(0)
        text = outfile.read().decode("utf-8", "replace").rstrip()
        outfile.close()
        if proc.returncode == 0 and not timed_out:
            passed += 1
            print("ok   %s" % ident, flush=True)
            if a.verbose and text:
                print("    " + text.replace("\n", "\n    "))
        else:
            failed += 1
            print("FAIL %s%s" % (ident, "  (timeout %.0fs)" % timeout if timed_out else ""))
            if text:
                print("    " + text.replace("\n", "\n    "))
            sys.stdout.flush()

    import tempfile
    while pending or running:
        while pending and len(running) < jobs:
            fname, name, timeout = pending.pop(0)
            ident = "%s::%s" % (fname, name)
            outfile = tempfile.TemporaryFile()
            proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--one", ident],
                                    stdout=outfile, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            running.append((ident, proc, time.monotonic(), timeout, outfile))
        time.sleep(0.02)
        still = []
        for ident, proc, start, timeout, outfile in running:
            if proc.poll() is not None:
                finish(ident, proc, outfile, False, timeout)
            elif time.monotonic() - start > timeout:
                # ask the test to report where it hangs (and print server
                # logs), then kill the whole group: the test and its servers
                try:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=8)
                except subprocess.TimeoutExpired:
                    pass
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
                finish(ident, proc, outfile, True, timeout)
            else:
                still.append((ident, proc, start, timeout, outfile))
        running = still

    print("elapsed %.1fs" % (time.monotonic() - t0))
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed or not tests else 0)


if __name__ == "__main__":
    main()
