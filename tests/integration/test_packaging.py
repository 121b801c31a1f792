"""Release pieces of issue #13 around the binary: the man pages (`make man`, written from
the flag tables), `make install` (the tree, the binaries it puts there, a configuration
kept on reinstall), the systemd unit (systemd-analyze, its flags, reload and lame-duck
stop, its system call filter against what the server calls) and the version stamp
(a commit recompiles one object).

These test the build tree, not a server build: they run once, when the binary under
test is the normal build (build/gnatsd), and return at once for the sanitizer builds
and the reference."""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from harness import Server, Client, server_bin, REPO_ROOT, HOST, free_port, wait_until

TIMEOUTS = {"test_version_stamp_rebuilds_one_object": 240, "test_install_tree": 120,
            "test_unit_verifies_and_is_hardened": 120, "test_unit_flags_reload_and_lame_duck_stop": 120,
            "test_unit_syscall_filter_covers_the_server": 120}

BUILD = os.path.join(REPO_ROOT, "build")


def _normal_build():
    return os.path.realpath(server_bin()) == os.path.realpath(os.path.join(BUILD, "gnatsd"))


def _make(*args, timeout=200):
    """make in the repository, without the variables of a make that runs this suite."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    p = subprocess.run(["make", "-C", REPO_ROOT] + list(args), capture_output=True, env=env,
                       timeout=timeout)
    out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
    assert p.returncode == 0, "make %s failed:\n%s" % (" ".join(args), out[-3000:])
    return out


def _tmpdir(tag):
    return tempfile.mkdtemp(prefix="gnatsd-pkg-%s-" % tag)


# --- man pages -----------------------------------------------------------------------------

def _render(page):
    """The page as plain text, through man -l (or groff), failing on any warning."""
    env = dict(os.environ, MANWIDTH="100", GROFF_NO_SGR="1", LC_ALL="C.UTF-8", MAN_KEEP_FORMATTING="")
    if shutil.which("man"):
        cmd = ["man", "--warnings", "-l", "-P", "cat", page]
    else:
        assert shutil.which("groff"), "neither man nor groff installed (groff-base)"
        cmd = ["groff", "-man", "-Tutf8", "-ww", page]
    p = subprocess.run(cmd, capture_output=True, env=env, timeout=30)
    err = p.stderr.decode(errors="replace")
    assert p.returncode == 0 and not err.strip(), "%s: rc %d, warnings:\n%s" % (cmd, p.returncode, err)
    text = re.sub(r".\x08", "", p.stdout.decode(errors="replace"))  # overstrike bold/underline
    return text.replace("\u2010", "-").replace("\u2212", "-")


def _help_flags(text, col=37):
    """Flag names of -h's left column (a continuation of a help text starts at the help
    column, a continuation of a flag column with spaces and a dash)."""
    flags = []
    for line in text.splitlines():
        if not line.startswith("    ") or not line.strip().startswith("-"):
            continue
        left = line[:col] if len(line) > col and line[col - 1] == " " else line
        flags += re.findall(r"(?<![\w<-])(--?[A-Za-z][\w]*)", left)
    return flags


def _man_option_flags(text, section="OPTIONS"):
    """Flag names of a rendered man page's OPTIONS section: the tags of its paragraphs."""
    m = re.search(r"^%s\n(.*?)(?=^[A-Z][A-Z ]+\n)" % section, text, re.M | re.S)
    assert m, "no %s section" % section
    flags = []
    prev = ""
    for line in m.group(1).splitlines():
        # a paragraph's tag starts after a blank line or a subsection title: its leading words
        # that start with a dash are the flag names (then its argument or, if short, its text)
        if (not prev.strip() or re.match(r"^ {3}\S", prev)) and re.match(r"^ {7}-", line):
            for word in line.split():
                if not word.startswith("-"):
                    break
                flags.append(word.rstrip(","))
        prev = line
    return flags


