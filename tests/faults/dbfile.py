"""The database file. One daemon per database: a second hpod on the same file
exits at once naming the process that holds it, and the first keeps serving.
A damaged page (bytes of a page of the trials table overwritten while the
daemon was down) is refused at start-up with one line pointing at `hpod check`,
which lists SQLite's findings and the schema's own rules broken and exits
non-zero. An empty file (a failed copy), a file that is not SQLite, another
program's SQLite file and (when not root) a read-only file are refused with a
line that says which."""
import os
import shutil
import sqlite3
import subprocess

from hpotest import HPOD, Daemon, Tap, simple_spec

tap = Tap()


def hpod(*args, timeout=60):
    return subprocess.run([HPOD] + list(args), capture_output=True, text=True, timeout=timeout)


def start_fails(d):
    """Start d expecting a refusal: (refused, last line of its log)."""
    try:
        d.start()
    except RuntimeError:
        lines = [ln for ln in d.log().splitlines() if ln.startswith("hpod: ")]
        return True, lines[-1] if lines else ""
    d.stop()
    return False, ""


def corrupt_trials_page(path):
    """Overwrite 200 bytes in the middle of a leaf page of the trials table."""
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    ps = con.execute("PRAGMA page_size").fetchone()[0]
    root = con.execute("SELECT rootpage FROM sqlite_schema WHERE name = 'trials'").fetchone()[0]
    con.close()
    with open(path, "r+b") as f:
        f.seek((root - 1) * ps)
        page = f.read(ps)
        assert page[0] == 5, "the trials table spans pages"
        cells = int.from_bytes(page[3:5], "big")
        at = int.from_bytes(page[12 + 2 * (cells // 2):14 + 2 * (cells // 2)], "big")
        leaf = int.from_bytes(page[at:at + 4], "big")
        f.seek((leaf - 1) * ps + ps // 2)
        f.write(b"\xee" * 200)


with Daemon() as d:
    st, b = d.call("POST", "/api/v1/studies", simple_spec("big", max_trials=400))
    for i in range(300):
        st, b = d.call("POST", "/api/v1/studies/big/suggest", {"worker": "w", "count": 1})
        d.call("POST", f"/api/v1/trials/{b['trials'][0]['id']}/complete",
               {"worker": "w", "value": float(i)})
    tap.eq(d.call("GET", "/api/v1/studies/big")[1]["counts"]["completed"], 300,
           "300 completed trials")

    # --- one daemon per database ---
    try:
        second = subprocess.run([HPOD, "--db", d.db, "--listen", "127.0.0.1:0"],
                                capture_output=True, text=True, timeout=15)
        code, why = second.returncode, second.stderr
    except subprocess.TimeoutExpired:
        code, why = None, "the second daemon started and ran"
    tap.ok(code not in (0, None) and "in use by another hpod" in why and str(d.proc.pid) in why,
           "a second hpod on the same database exits non-zero naming the first's process", why)
    st, b = d.call("POST", "/api/v1/studies/big/suggest", {"worker": "w", "count": 1})
    tid = b["trials"][0]["id"]
    st, b = d.call("POST", f"/api/v1/trials/{tid}/heartbeat", {"worker": "w"})
    st2, b2 = d.call("POST", f"/api/v1/trials/{tid}/complete", {"worker": "w", "value": 1.5})
    tap.ok(st == 200 and st2 == 200, "the first keeps serving its workers", (b, b2))

    p = hpod("check", d.db)
    tap.ok(p.returncode == 0 and p.stdout == "", "hpod check on a sound database: exit 0",
           p.stdout + p.stderr)

    # --- a damaged page ---
    d.stop()
    corrupt_trials_page(d.db)
    refused, line = start_fails(d)
    tap.ok(refused and "damaged" in line and "hpod check" in line,
           "a damaged database is refused at start-up with one line", line or d.log()[-2000:])
    p = hpod("check", d.db)
    tap.ok(p.returncode == 1 and "integrity_check" in p.stdout and "problem" in p.stderr,
           "hpod check lists the damage and exits 1", p.stdout + p.stderr)

    # --- the schema's own rules ---
    fresh = os.path.join(d.tmp, "rules.db")
    e = Daemon(workdir=d.tmp, db=fresh)
    e.start()
    e.call("POST", "/api/v1/studies", simple_spec("r", max_trials=5))
    st, b = e.call("POST", "/api/v1/studies/r/suggest", {"worker": "w", "count": 2})
    e.call("POST", f"/api/v1/trials/{b['trials'][0]['id']}/complete", {"worker": "w", "value": 1})
    e.stop()
    con = sqlite3.connect(fresh)
    con.execute("UPDATE trials SET value = NULL WHERE state = 'completed'")
    con.execute("UPDATE trials SET lease_expires_at = NULL WHERE state = 'running'")
    con.execute("UPDATE studies SET next_number = 1")
    con.commit()
    con.close()
    p = hpod("check", fresh)
    out = p.stdout
    tap.ok(p.returncode == 1 and "completed without a value" in out
           and "running without a lease" in out and "next_number" in out,
           "hpod check finds a completed trial without value, a running one without lease, "
           "and next_number behind", out + p.stderr)

    # --- files that are not a database hpod can use ---
    empty = os.path.join(d.tmp, "empty.db")
    open(empty, "wb").close()
    refused, line = start_fails(Daemon(workdir=d.tmp, db=empty))
    tap.ok(refused and "empty file" in line, "an empty file is refused, not taken as new", line)
    tap.eq(os.path.getsize(empty), 0, "and left as it was")

    text = os.path.join(d.tmp, "notes.db")
    with open(text, "w") as f:
        f.write("these are my notes, not a database\n" * 200)
    refused, line = start_fails(Daemon(workdir=d.tmp, db=text))
    tap.ok(refused and "not an SQLite database" in line, "a text file: not an SQLite database",
           line)

    other = os.path.join(d.tmp, "other.db")
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT)")
    con.execute("INSERT INTO photos (path) VALUES ('a.jpg')")
    con.commit()
    con.close()
    refused, line = start_fails(Daemon(workdir=d.tmp, db=other))
    tap.ok(refused and "without hpod's schema" in line,
           "another program's SQLite file: said so", line)
    con = sqlite3.connect(other)
    tap.ok(con.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0] == 1
           and con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
           and not os.path.exists(other + "-lock"),
           "and it is left untouched (no hpod tables, not switched to WAL, no lock file)")
    con.close()

    # a read-only file system: a read-only bind mount in a mount namespace of
    # its own when root (root writes a file whatever its mode), a mode of 0444
    # otherwise
    ro_dir = os.path.join(d.tmp, "ro")
    os.mkdir(ro_dir)
    ro = os.path.join(ro_dir, "ro.db")
    r = Daemon(workdir=d.tmp, db=ro)
    r.start()
    r.stop()
    if os.geteuid() == 0 and shutil.which("unshare"):
        script = (f"mount --bind {ro_dir} {ro_dir} && mount -o remount,ro,bind {ro_dir} || "
                  f"exit 99; exec {HPOD} --db {ro} --listen 127.0.0.1:0")
        try:
            p = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True,
                               text=True, timeout=20)
            code, why = p.returncode, p.stderr
        except subprocess.TimeoutExpired:
            code, why = None, "hpod started on a read-only file system"
        if code == 99:
            tap.diag(f"no read-only bind mount here ({why.strip()}): that case is not checked")
        else:
            tap.ok(code not in (0, None) and "read-only file system" in why,
                   "a database on a read-only file system: said so", why)
    else:
        os.chmod(ro, 0o444)
        refused, line = start_fails(r)
        tap.ok(refused and "read-only" in line, "a read-only database file: said so", line)
        os.chmod(ro, 0o644)
tap.done()
