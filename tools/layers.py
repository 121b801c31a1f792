#!/usr/bin/env python3
"""layers.py: the layer check `make test` runs (docs/internals.md, "Layers").

src/ holds one folder per layer, lowest first:
    base < conf < proto < index < core < nats < monitor < app
A file may include headers of its own layer or of a lower one, never of a higher
one. Within the tree, modules (a .c/.h pair) must not include each other in a
circle, whatever their layers. And the core layer (loop, connections, transport)
knows connection kinds only through their handler tables: no `kind ==` test.

Usage: tools/layers.py [SRC_DIR]; prints every violation and exits 1 if any.
tools/layers-debt.txt lists violations still being paid off (one per line, as
printed); a listed one that no longer occurs is an error too, so the list only
shrinks.
"""
import os
import re
import sys

LAYERS = ["base", "conf", "proto", "index", "core", "nats", "monitor", "app"]
RANK = {name: i for i, name in enumerate(LAYERS)}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
KIND_TEST = re.compile(r"\bkind\s*[!=]=|[!=]=\s*CONN_[A-Z]+\b|case\s+CONN_[A-Z]+\s*:")


def strip_comments(text):
    return re.sub(r"/\*.*?\*/|//[^\n]*", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text,
                  flags=re.S)


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "src"
    here = os.path.dirname(os.path.abspath(__file__))
    debt_file = os.path.join(here, "layers-debt.txt")
    debt = set()
    if os.path.exists(debt_file):
        for line in open(debt_file):
            line = line.strip()
            if line and not line.startswith("#"):
                debt.add(line)

    found = []
    deps = {}
    for layer in sorted(os.listdir(src)):
        folder = os.path.join(src, layer)
        if not os.path.isdir(folder):
            continue
        if layer not in RANK:
            found.append("%s: folder is not a layer (%s)" % (folder, " ".join(LAYERS)))
            continue
        for name in sorted(os.listdir(folder)):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, src)
            text = strip_comments(open(path, errors="replace").read())
            mod = os.path.splitext(rel)[0]
            for inc in INCLUDE.findall(text):
                target_layer = inc.split("/")[0] if "/" in inc else None
                if target_layer not in RANK:
                    found.append("%s: include \"%s\" names no layer folder" % (rel, inc))
                    continue
                if not os.path.exists(os.path.join(src, inc)):
                    found.append("%s: include \"%s\" does not exist" % (rel, inc))
                    continue
                if RANK[target_layer] > RANK[layer]:
                    found.append("%s -> %s: includes a higher layer" % (rel, inc))
                target_mod = os.path.splitext(inc)[0]
                if target_mod != mod:
                    deps.setdefault(mod, set()).add(target_mod)
            if layer == "core" and name.endswith(".c"):
                for i, line in enumerate(text.split("\n"), 1):
                    if KIND_TEST.search(line):
                        found.append("%s: tests a connection kind (use its handler table)" % rel)
                        break

    # module cycles (Tarjan's strongly connected components, iterative)
    index, low, on, stack, comps, counter = {}, {}, set(), [], [], [0]
    for root in sorted(deps):
        if root in index:
            continue
        work = [(root, iter(sorted(deps.get(root, ()))))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(deps.get(w, ())))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    comps.append(sorted(comp))
    for comp in comps:
        found.append("cycle: " + " <-> ".join(comp))

    bad = [f for f in found if f not in debt]
    paid = sorted(debt - set(found))
    for f in bad:
        print("layers: " + f)
    for f in paid:
        print("layers: %s: listed in tools/layers-debt.txt but gone: remove the line" % f)
    owed = len(debt) - len(paid)
    print("layers: %d violation(s), %d still listed as debt" % (len(bad) + len(paid), owed))
    return 1 if bad or paid else 0


if __name__ == "__main__":
    sys.exit(main())
