#!/usr/bin/env python3
"""Report include cycles between modules.

A module is a .c/.h pair (server/http/http.c and server/http/http.h are the
module server/http/http; a private header NAME_int.h belongs to the module
NAME). Module A depends on module B when A's .c or .h
includes "B.h". A cycle is a set of modules that depend on each other, directly
or through others; each is printed with the #include lines that close it.

usage: scripts/include-cycles.py [DIR ...]   (default: server common client)
Exit status 0 when there is no cycle, 1 otherwise.
"""

import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def sources(dirs):
    for top in dirs:
        for root, _, files in os.walk(top):
            for f in sorted(files):
                if f.endswith((".c", ".h")):
                    yield os.path.join(root, f)


def resolve(header, including, by_name):
    """The path of header as included from the file including."""
    here = os.path.join(os.path.dirname(including), header)
    if os.path.exists(here):
        return os.path.normpath(here)
    found = by_name.get(os.path.basename(header), [])
    if len(found) == 1:
        return found[0]
    # Same name in several folders: the one in the same top folder wins.
    top = including.split(os.sep)[0]
    near = [p for p in found if p.split(os.sep)[0] == top]
    return near[0] if len(near) == 1 else None


def module_of(path):
    """The module a file belongs to: its path without the extension, and
    without the _int suffix of a private header."""
    base = os.path.splitext(path)[0]
    return base[:-4] if path.endswith("_int.h") else base


def strongly_connected(graph):
    """Tarjan's algorithm, iterative; the components of more than one node."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            advanced = False
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    n = stack.pop()
                    on_stack.discard(n)
                    comp.append(n)
                    if n == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def main():
    dirs = sys.argv[1:] or ["server", "common", "client"]
    for d in dirs:
        if not os.path.isdir(d):
            sys.exit("include-cycles: no folder \"%s\" (run it from the top of the tree)" % d)
    files = list(sources(dirs))
    by_name = {}
    for f in files:
        if f.endswith(".h"):
            by_name.setdefault(os.path.basename(f), []).append(os.path.normpath(f))
    graph, why = {}, {}
    for f in files:
        mod = module_of(os.path.normpath(f))
        graph.setdefault(mod, set())
        with open(f, encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                target = resolve(m.group(1), f, by_name)
                if not target:
                    continue
                dep = module_of(target)
                if dep != mod:
                    graph[mod].add(dep)
                    why.setdefault((mod, dep), "%s:%d" % (f, lineno))
    cycles = strongly_connected(graph)
    for comp in cycles:
        members = set(comp)
        print("cycle: " + " <-> ".join(comp))
        for a in comp:
            for b in sorted(graph[a] & members):
                print("    %s includes %s.h" % (why[(a, b)], b))
    edges = sum(len(v) for v in graph.values())
    print("%d modules, %d include edges, %d cycle(s)" % (len(graph), edges, len(cycles)))
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
