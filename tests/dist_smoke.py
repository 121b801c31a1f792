#!/usr/bin/env python3
"""dist_smoke.py: the release artifacts `make dist` writes to build/dist/ (tests/run.sh
stage "dist"; tools/dist.sh says what they are).

    tests/dist_smoke.py [--no-build]

Builds them (`make dist`, unless --no-build), then checks each one: SHA256SUMS, the
members of every archive, that the binaries are static and of their architecture,
the aarch64 build answering PING under qemu-user, the source tarball naming its
version without git, and the container image: its root filesystem is built from
build/dist/image/ by following the Dockerfile (FROM scratch, ARG, ENV, COPY; no
container engine runs in this sandbox) and its entry point runs in a chroot of it,
in a network namespace of its own since the default config takes the fixed ports
4222/6222/8222. Every check prints "ok   NAME", "FAIL NAME" with the reason, or
"skip NAME: why" (not root: no chroot; no Windows zip); the last line is
"N passed, N failed".
"""
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIST = os.path.join(ROOT, "build", "dist")
QEMU = shutil.which("qemu-aarch64") or shutil.which("qemu-aarch64-static")
DEADLINE = 20.0  # seconds for a server to listen (qemu-user is slow to start)
# a container runtime gives the container these; the static glibc resolver reads
# /etc/hosts itself (no NSS modules), so "localhost" in a route URL resolves
ETC_HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
DOCKER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

npass = nfail = 0


def result(name, ok, why=""):
    global npass, nfail
    if ok:
        npass += 1
        print("ok   " + name)
    else:
        nfail += 1
        print("FAIL " + name + (": " + why if why else ""))
    sys.stdout.flush()


