"""The manuals, the shell scripts and the systemd unit pass their own
ecosystem's checkers: `mandoc -T lint` on doc/*, shellcheck on every shell
script and recipe, `systemd-analyze verify` on contrib/systemd/hpod.service
(its ExecStart and Documentation= man pages resolved) and `systemd-analyze
security` rating the unit's exposure 3.0 or lower.

Each checker must also refuse a broken input, so that its pass means
something. A missing tool skips its part, naming the Debian package.
"""
import glob
import os
import re
import shutil
import subprocess
import tempfile

from hpotest import HPOD, TOP_SRCDIR, Tap

tap = Tap()


def src(*parts):
    return os.path.join(TOP_SRCDIR, *parts)


def run(argv, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120, **kw)
    return r.returncode, (r.stdout + r.stderr).strip()


def skip(what, package):
    tap.n += 1
    print(f"ok {tap.n} - {what} # SKIP {package} not installed", flush=True)


tmp = tempfile.mkdtemp(prefix="hpotest-")

# 1. mandoc
pages = sorted(glob.glob(src("doc", "*.[0-9]")))
if shutil.which("mandoc"):
    rc, out = run(["mandoc", "-T", "lint", "-W", "warning"] + pages)
    tap.ok(rc == 0 and not out, f"mandoc -T lint finds nothing in {len(pages)} manual pages", out)
    bad = os.path.join(tmp, "bad.1")
    with open(bad, "w") as f:
        f.write('.TH BAD 1 "2026"\n.SH NAME\nbad \\- a page\n.SH SYNOPSIS\n.B bad\n.XY\n')
    rc, out = run(["mandoc", "-T", "lint", "-W", "warning", bad])
    tap.ok(rc != 0 and "cannot parse date" in out and "XY" in out,
           "mandoc refuses a page with a bad date and an unknown macro", out)
else:
    skip("mandoc -T lint on doc/*", "mandoc")
    skip("mandoc refuses a broken page", "mandoc")

# 2. shellcheck: every file that starts with a shell's #! line
scripts = []
for pattern in ["scripts/*", "contrib/*/*", "tests/*.sh", "tests/*/*.sh", "tests/ops/*",
                "www/*.sh", "schema/*.sh", "*.sh", ".ci/run", "debian/*.postinst",
                "debian/*.postrm"]:
    for path in sorted(glob.glob(src(pattern))):
        if os.path.isfile(path):
            with open(path, "rb") as f:
                first = f.readline()
            if re.match(rb"#!\s*/(usr/)?bin/(env )?(ba|da)?sh\b", first):
                scripts.append(path)
if shutil.which("shellcheck"):
    rc, out = run(["shellcheck"] + scripts)
    names = [os.path.relpath(p, TOP_SRCDIR) for p in scripts]
    tap.ok(rc == 0, f"shellcheck finds nothing in {len(scripts)} scripts", out or names)
    ci = not os.path.exists(src(".ci", "run")) or ".ci/run" in names  # not in tarballs
    tap.ok(any(n.endswith("hpo-worker.sbatch") for n in names) and ci,
           "among them the Slurm recipe and .ci/run", names)
    bad = os.path.join(tmp, "bad.sh")
    with open(bad, "w") as f:
        f.write('#!/bin/sh\ncd $1\nrm -rf $2/*\n')
    rc, out = run(["shellcheck", bad])
    tap.ok(rc != 0 and "SC2086" in out, "shellcheck refuses unquoted expansions", out)
else:
    skip("shellcheck on scripts and recipes", "shellcheck")
    skip("among them the Slurm recipe", "shellcheck")
    skip("shellcheck refuses a broken script", "shellcheck")

# 3. systemd-analyze: the unit as installed, with its binary and manuals found
analyze = shutil.which("systemd-analyze")
with open(src("contrib", "systemd", "hpod.service")) as f:
    unit = f.read()
exec_path = re.search(r"^ExecStart=(\S+)", unit, re.M).group(1)
man = os.path.join(tmp, "man")
for p in pages:
    section = p.rsplit(".", 1)[1]
    os.makedirs(os.path.join(man, f"man{section}"), exist_ok=True)
    shutil.copy(p, os.path.join(man, f"man{section}"))
env = dict(os.environ, MANPATH=man)


def verify(text):
    path = os.path.join(tmp, "hpod.service")
    with open(path, "w") as f:
        f.write(text.replace(exec_path, HPOD))
    rc, out = run([analyze, "verify", path], env=env)
    return rc, out, path


if analyze and shutil.which("man"):
    rc, out, path = verify(unit)
    tap.ok(rc == 0 and not out, "systemd-analyze verify finds nothing in the unit", out)
    rc, out = run([analyze, "security", "--offline=yes", "--threshold=30", path], env=env)
    score = re.search(r"Overall exposure level for \S+: ([\d.]+)", out)
    tap.ok(rc == 0 and score and float(score.group(1)) <= 3.0,
           f"systemd-analyze security rates its exposure {score.group(1) if score else '?'}, "
           "3.0 or lower", out[-1500:])
    rc, out, path = verify(unit.replace("Documentation=man:hpod(8)", "Documentation=man:hpdo(8)"))
    tap.ok(rc != 0 and "hpdo" in out, "verify refuses a manual that does not exist", out)
    with open(os.path.join(tmp, "missing.service"), "w") as f:
        f.write(unit.replace(exec_path, "/nonexistent/hpod"))
    rc, out = run([analyze, "verify", os.path.join(tmp, "missing.service")], env=env)
    tap.ok(rc != 0 and "/nonexistent/hpod" in out, "and a program that does not exist", out)
    plain = re.sub(r"^(NoNewPrivileges|Protect|Private|Restrict|SystemCall|Capability|Lock|Memory"
                   r"|UMask|Remove|Device|ProcSubset|Ambient).*\n", "", unit, flags=re.M)
    path = os.path.join(tmp, "plain.service")
    with open(path, "w") as f:
        f.write(plain.replace(exec_path, HPOD))
    rc, out = run([analyze, "security", "--offline=yes", "--threshold=30", path], env=env)
    tap.ok(rc != 0, "security refuses the same unit without its hardening", out[-300:])
else:
    for what in ["systemd-analyze verify", "systemd-analyze security", "verify refuses",
                 "verify refuses a type", "security refuses"]:
        skip(what, "systemd (with man-db)")
shutil.rmtree(tmp, ignore_errors=True)

# 4. The image's page has its charts: docker cannot run here, so the
# Dockerfile is read. Its build stage must get npm, install the pinned chart
# library with npm ci before make, and leave the build out of its context.
with open(src("contrib", "kubernetes", "Dockerfile")) as f:
    dockerfile = f.read()
build_stage = dockerfile.split("\nFROM ")[1]
apt = re.search(r"apt-get install[^&]*", build_stage)
tap.ok(apt and re.search(r"\bnodejs\b", apt.group(0)) and re.search(r"\bnpm\b", apt.group(0)),
       "the Dockerfile's build stage installs Node.js and npm")
tap.ok(0 <= build_stage.find("RUN npm ci") < build_stage.find("make install DESTDIR"),
       "and runs npm ci before make install (the chart library into www/vendor)")
with open(src(".dockerignore")) as f:
    ignored = f.read().split()
tap.ok("node_modules" in ignored and "build" in ignored,
       "the docker context leaves out node_modules and build", ignored)
tap.done()
