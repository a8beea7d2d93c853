"""The Debian packages: `dpkg-buildpackage -us -uc -b` on a copy of the
source tree builds hpod and hpo; lintian finds no error in them (and does
find one in a broken package, so that its silence means something); hpod
carries the daemon, the page with its chart library, the unit (verified, and
rated 3.0 or lower by `systemd-analyze security`), the manuals and the example
configuration; hpo depends on nothing of hpod and installs alone. Installed,
hpod has made its system user and /var/lib/hpod; the installed daemon, started
directly as that user (no systemd here), runs a small study to its end with
the installed `hpo worker`. Both packages are purged afterwards.

Needs root and dpkg-dev, debhelper, lintian, fakeroot (scripts/deps.sh --ops);
the chart library must be in node_modules (scripts/npm.sh) or www/vendor.
"""
import glob
import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile

from hpotest import TOP_SRCDIR, Tap, http

tap = Tap()
missing = [t for t in ("dpkg-buildpackage", "dh", "lintian", "fakeroot") if not shutil.which(t)]
if missing:
    tap.skip_all(f"{', '.join(missing)} not installed (apt-get install dpkg-dev debhelper "
                 "lintian fakeroot)")
if os.getuid() != 0:
    tap.skip_all("installing the packages needs root")
chart = os.path.join(TOP_SRCDIR, "node_modules", "echarts", "dist", "echarts.min.js")
vendored = os.path.join(TOP_SRCDIR, "www", "vendor", "echarts.min.js")
if not os.path.exists(chart) and not os.path.exists(vendored):
    tap.skip_all("the chart library is not in node_modules: run scripts/npm.sh first")
for pkg in ("hpod", "hpo"):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True)
    if "installed" in r.stdout:
        tap.skip_all(f"a package {pkg} is installed already: this test would replace it")

tmp = tempfile.mkdtemp(prefix="hpotest-deb-")
src = os.path.join(tmp, "hpod")