def skip(name, why):
    print("skip %s: %s" % (name, why))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, deadline=DEADLINE):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def ping(port):
    """INFO, then CONNECT + PING must bring PONG; returns the exchange as text."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        f = s.makefile("rb")
        info = f.readline().decode(errors="replace").strip()
        s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n')
        pong = f.readline().decode(errors="replace").strip()
        return info, pong


def http_get(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(("GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n" % path).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode(), body


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def log_tail(path, n=15):
    try:
        return "\n    " + "\n    ".join(open(path, errors="replace").read().splitlines()[-n:])
    except OSError:
        return ""


def artifacts():
    sums = os.path.join(DIST, "SHA256SUMS")
    listed = [l.split(None, 1)[1].strip() for l in open(sums) if l.strip()]
    return listed


def check_sums():
    try:
        listed = artifacts()
    except OSError as e:
        result("SHA256SUMS", False, str(e))
        return
    present = sorted(os.path.basename(p) for p in glob.glob(os.path.join(DIST, "*.tar.gz")) +
                     glob.glob(os.path.join(DIST, "*.zip")))
    r = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=DIST, capture_output=True, text=True)
    result("SHA256SUMS lists every archive and they match it",
           r.returncode == 0 and sorted(listed) == present,
           "listed %s, present %s, %s" % (listed, present, r.stdout + r.stderr))


def version():
    r = subprocess.run([os.path.join(ROOT, "tools", "version.sh")], capture_output=True, text=True)
    return r.stdout.split("\n")[:2]


def extract(archive, into):
    if archive.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            z.extractall(into)
    else:
        with tarfile.open(archive) as t:
            t.extractall(into)


def check_archive(arch, machine, tmp):
    """arch: amd64|arm64; machine: what file(1) says of the binaries."""
    ver = version()[0]
    name = "gnatsd-c-%s-linux-%s" % (ver, arch)
    path = os.path.join(DIST, name + ".tar.gz")
    if not os.path.exists(path):
        result("linux-%s archive" % arch, False, path + " missing")
        return None
    with tarfile.open(path) as t:
        members = {m.name: m for m in t.getmembers()}
    want = ["gnatsd", "nats-server", "mkpasswd", "README.md", "gnatsd.conf", "docs/config.md",
            "docs/monitoring.md", "docs/security.md", "man/gnatsd.8", "man/gnatsd-mkpasswd.1"]
    missing = [w for w in want if name + "/" + w not in members]
    stray = [m for m in members if not m.startswith(name)]
    owners = {(m.uid, m.gid) for m in members.values()}
    result("linux-%s archive holds the programs, docs, man pages and a config" % arch,
           not missing and not stray and owners == {(0, 0)},
           "missing %s, outside the folder %s, owners %s" % (missing, stray, owners))
    extract(path, tmp)
    d = os.path.join(tmp, name)
    for prog in ("gnatsd", "mkpasswd"):
        r = subprocess.run(["file", "-b", os.path.join(d, prog)], capture_output=True, text=True)
        result("linux-%s %s is static %s" % (arch, prog, machine),
               "statically linked" in r.stdout and machine in r.stdout, r.stdout.strip())
    same = open(os.path.join(d, "gnatsd"), "rb").read() == open(os.path.join(d, "nats-server"),
                                                                 "rb").read()
    result("linux-%s nats-server is gnatsd" % arch, same)
    return d


def run_prog(argv, arch, **kw):
    return subprocess.run(([QEMU] if arch == "arm64" else []) + argv, capture_output=True,
                          text=True, timeout=60, **kw)


def check_binaries(d, arch, tmp):
    """The archive's own programs: its config checks, a client gets PONG, mkpasswd hashes."""
    r = run_prog([os.path.join(d, "gnatsd"), "-t", "-c", os.path.join(d, "gnatsd.conf")], arch)
    result("linux-%s gnatsd -t accepts the shipped gnatsd.conf" % arch, r.returncode == 0,
           r.stdout + r.stderr)
    r = run_prog([os.path.join(d, "mkpasswd"), "-p", "-c", "4"], arch, input="s3cret\n")
    result("linux-%s mkpasswd makes a bcrypt hash" % arch,
           r.returncode == 0 and re.search(r"\$2a\$04\$[./A-Za-z0-9]{53}", r.stdout),
           r.stdout + r.stderr)
    port, mport = free_port(), free_port()
    log = os.path.join(tmp, "server-%s.log" % arch)
    with open(log, "w") as lf:
        p = subprocess.Popen(([QEMU] if arch == "arm64" else []) + [
            os.path.join(d, "gnatsd"), "-a", "127.0.0.1", "-p", str(port), "-m", str(mport)],
                             stdout=lf, stderr=subprocess.STDOUT)
    try:
        how = "under " + os.path.basename(QEMU) if arch == "arm64" else "natively"
        if not wait_port(port, p):
            result("linux-%s gnatsd answers PING %s" % (arch, how), False,
                   "not listening" + log_tail(log))
            return
        info, pong = ping(port)
        print("    %s: %s ... -> PING -> %s" % (arch, info[:60], pong))
        result("linux-%s gnatsd answers PING %s" % (arch, how),
               info.startswith("INFO {") and pong == "PONG", info + " / " + pong)
    finally:
        stop(p)


def check_src(tmp):
    ver, commit = version()
    clean = ver[:-len("-dirty")] if ver.endswith("-dirty") else ver
    path = os.path.join(DIST, "gnatsd-c-%s-src.tar.gz" % ver)
    if not os.path.exists(path):
        result("source tarball", False, path + " missing")
        return
    extract(path, tmp)
    top = os.path.join(tmp, "gnatsd-c-" + ver)
    r = subprocess.run([os.path.join(top, "tools", "version.sh")], capture_output=True, text=True,
                       cwd=tmp)
    result("source tarball says its version and commit without git",
           r.returncode == 0 and r.stdout.split("\n")[:2] == [clean, commit] and
           not os.path.exists(os.path.join(top, ".git")),
           "version.sh printed %r, want %r" % (r.stdout, [clean, commit]))


