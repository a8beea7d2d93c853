"""The layers of server/ as the build means them: what each may include.

The include lists of server/local.am stop a layer from reaching one above it,
but a list names folders, not files: server/http needs server/store for
tokens.h and could then include db.h. These checks read the #include lines.
"""
import os
import re
import subprocess
import sys

from hpotest import Tap

TOP = os.environ.get("TOP_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
INCLUDE = re.compile(r'^\s*#\s*include\s+[<"]([^">]+)[">]')

tap = Tap()


def headers(folder):
    """(file, line number, included name) for every #include under folder."""
    out = []
    root = os.path.join(TOP, folder)
    for name in sorted(os.listdir(root)):
        if not name.endswith((".c", ".h")):
            continue
        with open(os.path.join(root, name), encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if m:
                    out.append((f"{folder}/{name}:{n}", os.path.basename(m.group(1))))
    return out


def names_in(folder):
    return {n for n in os.listdir(os.path.join(TOP, folder)) if n.endswith(".h")}


http_db = [w for w, h in headers("server/http") if h in ("db.h", "sqlite3.h")]
tap.ok(not http_db, "server/http includes neither db.h nor sqlite3.h (tokens.h is its only "
       "store header)", "\n".join(http_db))

upward = names_in("server/http") | names_in("server/api")
core_up = [f"{w} includes {h}" for w, h in headers("server/core") if h in upward]
tap.ok(not core_up, "server/core includes no header of server/http or server/api",
       "\n".join(core_up))

tls = []
for name in sorted(os.listdir(os.path.join(TOP, "server/http"))):
    with open(os.path.join(TOP, "server/http", name), encoding="utf-8", errors="replace") as f:
        tls += [f"server/http/{name}:{n}" for n, line in enumerate(f, 1) if "__thread" in line]
tap.ok(not tls, "no thread-local state in server/http", "\n".join(tls))

p = subprocess.run([sys.executable, os.path.join(TOP, "scripts", "include-cycles.py"),
                    "server/http"], cwd=TOP, capture_output=True, text=True)
tap.ok(p.returncode == 0, "no include cycle among the modules of server/http", p.stdout + p.stderr)
tap.done()