def run(argv, timeout=600, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    return r.returncode, (r.stdout + r.stderr).strip()


def last(text, n=25):
    return "\n".join(text.splitlines()[-n:])


def copy_tree():
    """The files git knows of (and new ones it does not ignore), plus the chart library."""
    r = subprocess.run(["git", "-C", TOP_SRCDIR, "ls-files", "-co", "--exclude-standard", "-z"],
                       capture_output=True, timeout=60)
    names = [n for n in r.stdout.decode().split("\0") if n] if r.returncode == 0 else []
    if not names:  # not a git checkout: a source tarball
        shutil.copytree(TOP_SRCDIR, src, ignore=shutil.ignore_patterns("build*", "node_modules"))
    for n in names:
        path = os.path.join(TOP_SRCDIR, n)
        if os.path.isfile(path):
            os.makedirs(os.path.dirname(os.path.join(src, n)), exist_ok=True)
            shutil.copy2(path, os.path.join(src, n))
    if os.path.isdir(os.path.dirname(os.path.dirname(chart))):
        shutil.copytree(os.path.dirname(os.path.dirname(chart)),
                        os.path.join(src, "node_modules", "echarts"))


def contents(deb):
    rc, out = run(["dpkg-deb", "-c", deb])
    return {re.sub(r"^\./", "/", ln.split()[5]) for ln in out.splitlines() if len(ln.split()) > 5}


def field(deb, name):
    rc, out = run(["dpkg-deb", "-f", deb, name])
    return out


def main():
    copy_tree()
    rc, out = run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src,
                  env=dict(os.environ, DEB_BUILD_OPTIONS="parallel=2 nocheck"), timeout=900)
    debs = {os.path.basename(p).split("_")[0]: p for p in glob.glob(os.path.join(tmp, "*.deb"))}
    tap.ok(rc == 0 and "hpod" in debs and "hpo" in debs,
           "dpkg-buildpackage -us -uc -b builds hpod and hpo", last(out))
    if rc != 0 or "hpod" not in debs or "hpo" not in debs:
        return

    rc, out = run(["lintian", "--tag-display-limit", "0", debs["hpod"], debs["hpo"]])
    errors = [ln for ln in out.splitlines() if ln.startswith("E:")]
    tap.ok(not errors, "lintian finds no error in them", out)
    if out:
        tap.diag(out)
    broken = os.path.join(tmp, "broken")
    os.makedirs(os.path.join(broken, "DEBIAN"))
    os.makedirs(os.path.join(broken, "usr", "bin"))
    shutil.copy(os.path.join(src, "test.sh"), os.path.join(broken, "usr", "bin", "broken"))
    with open(os.path.join(broken, "DEBIAN", "control"), "w") as f:
        f.write("Package: broken\nVersion: 1\nArchitecture: all\nMaintainer: nobody\n"
                "Description: a package without copyright\n")
    run(["dpkg-deb", "--root-owner-group", "--build", broken, broken + ".deb"])
    rc, out = run(["lintian", broken + ".deb"])
    tap.ok(rc != 0 and "E: broken: no-copyright-file" in out,
           "lintian does report errors (a package without copyright)", out)

    files = contents(debs["hpod"])
    want = ["/usr/bin/hpod", "/lib/systemd/system/hpod.service", "/etc/hpod/hpod.conf",
            "/usr/share/hpod/www/index.html", "/usr/share/hpod/www/vendor/echarts.min.js",
            "/usr/share/man/man8/hpod.8.gz", "/usr/share/man/man5/hpod.conf.5.gz",
            "/usr/share/doc/hpod/hpod.conf.example"]
    tap.ok(set(want) <= files, "hpod: daemon, unit, config, page, chart library, manuals",
           set(want) - files)
    hpo_files = contents(debs["hpo"])
    tap.ok({"/usr/bin/hpo", "/usr/share/man/man1/hpo.1.gz"} <= hpo_files and
           "/usr/bin/hpod" not in hpo_files, "hpo: the client and worker with its manual")
    depends = field(debs["hpo"], "Depends")
    tap.ok("hpod" not in depends and "libmicrohttpd" not in depends and "sqlite" not in depends,
           "hpo depends on nothing of the daemon's", depends)

    # install hpo alone, then hpod
    apt = ["apt-get", "install", "-y", "-q", "--no-install-recommends"]
    rc, out = run(apt + [debs["hpo"]], env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    rc2, ver = run(["/usr/bin/hpo", "--version"])
    tap.ok(rc == 0 and rc2 == 0 and "0." in ver, "hpo installs alone and runs", out + ver)
    rc, out = run(apt + [debs["hpod"]], env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    tap.ok(rc == 0, "hpod installs", out)
    if rc != 0:
        return
    rc, user = run(["getent", "passwd", "hpod"])
    st = os.stat("/var/lib/hpod") if os.path.isdir("/var/lib/hpod") else None
    tap.ok(rc == 0 and st and pwd.getpwuid(st.st_uid).pw_name == "hpod" and
           (st.st_mode & 0o777) == 0o750 and ("nologin" in user or "/bin/false" in user),
           "the system user hpod owns /var/lib/hpod (0750), with no login shell", user)
    conf = os.stat("/etc/hpod/hpod.conf")
    tap.ok((conf.st_mode & 0o777) == 0o640, "/etc/hpod/hpod.conf is 0640, readable by hpod")

    analyze = shutil.which("systemd-analyze")
    if analyze:
        unit = "/lib/systemd/system/hpod.service"
        rc, out = run([analyze, "verify", unit])
        tap.ok(rc == 0 and not out, "systemd-analyze verify passes the installed unit", out)
        rc, out = run([analyze, "security", "--offline=yes", "--threshold=30", unit])
        score = re.search(r"Overall exposure level for \S+: ([\d.]+)", out)
        tap.ok(rc == 0 and score and float(score.group(1)) <= 3.0,
               f"systemd-analyze security rates the installed unit "
               f"{score.group(1) if score else '?'}", last(out))

    # the installed daemon, as systemd would start it but directly
    with open("/lib/systemd/system/hpod.service") as f:
        exec_start = re.search(r"^ExecStart=(.*)$", f.read(), re.M).group(1).split()
    tap.eq(exec_start[0], "/usr/bin/hpod", "the unit runs /usr/bin/hpod")
    log = open(os.path.join(tmp, "hpod.log"), "wb")
    daemon = subprocess.Popen(["runuser", "-u", "hpod", "--"] + exec_start +
                              ["--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=log,
                              cwd="/var/lib/hpod")
    try:
        line = daemon.stdout.readline().decode()
        url = line.split()[-1] if line.startswith("hpod listening on ") else None
        tap.ok(url, "the installed hpod starts as user hpod with the packaged config", line)
        if not url:
            return
        st, page, _ = http(url + "/")
        st2, js, _ = http(url + "/vendor/echarts.min.js")
        tap.ok(st == 200 and st2 == 200 and len(str(js)) > 100000,
               "it serves the page and its chart library", (st, st2, len(str(js))))
        spec = {"name": "deb", "objective": {"name": "loss", "direction": "minimize"},
                "params": [{"name": "x", "type": "float", "low": -2, "high": 2}],
                "sampler": {"name": "tpe", "seed": 1}, "budget": {"max_trials": 6}}
        path = os.path.join(tmp, "spec.json")
        with open(path, "w") as f:
            json.dump(spec, f)
        env = dict(os.environ, HPO_SERVER=url)
        env.pop("HPO_TOKEN", None)
        rc, out = run(["/usr/bin/hpo", "study", "create", path], env=env)
        tap.ok(rc == 0, "the installed hpo creates a study", out)
        rc, out = run(["/usr/bin/hpo", "worker", "--study", "deb", "--work-dir",
                       os.path.join(tmp, "trials"), "--", "sh", "-c",
                       'echo "@hpo final loss={x}"'], env=env, timeout=120)
        tap.ok(rc == 0, "the installed hpo worker runs it to the end", last(out))
        rc, out = run(["/usr/bin/hpo", "study", "show", "deb", "--json"], env=env)
        try:
            shown = json.loads(out)
        except ValueError:
            shown = {}
        counts = shown.get("counts", {})
        tap.ok(shown.get("state") == "finished" and counts.get("completed") == 6,
               "the study finished with 6 completed trials", out[:600])
        tap.ok(os.path.exists("/var/lib/hpod/hpod.db"),
               "its database is /var/lib/hpod/hpod.db, as the unit says")
    finally:
        daemon.terminate()
        daemon.wait(30)
        log.close()


try:
    main()
finally:
    rc, out = run(["dpkg", "--purge", "hpod", "hpo"])
    tap.ok(rc == 0 and not os.path.exists("/var/lib/hpod") and
           not os.path.exists("/usr/bin/hpod"), "both packages purge cleanly", out)
    shutil.rmtree(tmp, ignore_errors=True)
tap.done()
