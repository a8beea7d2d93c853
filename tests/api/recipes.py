"""The operations recipes work with the real programs: the example config
starts hpod, the systemd unit is valid and runs hpod with options it knows,
the Slurm script runs one worker slot per allotted GPU, and the Dockerfile
installs the packages configure asks for.
"""
import os
import re
import shutil
import subprocess
import tempfile

from hpotest import HPO, HPOD, TOP_SRCDIR, Daemon, Tap, simple_spec

tap = Tap()


def read(*parts):
    with open(os.path.join(TOP_SRCDIR, *parts)) as f:
        return f.read()


def start_hpod(args, env=None, timeout=20):
    """hpod with args; (ok, first stdout line or stderr). Stops it again."""
    p = subprocess.Popen([HPOD] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=dict(os.environ, **(env or {})))
    try:
        line = p.stdout.readline().decode()
        if line.startswith("hpod listening on "):
            return True, line
        p.wait(timeout)
        return False, p.stderr.read().decode()
    finally:
        if p.poll() is None:
            p.terminate()
            p.wait(timeout)


# 1. contrib/hpod.conf.example
example = read("contrib", "hpod.conf.example")
with tempfile.TemporaryDirectory(prefix="hpotest-") as tmp:
    db = os.path.join(tmp, "hpod.db")

    def conf(text):
        path = os.path.join(tmp, "hpod.conf")
        with open(path, "w") as f:
            f.write(re.sub(r"^db = .*$", f"db = {db}", text, flags=re.M))
        return path

    ok, out = start_hpod(["--config", conf(example), "--listen", "127.0.0.1:0"])
    tap.ok(ok, "hpod starts with contrib/hpod.conf.example as it is", out)
    tap.ok(os.path.exists(db), "and uses the database it names (db =)")
    # Every commented daemon setting is valid too (TLS and www only name files).
    daemon_part = example.split("#[provider", 1)[0]
    lines = [ln[1:] if re.match(r"^#\w+ = ", ln) and not ln.startswith(("#tls_", "#www"))
             else ln for ln in daemon_part.splitlines()]
    ok, out = start_hpod(["--config", conf("\n".join(lines)), "--listen", "127.0.0.1:0"])
    tap.ok(ok, "with its commented daemon settings turned on, hpod starts", out)
    # The provider and price sections, turned on, are accepted once the LLM
    # registry reads them.
    sections = example[len(daemon_part):]
    on = re.sub(r"^#(\[|\w+ = )", r"\1", sections, flags=re.M)
    ok, out = start_hpod(["--config", conf(daemon_part + on), "--listen", "127.0.0.1:0"],
                         env={"ANTHROPIC_API_KEY": "test-key", "OPENAI_API_KEY": "test-key"})
    if not ok and "unknown section" in out:
        tap.n += 1
        print(f"ok {tap.n} - the example's provider sections load # SKIP this build's config "
              f"reader does not take [provider] sections yet", flush=True)
    else:
        tap.ok(ok, "the example's provider and price sections load", out)

# 2. contrib/systemd/hpod.service
unit = read("contrib", "systemd", "hpod.service")
exec_start = re.search(r"^ExecStart=(\S+)(.*)$", unit, re.M)
tap.ok(exec_start and os.path.basename(exec_start.group(1)) == "hpod",
       "the unit's ExecStart runs hpod")
main_c = read("server", "main.c")
known = set(re.findall(r'strcmp\(a, "(--?[a-z-]+)"\)', main_c))
used = re.findall(r"(--?[a-z-]+)", exec_start.group(2) if exec_start else "")
tap.ok(used and set(used) <= known, f"ExecStart uses only options hpod knows {used}",
       set(used) - known)
tap.ok(re.search(r"^KillSignal=SIGTERM$", unit, re.M) and "Restart=on-failure" in unit,
       "stop with SIGTERM (clean shutdown), restart on failure")
analyze = shutil.which("systemd-analyze")
if analyze:
    with tempfile.TemporaryDirectory(prefix="hpotest-") as tmp:
        path = os.path.join(tmp, "hpod.service")
        with open(path, "w") as f:
            f.write(unit.replace(exec_start.group(1), HPOD))
        r = subprocess.run([analyze, "verify", path], capture_output=True, text=True, timeout=60)
        problems = [ln for ln in (r.stderr + r.stdout).splitlines()
                    if ln.strip() and "man " not in ln and "Documentation" not in ln]
        tap.ok(not problems, "systemd-analyze verify finds nothing wrong", "\n".join(problems))