def check_reproducible(tmp):
    """Packing the same binaries again gives the same bytes (tools/dist.sh)."""
    again = os.path.join(tmp, "again")
    r = subprocess.run([os.path.join(ROOT, "tools", "dist.sh"), again,
                        os.path.join(ROOT, "build", "static"),
                        os.path.join(ROOT, "build", "aarch64", "static"),
                        os.path.join(ROOT, "build", "win64")],
                       capture_output=True, text=True, cwd=ROOT,
                       env=dict(os.environ, MAN=os.path.join(ROOT, "build", "man")))
    try:
        first = open(os.path.join(DIST, "SHA256SUMS")).read()
        second = open(os.path.join(again, "SHA256SUMS")).read()
    except OSError as e:
        first, second = str(e), r.stdout + r.stderr
    result("archives pack reproducibly (the same SHA256SUMS twice)", first == second,
           "\n" + first + "\n" + second)


def check_windows(tmp):
    zips = glob.glob(os.path.join(DIST, "*-windows-amd64.zip"))
    result("make dist built the windows zip", len(zips) == 1, zips)
    if len(zips) != 1:
        return
    with zipfile.ZipFile(zips[0]) as z:
        names = z.namelist()
        top = os.path.basename(zips[0])[:-len(".zip")]
        want = ["gnatsd.exe", "nats-server.exe", "mkpasswd.exe", "README.md", "gnatsd.conf"]
        missing = [w for w in want if top + "/" + w not in names]
        result("windows zip holds the programs, docs and a config", not missing, "missing %s" % missing)
        if missing:
            return
        exe = os.path.join(tmp, "gnatsd.exe")
        with open(exe, "wb") as f:
            f.write(z.read(top + "/gnatsd.exe"))
    r = subprocess.run(["file", exe], capture_output=True, text=True)
    result("the zip's gnatsd.exe is a 64-bit Windows program", "PE32+" in r.stdout and "x86-64" in r.stdout,
           r.stdout.strip())
    r = subprocess.run(["x86_64-w64-mingw32-objdump", "-h", exe], capture_output=True, text=True)
    result("the zip's gnatsd.exe is stripped", r.returncode == 0 and ".text" in r.stdout
           and ".debug" not in r.stdout, r.stdout[-400:] + r.stderr)


# --- the image ------------------------------------------------------------------