def test_man_page_gnatsd_lists_every_flag_of_help():
    if not _normal_build():
        return
    page = os.path.join(BUILD, "man", "gnatsd.8")
    assert os.path.isfile(page), "no %s (make man)" % page
    text = _render(page)
    h = subprocess.run([server_bin(), "-h"], capture_output=True, timeout=10).stdout.decode()
    want = _help_flags(h)
    assert len(want) > 40 and "--workers" in want and "--server_name" in want, want
    got = _man_option_flags(text)
    assert sorted(got) == sorted(want), "man page flags differ from -h: missing %s, extra %s" % (
        sorted(set(want) - set(got)), sorted(set(got) - set(want)))
    for section in ("SIGNALS", "FILES", "CONFIGURATION", "EXIT STATUS", "SYNOPSIS"):
        assert re.search(r"^%s$" % section, text, re.M), "no %s section" % section
    for sig in ("SIGHUP", "SIGUSR1", "SIGUSR2", "SIGINT", "SIGTERM", "SIGQUIT"):
        assert sig in text, sig
    # the -h section titles are its subsections, and the page names the same build
    for title in re.findall(r"^(\w[\w ]+ Options):$", h, re.M):
        assert re.search(r"^   %s$" % title, text, re.M), "no subsection %s" % title
    footer = [l for l in h.splitlines() if l.strip()][-1]
    ident = footer.split(", compatible")[0]
    with open(page) as f:  # the source: a long ident is cut where groff renders the footer
        th = f.readline()
    assert th.startswith(".TH ") and '"%s"' % ident in th, "page does not name %r: %s" % (ident, th)


def test_man_page_mkpasswd_lists_every_flag():
    if not _normal_build():
        return
    page = os.path.join(BUILD, "man", "gnatsd-mkpasswd.1")
    assert os.path.isfile(page), "no %s (make man)" % page
    text = _render(page)
    p = subprocess.run([os.path.join(BUILD, "mkpasswd"), "-h"], capture_output=True, timeout=10)
    want = re.findall(r"^  (-\w+)", p.stderr.decode(), re.M)
    assert sorted(want) == ["-c", "-p"], p.stderr
    assert sorted(_man_option_flags(text)) == sorted(want), text
    assert "(default 11)" in text and "EXIT STATUS" in text


# --- make install ------------------------------------------------------------------------

def _installed_unit_lines(unit):
    with open(unit) as f:
        return [l.strip() for l in f if l.strip() and not l.lstrip().startswith("#")]


def _unit_value(unit, key):
    vals = [l.split("=", 1)[1] for l in _installed_unit_lines(unit) if l.startswith(key + "=")]
    assert len(vals) == 1, "%s: %s= %r" % (unit, key, vals)
    return vals[0]


