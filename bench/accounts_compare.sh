#!/bin/sh
# accounts_compare.sh: gnatsd-bench's accounts mode against two servers, in turn, for
# ROUNDS rounds (order AB, BA, ...), each server fresh with the generated config;
# prints each run's JSON rows and, per metric, the median of A, of B and A/B.
#   bench/accounts_compare.sh [-r ROUNDS] A_BIN B_BIN [gnatsd-bench options...]
# e.g. bench/accounts_compare.sh -r 3 build/gnatsd /usr/sbin/nats-server -n 4 -z 64 -d 5
set -eu
rounds=3
if [ "${1:-}" = "-r" ]; then rounds=$2; shift 2; fi
A=$1 B=$2
shift 2
here=$(cd "$(dirname "$0")/.." && pwd)
gb=${GNATSD_BENCH:-$here/build/gnatsd-bench}
tmp=$(mktemp -d /tmp/gb-accounts.XXXXXX)
trap 'kill $spid 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
spid=
"$gb" accounts --write-config "$tmp/accounts.conf" "$@"

run() { # label binary [gnatsd-bench options]
    label=$1 bin=$2
    shift 2
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$bin" -c "$tmp/accounts.conf" -a 127.0.0.1 -p "$port" >"$tmp/$label.log" 2>&1 &
    spid=$!
    i=0
    until python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "server $bin did not start" >&2; exit 1; }
        sleep 0.1
    done
    "$gb" accounts -s "nats://127.0.0.1:$port" --pid "$spid" --json --no-progress "$@" \
        2>/dev/null | sed "s/^/$label /" >>"$tmp/rows" || true
    kill "$spid"; wait "$spid" 2>/dev/null || true
    spid=
}
r=0
while [ $r -lt "$rounds" ]; do
    if [ $((r % 2)) -eq 0 ]; then run A "$A" "$@"; run B "$B" "$@"; else run B "$B" "$@"; run A "$A" "$@"; fi
    r=$((r + 1))
done
python3 - "$tmp/rows" <<'PY'
import json, statistics, sys
vals = {}
for line in open(sys.argv[1]):
    who, row = line.split(" ", 1)
    r = json.loads(row)
    if r.get("lost") or r.get("extra") or r.get("errors"):
        print("%s %s: lost %s extra %s errors %s" % (who, r["role"], r.get("lost"), r.get("extra"), r.get("errors")))
    for k, v in [("msgs_per_sec", r.get("msgs_per_sec"))] + list((r.get("latency_us") or {}).items()) \
            + [(k, v) for k, v in r.items() if k.startswith("rss_")]:
        if isinstance(v, (int, float)):
            vals.setdefault((r["role"], k), {}).setdefault(who, []).append(v)
print("%-8s %-20s %14s %14s %8s" % ("role", "metric", "A (median)", "B (median)", "A/B"))
for (role, k), d in vals.items():
    a, b = statistics.median(d.get("A", [0])), statistics.median(d.get("B", [0]))
    print("%-8s %-20s %14.1f %14.1f %8.2f" % (role, k, a, b, a / b if b else 0))
PY
