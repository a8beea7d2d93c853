"""The page's files: a FIFO or a device in the www directory is answered 404 at
once (opening a FIFO used to hold the HTTP thread until a writer came, and
with it every request); files are served from memory with an ETag and
Cache-Control: no-cache, If-None-Match gets 304 without a body, and a changed
file gets its new bytes and a new ETag. Clients pulling the 1 MB chart
library do not hold up the API."""
import os
import shutil
import threading
import time

from hpotest import TOP_SRCDIR, Daemon, Tap, http

tap = Tap()

tmp = __import__("tempfile").mkdtemp(prefix="hpotest-www-")
www = os.path.join(tmp, "www")
shutil.copytree(os.path.join(TOP_SRCDIR, "www"), www)
os.mkfifo(os.path.join(www, "pipe.js"))
os.symlink("/dev/zero", os.path.join(www, "zero.js"))
big = os.path.join(www, "big.js")
with open(big, "wb") as f:
    f.write(b"/* big */" + b"x" * (1100 << 10))


def timed(d, path, headers=None, timeout=10):
    t0 = time.monotonic()
    try:
        st, b, h = http(d.url + path, headers=headers, timeout=timeout)
    except Exception as e:  # noqa: BLE001 - reported
        return None, repr(e), {}, time.monotonic() - t0
    return st, b, h, time.monotonic() - t0


try:
    with Daemon(args=["--www", www]) as d:
        results = {}

        def get_fifo():
            results["fifo"] = timed(d, "/pipe.js", timeout=15)

        t = threading.Thread(target=get_fifo, daemon=True)
        t.start()
        time.sleep(0.3)
        st, b, h, took = timed(d, "/healthz", timeout=5)
        tap.ok(st == 200 and took < 1, f"the API answers while a FIFO is asked for ({took:.3f} s)",
               (st, b))
        t.join(15)
        st, b, h, took = results.get("fifo", (None, "no answer", {}, 99))
        tap.ok(st == 404 and took < 2, f"a FIFO in the www directory: 404 at once ({took:.3f} s)",
               (st, b))
        st, b, h, took = timed(d, "/zero.js")
        tap.ok(st == 404 and took < 2, "a link to a device: 404", (st, str(b)[:80]))
        st, b, h, took = timed(d, "/")
        tap.ok(st == 200 and "<html" in b.lower(), "/ serves index.html")

        st, b, h, took = timed(d, "/index.html")
        etag = h.get("ETag")
        tap.ok(st == 200 and etag and etag.startswith('"') and h.get("Cache-Control") == "no-cache",
               "a file has an ETag and Cache-Control: no-cache", dict(h))
        tap.ok("Content-Security-Policy" in h and h.get("X-Content-Type-Options") == "nosniff",
               "and keeps its security headers", dict(h))
        st, b, h, took = timed(d, "/index.html", headers={"If-None-Match": etag})
        tap.ok(st == 304 and b == "" and h.get("ETag") == etag,
               "If-None-Match with that ETag: 304 without a body", (st, b, dict(h)))
        st, b, h, took = timed(d, "/index.html", headers={"If-None-Match": f'"x", W/{etag}'})
        tap.eq(st, 304, "an ETag among others, or weak, matches too")
        st, b, h, took = timed(d, "/index.html", headers={"If-None-Match": '"other"'})
        tap.eq(st, 200, "another ETag: 200 with the file")

        with open(os.path.join(www, "index.html"), "a") as f:
            f.write("<!-- changed -->\n")
        st, b, h, took = timed(d, "/index.html", headers={"If-None-Match": etag})
        tap.ok(st == 200 and "changed" in b and h.get("ETag") not in (None, etag),
               "a changed file: 200 with its new bytes and a new ETag", (st, dict(h)))

        st, b, h, took = timed(d, "/big.js")
        tap.ok(st == 200 and len(b) == 9 + (1100 << 10), "a 1.1 MB file is served whole",
               len(b) if isinstance(b, str) else b)

        # four clients pulling the big file while the API is measured
        stop = time.monotonic() + 2.0
        pulled = [0]

        def pull():
            while time.monotonic() < stop:
                st, b, h, took = timed(d, "/big.js")
                if st == 200:
                    pulled[0] += 1

        pullers = [threading.Thread(target=pull, daemon=True) for _ in range(4)]
        for p in pullers:
            p.start()
        lat = []
        while time.monotonic() < stop:
            st, b, h, took = timed(d, "/api/v1/studies")
            if st == 200:
                lat.append(took)
        for p in pullers:
            p.join(10)
        lat.sort()
        p99 = lat[int(len(lat) * 0.99) - 1] if lat else None
        tap.diag(f"4 clients pulled the 1.1 MB file {pulled[0]} times in 2 s; the API answered "
                 f"{len(lat)} requests meanwhile, p99 {p99 * 1000 if p99 else 0:.1f} ms")
        tap.ok(lat and p99 < 1.0, "the API keeps answering while the file is pulled", p99)
        st, text = d.call("GET", "/metrics")
        tap.ok("hpod_static_not_modified_total 2" in text,
               "/metrics counts the 304 answers", [x for x in text.splitlines() if "static" in x])
finally:
    shutil.rmtree(tmp, ignore_errors=True)

tap.done()