def test_install_tree():
    if not _normal_build():
        return
    dest = _tmpdir("destdir")
    _make("install", "DESTDIR=" + dest, "PREFIX=/usr/local")
    root = dest + "/usr/local"
    files = {
        "bin/gnatsd": 0o755, "bin/gnatsd-mkpasswd": 0o755,
        "share/man/man8/gnatsd.8": 0o644, "share/man/man1/gnatsd-mkpasswd.1": 0o644,
        "lib/systemd/system/gnatsd.service": 0o644, "etc/gnatsd/gnatsd.conf": 0o644,
    }
    for rel, mode in files.items():
        st = os.stat(os.path.join(root, rel))
        assert st.st_mode & 0o777 == mode, "%s mode %o" % (rel, st.st_mode & 0o777)
    assert os.readlink(root + "/bin/nats-server") == "gnatsd"
    assert os.readlink(root + "/share/man/man8/nats-server.8") == "gnatsd.8"
    # nothing outside the prefix
    assert sorted(os.listdir(dest)) == ["usr"] and sorted(os.listdir(dest + "/usr")) == ["local"]

    # the installed programs run, under both names
    v = subprocess.run([root + "/bin/nats-server", "-v"], capture_output=True, timeout=10)
    assert v.returncode == 0 and v.stdout == b"nats-server: v2.9.10\n", v
    h = subprocess.run([root + "/bin/nats-server", "-h"], capture_output=True, timeout=10)
    assert b"Usage: nats-server [options]" in h.stdout, h.stdout[:200]
    t = subprocess.run([root + "/bin/gnatsd", "-t", "-c", root + "/etc/gnatsd/gnatsd.conf"],
                       capture_output=True, timeout=10)
    assert t.returncode == 0 and b"is valid" in t.stderr, t
    mk = subprocess.run([root + "/bin/gnatsd-mkpasswd", "-p", "-c", "4"], input=b"pw\n",
                        capture_output=True, timeout=30)
    assert mk.returncode == 0 and re.fullmatch(rb"bcrypt hash: \$2a\$04\$\S{53}\n", mk.stdout), mk
    s = Server()
    s.bin = root + "/bin/gnatsd"
    with s:
        Client(s.port).ping_pong()

    # the unit names this install's paths
    unit = root + "/lib/systemd/system/gnatsd.service"
    assert _unit_value(unit, "ExecStart") == \
        "/usr/local/bin/gnatsd -c /usr/local/etc/gnatsd/gnatsd.conf"
    assert "@" not in open(unit).read().replace("$MAINPID", "").replace("@system-service", "") \
        .replace("@privileged", "").replace("@resources", ""), "placeholder left in the unit"

    # an operator's configuration survives a reinstall
    conf = root + "/etc/gnatsd/gnatsd.conf"
    with open(conf, "w") as f:
        f.write("port: 4333\n")
    _make("install", "DESTDIR=" + dest, "PREFIX=/usr/local")
    assert open(conf).read() == "port: 4333\n", "make install overwrote the configuration"

    # PREFIX=/usr: the configuration in /etc, as a distribution package has it
    dest2 = _tmpdir("usr")
    _make("install", "DESTDIR=" + dest2, "PREFIX=/usr")
    assert os.path.isfile(dest2 + "/etc/gnatsd/gnatsd.conf")
    assert _unit_value(dest2 + "/usr/lib/systemd/system/gnatsd.service", "ExecStart") == \
        "/usr/bin/gnatsd -c /etc/gnatsd/gnatsd.conf"
    shutil.rmtree(dest)
    shutil.rmtree(dest2)


# --- the systemd unit ------------------------------------------------------------------

def _install_real(tag):
    """An install whose paths are real (PREFIX in a temporary folder), so the unit's
    ExecStart and configuration exist where the unit says."""
    d = _tmpdir(tag)
    _make("install", "PREFIX=" + d + "/usr")
    return d + "/usr", d + "/usr/lib/systemd/system/gnatsd.service"


def test_unit_verifies_and_is_hardened():
    if not _normal_build():
        return
    if not shutil.which("systemd-analyze"):
        print("skipped: no systemd-analyze (Debian package systemd)")
        return
    prefix, unit = _install_real("verify")
    # MANPATH: verify also looks up Documentation=man:gnatsd(8), in the installed pages
    env = dict(os.environ, MANPATH=prefix + "/share/man")
    p = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, env=env, timeout=60)
    out = (p.stdout + p.stderr).decode(errors="replace")
    assert p.returncode == 0 and not out.strip(), "systemd-analyze verify:\n%s" % out
    # the exposure score stays in systemd's "OK" band (1.4 when written; the threshold is x10)
    p = subprocess.run(["systemd-analyze", "security", "--offline=true", "--threshold=20",
                        "--no-pager", unit], capture_output=True, timeout=60)
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0, "exposure above 2.0:\n%s" % out[-2500:]
    for key, want in (("Type", "simple"), ("KillSignal", "SIGUSR2"), ("NoNewPrivileges", "yes"),
                      ("ProtectSystem", "strict"), ("CapabilityBoundingSet", ""),
                      ("MemoryDenyWriteExecute", "yes"), ("DynamicUser", "yes")):
        assert _unit_value(unit, key) == want, (key, _unit_value(unit, key))
    assert not [l for l in _installed_unit_lines(unit) if l.startswith("ExecStop=")], \
        "an ExecStop runs before KillSignal and would make the stop abrupt"
    shutil.rmtree(os.path.dirname(prefix))


def _free_conf(sample, port, extra=""):
    """The installed sample configuration on free ports, with a short lame duck."""
    text = open(sample).read()
    text = re.sub(r"^listen:.*$", "listen: %s:%d" % (HOST, port), text, flags=re.M)
    text = re.sub(r"^http:.*$", "", text, flags=re.M)
    text = re.sub(r"^lame_duck_duration:.*$", 'lame_duck_duration: "30s"', text, flags=re.M)
    text = re.sub(r"^lame_duck_grace_period:.*$", 'lame_duck_grace_period: "1s"', text, flags=re.M)
    return text + extra