else:
    tap.diag("systemd-analyze is missing: the unit is not verified")

# 3. contrib/slurm/hpo-worker.sbatch, run as Slurm would on a node with 2 GPUs.
sbatch = os.path.join(TOP_SRCDIR, "contrib", "slurm", "hpo-worker.sbatch")
r = subprocess.run(["bash", "-n", sbatch], capture_output=True, text=True)
tap.eq(r.returncode, 0, "the Slurm script parses (bash -n)")
tap.ok(re.search(r"^#SBATCH --gres=gpu:\d+", read("contrib", "slurm", "hpo-worker.sbatch"), re.M),
       "it asks Slurm for GPUs")
r = subprocess.run(["bash", sbatch], capture_output=True, text=True, timeout=30)
tap.eq(r.returncode, 2, "without a study and a command it prints its usage and exits 2")
with Daemon() as d, tempfile.TemporaryDirectory(prefix="hpotest-") as tmp:
    spec = simple_spec("slurm", max_trials=6)
    d.call("POST", "/api/v1/studies", spec)
    shim = os.path.join(tmp, "bin")
    os.mkdir(shim)
    with open(os.path.join(shim, "hpo"), "w") as f:
        f.write(f'#!/bin/sh\nexec "{HPO}" "$@"\n')
    os.chmod(os.path.join(shim, "hpo"), 0o755)
    env = dict(os.environ, PATH=shim + os.pathsep + os.environ.get("PATH", ""),
               HPO_SERVER=d.url, CUDA_VISIBLE_DEVICES="0,1", SLURM_JOB_ID="4242",
               SLURM_ARRAY_JOB_ID="4241", SLURM_ARRAY_TASK_ID="3", TMPDIR=tmp)
    env.pop("HPO_TOKEN", None)
    job = ["sh", "-c", 'sleep 0.2; echo "@hpo final loss=$CUDA_VISIBLE_DEVICES"']
    r = subprocess.run(["bash", sbatch, "slurm", "--"] + job, capture_output=True, text=True,
                       env=env, timeout=120)
    tap.eq(r.returncode, 0, "the Slurm script runs the study to its end")
    if r.returncode:
        tap.diag(r.stderr[-2000:])
    st, page = d.call("GET", "/api/v1/studies/slurm/trials")
    trials = page.get("trials", []) if isinstance(page, dict) else []
    tap.eq(sum(t["state"] == "completed" for t in trials), 6, "all 6 trials completed")
    workers = {t["worker"] for t in trials}
    tap.eq(workers, {"slurm-4241-3:0", "slurm-4241-3:1"},
           "one slot per GPU, named after the array job and task")
    mismatched = [(t["worker"], t["value"]) for t in trials
                  if t["value"] is None or int(t["worker"].rsplit(":", 1)[1]) != int(t["value"])]
    tap.ok(trials and not mismatched, "each slot's command saw only its own GPU", mismatched)
    tap.ok(os.path.isdir(os.path.join(tmp, "hpo-4241-3")),
           "trial directories go to the node's TMPDIR")

# 4. contrib/kubernetes/Dockerfile installs what configure needs.
dockerfile = read("contrib", "kubernetes", "Dockerfile")
needed = re.findall(r"HPO_NEED\(\[\w+\], \[[^\]]+\], \[([\w.+-]+)\]\)", read("configure.ac"))
build_stage = dockerfile.split("\nFROM ", 2)[1] if dockerfile.count("\nFROM ") else dockerfile
missing = [p for p in needed if not re.search(r"(?<![\w.+-])" + re.escape(p) + r"(?![\w.+-])",
                                              build_stage)]
tap.ok(needed and not missing, f"the Dockerfile's build stage installs configure's packages "
                               f"({len(needed)})", missing)
tap.ok(re.search(r'ENTRYPOINT \["hpod"\]', dockerfile) and "EXPOSE 8080" in dockerfile,
       "the image runs hpod on port 8080")

tap.done()