def parse_dockerfile(path):
    """The instructions a FROM scratch image of ours may use, as (word, argument)."""
    text = open(path).read().replace("\\\n", " ")
    out = []
    for line in text.split("\n"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, arg = line.partition(" ")
        out.append((word.upper(), arg.strip()))
    return out


def build_rootfs(context, arch, rootfs):
    """Follows the Dockerfile as a builder would for linux/ARCH; returns the image
    config (entrypoint, cmd, env, exposed ports)."""
    args = {"TARGETARCH": arch}
    env = {}
    conf = {"entrypoint": [], "cmd": [], "expose": []}

    def expand(s):
        return re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), args.get(m.group(1), "")), s)

    for word, arg in parse_dockerfile(os.path.join(context, "Dockerfile")):
        if word == "FROM":
            if arg != "scratch":
                raise ValueError("FROM %s: only scratch is followed here" % arg)
            env["PATH"] = DOCKER_PATH  # a builder's default for a Linux image
        elif word == "ARG":
            name, _, default = arg.partition("=")
            args.setdefault(name, default)
        elif word == "ENV":
            name, _, value = arg.partition("=")
            env[name] = expand(value.strip('"'))
        elif word == "COPY":
            src, dst = [expand(x) for x in arg.split()]
            target = os.path.join(rootfs, dst.lstrip("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(os.path.join(context, src), target)
        elif word == "EXPOSE":
            conf["expose"] = sorted(int(p) for p in arg.split())
        elif word in ("ENTRYPOINT", "CMD"):
            conf[word.lower()] = json.loads(arg)
        else:
            raise ValueError("%s: not an instruction this image uses" % word)
    conf["env"] = env
    os.makedirs(os.path.join(rootfs, "etc"), exist_ok=True)
    with open(os.path.join(rootfs, "etc", "hosts"), "w") as f:
        f.write(ETC_HOSTS)
    return conf


def check_route(rootfs, conf, tmp):
    """The official image's documented cluster set-up: a second server routes to the
    first by a host name with the default config's credentials. Here the name is
    localhost, which the static binary resolves through the /etc/hosts a container
    runtime provides."""
    log = os.path.join(tmp, "image-route.log")
    argv = ["/nats-server", "-p", "4223", "-m", "8223", "--cluster_name", "my_cluster",
            "--cluster", "nats://0.0.0.0:6223",
            "--routes", "nats-route://ruser:T0pS3cr3t@localhost:6222"]
    name = "image: a server routes to nats-route://ruser:...@localhost:6222"
    with open(log, "w") as lf:
        p = subprocess.Popen(["chroot", rootfs] + argv, env=conf["env"], stdout=lf,
                             stderr=subprocess.STDOUT)
    try:
        routes, end = None, time.monotonic() + DEADLINE
        while time.monotonic() < end and p.poll() is None:
            try:
                routes = json.loads(http_get(8222, "/routez")[1]).get("num_routes")
            except (OSError, ValueError):
                routes = None
            if routes == 1:
                break
            time.sleep(0.05)
        result(name, routes == 1, "num_routes %r on the first server" % routes + log_tail(log))
    finally:
        stop(p)


def loopback_up():
    """A new network namespace's lo is down: SIOCSIFFLAGS IFF_UP, as `ip link set lo up`."""
    import fcntl
    import struct
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ifr = struct.pack("16sH22x", b"lo", 0)
    flags = struct.unpack("16sH22x", fcntl.ioctl(s, 0x8913, ifr))[1]  # SIOCGIFFLAGS
    fcntl.ioctl(s, 0x8914, struct.pack("16sH22x", b"lo", flags | 1))  # SIOCSIFFLAGS, IFF_UP
    s.close()


def image_run(arch, argv, label, tmp, built=None):
    """In this (fresh) network namespace: builds the linux/ARCH root filesystem (or
    takes BUILT, (rootfs, config) of an image a container tool built), runs ARGV
    (None: ENTRYPOINT + CMD) chrooted in it, checks PING on 4222, /varz on 8222 with
    the image config's values, and the route port 6222."""
    if built:
        rootfs, conf = built
    else:
        rootfs = os.path.join(tmp, "rootfs-" + arch)
        shutil.rmtree(rootfs, ignore_errors=True)
        conf = build_rootfs(os.path.join(DIST, "image"), arch, rootfs)
    result("image (%s) declares ports 4222 6222 8222" % label, conf["expose"] == [4222, 6222, 8222],
           str(conf["expose"]))
    if argv is None:
        argv = conf["entrypoint"] + conf["cmd"]
    if arch == "arm64":
        # binfmt_misc is not ours to set up: the static qemu goes into the root
        # filesystem and runs the entry point (an absolute path) itself
        shutil.copy2(shutil.which("qemu-aarch64-static"), os.path.join(rootfs, "qemu-aarch64"))
        argv = ["/qemu-aarch64"] + argv
    log = os.path.join(tmp, "image-%s.log" % arch)
    name = "image (%s): %s" % (label, " ".join(argv))
    # chroot(8) changes to / (the image's working directory, where the relative
    # config path points) and looks the command up on the image's PATH
    with open(log, "w") as lf:
        p = subprocess.Popen(["chroot", rootfs] + argv, env=conf["env"], stdout=lf,
                             stderr=subprocess.STDOUT)
    try:
        if not wait_port(4222, p) or not wait_port(8222, p):
            result(name + " listens", False, "not listening" + log_tail(log))
            return
        info, pong = ping(4222)
        print("    %s: %s ... -> PING -> %s" % (label, info[:60], pong))
        result(name + " answers PING on 4222", pong == "PONG", info + " / " + pong)
        status, body = http_get(8222, "/varz")
        try:
            varz = json.loads(body)
        except ValueError:
            varz = {}
        result(name + " serves /varz on 8222 with the image's config",
               status.endswith("200 OK") and varz.get("port") == 4222 and
               varz.get("http_port") == 8222 and varz.get("cluster", {}).get("cluster_port") == 6222 and
               varz.get("cluster", {}).get("name") == "my_cluster",
               status + " " + body[:300].decode(errors="replace"))
        try:
            socket.create_connection(("127.0.0.1", 6222), timeout=5).close()
            result(name + " accepts routes on 6222", True)
        except OSError as e:
            result(name + " accepts routes on 6222", False, str(e))
        if label == "amd64 entrypoint":
            check_route(rootfs, conf, tmp)
    finally:
        stop(p)
    r = subprocess.run(["chroot", rootfs] + ([] if arch == "amd64" else ["/qemu-aarch64"]) +
                       ["/nats-server", "-v"], env=conf["env"], capture_output=True, text=True,
                       timeout=60)
    result("image (%s): /nats-server -v" % label,
           r.returncode == 0 and r.stdout.startswith("nats-server: v"), r.stdout + r.stderr)


def in_netns(tmp):
    """The --netns half: runs the image checks in the namespace unshare(1) made."""
    loopback_up()
    # the official image's entry point and command, then the form Helm charts and
    # compose files use: the binary by name from PATH, the config by absolute path
    image_run("amd64", None, "amd64 entrypoint", tmp)
    image_run("amd64", ["nats-server", "--config", "/nats-server.conf"], "amd64 by PATH", tmp)
    built = os.path.join(tmp, "podman.json")
    if os.path.exists(built):
        conf = json.load(open(built))
        image_run("amd64", None, "podman-built amd64", tmp, (conf["rootfs"], conf))
    if QEMU and shutil.which("qemu-aarch64-static"):
        image_run("arm64", None, "arm64 entrypoint", tmp)
    else:
        skip("image linux-arm64", "no qemu-aarch64-static to run it")
    print("%d passed, %d failed" % (npass, nfail))
    return 1 if nfail else 0


def podman_image(tmp):
    """Where podman is installed (not by `make deps`): the context built by a real
    builder, its file system exported for the chroot run and its config kept
    (podman builds here; `podman run` cannot: crun's setrlimit is refused in this
    sandbox). Returns the path of the config written for the --netns half."""
    name = "localhost/gnatsd-c-dist-smoke:%d" % os.getpid()
    cid = None
    try:
        r = subprocess.run(["podman", "build", "-q", "--platform", "linux/amd64", "-t", name,
                            os.path.join(DIST, "image")], capture_output=True, text=True,
                           timeout=300)
        result("podman builds the image context", r.returncode == 0, r.stdout + r.stderr)
        if r.returncode != 0:
            return
        r = subprocess.run(["podman", "image", "inspect", name], capture_output=True, text=True,
                           timeout=60)
        cfg = json.loads(r.stdout)[0]["Config"]
        cid = subprocess.run(["podman", "create", name], capture_output=True, text=True,
                             timeout=60).stdout.strip()
        rootfs = os.path.join(tmp, "rootfs-podman")
        os.makedirs(rootfs)
        exp = subprocess.Popen(["podman", "export", cid], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", rootfs], stdin=exp.stdout, check=True, timeout=120)
        exp.wait(timeout=60)
        os.makedirs(os.path.join(rootfs, "etc"))  # the export holds just the two files
        with open(os.path.join(rootfs, "etc", "hosts"), "w") as f:
            f.write(ETC_HOSTS)  # a container runtime's part
        conf = {"rootfs": rootfs, "entrypoint": cfg.get("Entrypoint") or [],
                "cmd": cfg.get("Cmd") or [],
                "env": dict(e.split("=", 1) for e in cfg.get("Env", [])),
                "expose": sorted(int(p.split("/")[0]) for p in cfg.get("ExposedPorts", {}))}
        result("podman's image config is the official image's: entry point, command, PATH",
               conf["entrypoint"] == ["/nats-server"] and
               conf["cmd"] == ["--config", "nats-server.conf"] and
               conf["env"].get("PATH", "").endswith(":/"), str(cfg))
        with open(os.path.join(tmp, "podman.json"), "w") as f:
            json.dump(conf, f)
    except (subprocess.SubprocessError, OSError, ValueError, IndexError) as e:
        result("podman image", False, repr(e))
    finally:
        if cid:
            subprocess.run(["podman", "rm", "-f", cid], capture_output=True, timeout=60)
        subprocess.run(["podman", "rmi", "-f", name], capture_output=True, timeout=60)


def check_image(tmp):
    ctx = os.path.join(DIST, "image")
    ver = version()[0]
    same = True
    for arch in ("amd64", "arm64"):
        tar = os.path.join(tmp, "gnatsd-c-%s-linux-%s" % (ver, arch), "gnatsd")
        img = os.path.join(ctx, "linux-" + arch, "nats-server")
        same = same and os.path.exists(tar) and os.path.exists(img) and \
            open(tar, "rb").read() == open(img, "rb").read()
    result("image context holds the archives' binaries, Dockerfile and config", same and all(
        os.path.exists(os.path.join(ctx, f)) for f in ("Dockerfile", "nats-server.conf")))
    if os.geteuid() != 0:
        skip("image root filesystem", "chroot needs root")
        return
    if not shutil.which("unshare"):
        skip("image root filesystem", "no unshare(1) for a network namespace of its own")
        return
    if shutil.which("podman"):
        podman_image(tmp)
    else:
        skip("podman image", "no podman (the chroot runs the Dockerfile as followed here)")
    r = subprocess.run(["unshare", "--net", sys.executable, os.path.abspath(__file__), "--netns",
                        tmp], capture_output=True, text=True, timeout=300)
    out = r.stdout.rstrip("\n").split("\n")
    print("\n".join(out[:-1]))
    m = re.match(r"^(\d+) passed, (\d+) failed", out[-1] if out else "")
    global npass, nfail
    if m:
        npass += int(m.group(1))
        nfail += int(m.group(2))
    else:
        result("image root filesystem", False, "exit %d: %s" % (r.returncode, r.stderr[-2000:]))
    if r.returncode != 0 and m and int(m.group(2)) == 0:
        result("image root filesystem", False, "exit %d: %s" % (r.returncode, r.stderr[-2000:]))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--netns":
        return in_netns(sys.argv[2])
    if "--no-build" not in sys.argv:
        t0 = time.monotonic()
        r = subprocess.run(["make", "-j" + os.environ.get("JOBS", "2"), "dist"], cwd=ROOT,
                           capture_output=True, text=True)
        result("make dist (%.0fs)" % (time.monotonic() - t0), r.returncode == 0,
               "\n" + (r.stdout + r.stderr)[-3000:])
        if r.returncode != 0:
            print("%d passed, %d failed" % (npass, nfail))
            return 1
    tmp = tempfile.mkdtemp(prefix="gnatsd-dist.")
    try:
        check_sums()
        d64 = check_archive("amd64", "x86-64", tmp)
        if d64:
            check_binaries(d64, "amd64", tmp)
        da = check_archive("arm64", "ARM aarch64", tmp)
        if da and QEMU:
            check_binaries(da, "arm64", tmp)
        elif da:
            skip("linux-arm64 under qemu-user", "no qemu-aarch64 (make dist-deps installs qemu-user)")
        check_src(os.path.join(tmp, "src"))
        check_windows(tmp)
        check_reproducible(tmp)
        check_image(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (npass, nfail))
    return 1 if nfail else 0


if __name__ == "__main__":
    sys.exit(main())