def test_unit_flags_reload_and_lame_duck_stop():
    if not _normal_build():
        return
    prefix, unit = _install_real("unit")
    argv = _unit_value(unit, "ExecStart").split()
    # the flags of ExecStart parse and the installed configuration is valid
    p = subprocess.run(argv + ["-t"], capture_output=True, timeout=10)
    assert p.returncode == 0 and b"is valid" in p.stderr, (argv, p)
    # the unit's TimeoutStopSec covers the sample's lame duck duration
    sample_ldm = re.search(r'^lame_duck_duration: "(\d+)m"', open(argv[2]).read(), re.M)
    assert sample_ldm and int(_unit_value(unit, "TimeoutStopSec")) > 60 * int(sample_ldm.group(1))

    reload_cmd = _unit_value(unit, "ExecReload").split()
    assert reload_cmd[:2] == ["/bin/kill", "-s"] and reload_cmd[3] == "$MAINPID", reload_cmd
    reload_sig = getattr(signal, "SIG" + reload_cmd[2])
    stop_sig = getattr(signal, _unit_value(unit, "KillSignal"))

    # run it as the unit does (its binary, -c FILE), on a free port
    d = _tmpdir("run")
    conf = os.path.join(d, "gnatsd.conf")
    port = free_port()
    with open(conf, "w") as f:
        f.write(_free_conf(argv[2], port))
    s = Server(port=port, listen_flags=False, args=[argv[1], conf])
    s.bin = argv[0]
    with s:
        c = Client(port)
        c.connect(protocol=1)  # lame duck's INFO goes to clients that take INFO updates
        c.ping_pong()
        with open(conf, "a") as f:
            f.write("\nmax_payload: 65536\n")
        s.signal(reload_sig)
        s.wait_log(r"Reloaded server configuration")
        # systemctl stop: lame duck, the client is told and closed, the process exits 0
        t0 = time.monotonic()
        s.signal(stop_sig)
        c.expect_re(rb'.*?INFO \{[^\r]*"ldm":true', timeout=10)
        c.expect_closed(15, allow_data=True)
        assert s.wait_exit(30) == 0, "exit status after lame duck: %r" % s.returncode
        assert time.monotonic() - t0 < int(_unit_value(unit, "TimeoutStopSec"))
        s.wait_log(r"Entering lame duck mode")
    shutil.rmtree(d)
    shutil.rmtree(os.path.dirname(prefix))


def _syscall_set(group, cache={}):
    """A systemd syscall group, nested groups expanded."""
    if group not in cache:
        out = subprocess.run(["systemd-analyze", "syscall-filter", group], capture_output=True,
                             timeout=30).stdout.decode()
        names = set()
        for line in out.splitlines()[1:]:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            names |= _syscall_set(line) if line.startswith("@") else {line}
        cache[group] = names
    return cache[group]


def test_unit_syscall_filter_covers_the_server():
    """Every system call the server makes while serving clients, the monitor, a route
    dialer, a bcrypt user, reload, log reopen and the lame-duck stop is one the unit's
    SystemCallFilter allows (a call outside it would fail with EPERM under systemd)."""
    if not _normal_build():
        return
    if not shutil.which("systemd-analyze") or not shutil.which("strace"):
        print("skipped: needs systemd-analyze and strace")
        return
    if subprocess.run(["strace", "-f", "-qq", "-o", "/dev/null", "true"],
                      capture_output=True, timeout=30).returncode != 0:
        print("skipped: strace cannot trace here")
        return
    tmpl = os.path.join(REPO_ROOT, "packaging", "systemd", "gnatsd.service.in")
    filters = [l.split("=", 1)[1] for l in _installed_unit_lines(tmpl)
               if l.startswith("SystemCallFilter=")]
    assert filters and not filters[0].startswith("~"), filters
    allowed = set()
    for f in filters:  # systemd: an allow list first, then ~ lines remove from it
        deny = f.startswith("~")
        names = set()
        for g in f.lstrip("~").split():
            names |= _syscall_set(g) if g.startswith("@") else {g}
        allowed = allowed - names if deny else allowed | names

    from test_auth import bcrypt_hash
    d = _tmpdir("strace")
    port, mport, cport = free_port(), free_port(), free_port()
    dead = free_port()  # a route nobody answers: the dialer connects and retries
    log = os.path.join(d, "gnatsd.log")
    conf = os.path.join(d, "gnatsd.conf")
    with open(conf, "w") as f:
        f.write(_free_conf(os.path.join(REPO_ROOT, "packaging", "gnatsd.conf"), port,
                           'http: "%s:%d"\nlog_file: "%s"\n'
                           'authorization { users = [ {user: a, password: "%s"} ] }\n'
                           'cluster { listen: "%s:%d", routes: ["nats-route://%s:%d"] }\n'
                           % (HOST, mport, log, bcrypt_hash("pw", 4), HOST, cport, HOST, dead)))
    trace = os.path.join(d, "trace")
    proc = subprocess.Popen(["strace", "-f", "-qq", "-o", trace, server_bin(), "-c", conf],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until(lambda: os.path.exists(log) and "Server is ready" in open(log).read(), 20,
                   what="server under strace ready")
        c = Client(port)
        c.connect(user="a", **{"pass": "pw"})
        c.send(b"SUB foo 1\r\nPUB foo 2\r\nhi\r\n")
        c.expect(b"MSG foo 1 2\r\nhi\r\n", timeout=10)
        for path in ("/varz", "/connz", "/subsz", "/routez", "/metrics"):
            with socket.create_connection((HOST, mport), timeout=10) as h:
                h.sendall(b"GET %s HTTP/1.0\r\n\r\n" % path.encode())
                assert h.recv(12).startswith(b"HTTP/1."), path
        server_pid = int(re.search(r"^\[(\d+)\]", open(log).read(), re.M).group(1))
        os.kill(server_pid, signal.SIGHUP)
        wait_until(lambda: "Reloaded server configuration" in open(log).read(), 15, what="reload")
        os.rename(log, log + ".1")
        os.kill(server_pid, signal.SIGUSR1)
        wait_until(lambda: os.path.exists(log), 15, what="log reopened")
        os.kill(server_pid, signal.SIGUSR2)
        c.expect_closed(20, allow_data=True)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    used = set()
    with open(trace) as f:
        for line in f:
            m = re.match(r"^\d+\s+([a-z0-9_]+)\(", line)
            if m:
                used.add(m.group(1))
    assert {"epoll_wait", "accept4", "rt_sigtimedwait"} <= used, sorted(used)
    assert not used - allowed, "system calls the unit's filter denies: %s" % sorted(used - allowed)
    shutil.rmtree(d)


# --- the version stamp -------------------------------------------------------------------

def test_version_stamp_rebuilds_one_object():
    """A new commit recompiles src/base/version.c and relinks, nothing else; the same
    commit again builds nothing. Built in a build directory of its own (unoptimised,
    a few seconds), since the dependency files name their build directory."""
    if not _normal_build():
        return
    d = _tmpdir("stamp")
    b = os.path.join(d, "build")
    target = os.path.join(b, "gnatsd")
    _make("-j2", "BUILD=" + b, "OPT=-O0", "GNATSD_C_GIT=0aaaaaa", target)
    out = _make("BUILD=" + b, "OPT=-O0", "GNATSD_C_GIT=0aaaaaa", target)
    assert " -c " not in out and "ar rcs" not in out, "same commit rebuilt:\n%s" % out
    out = _make("BUILD=" + b, "OPT=-O0", "GNATSD_C_GIT=0bbbbbb", target)
    compiled = re.findall(r" -c (\S+\.c) ", out)
    assert compiled == ["src/base/version.c"], "a commit compiled %s:\n%s" % (compiled, out)
    h = subprocess.run([target, "-h"], capture_output=True, timeout=10).stdout.decode()
    assert "(git 0bbbbbb)" in h, h[-200:]
    shutil.rmtree(d)
