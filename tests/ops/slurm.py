"""contrib/slurm/hpo-worker.sbatch on a real Slurm: munged, slurmctld and
slurmd from Debian's packages run as a one-node cluster on this machine (as
root, no systemd; a throwaway slurm.conf, key and state under a temporary
directory), and the recipe is submitted with sbatch as it is, as a job array
of three workers against a study on a local hpod. The node has no GPUs, so
the submission overrides the recipe's request (--gres=none --cpus-per-task=1),
as the recipe says to.

While the study runs, one array task is requeued with `scontrol requeue` and
another gets a time limit that its --signal=B:TERM@120 has already passed, so
that Slurm sends the recipe's SIGTERM. The study must finish with every trial
completed (none failed, none lost), the requeued task must come back under
the same worker id and finish the trial it held, and the signalled task's
trial must be finished by a worker after its lease ran out.

Needs root and the Debian packages slurmd, slurmctld, slurm-client and munge;
skips without them.
"""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

from hpotest import HPO, TOP_SRCDIR, Daemon, Tap, wait_until

tap = Tap()
tools = ["munged", "slurmctld", "slurmd", "sbatch", "scontrol", "squeue", "sinfo", "scancel"]
missing = [t for t in tools if not shutil.which(t)]
if missing:
    tap.skip_all(f"{', '.join(missing)} not installed "
                 "(apt-get install slurmd slurmctld slurm-client munge)")
if os.getuid() != 0:
    tap.skip_all("the one-node Slurm cluster needs root (slurmd runs jobs as their user)")

RECIPE = os.path.join(TOP_SRCDIR, "contrib", "slurm", "hpo-worker.sbatch")
STUDY = "slurm-array"
N_TRIALS = 12


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


tmp = tempfile.mkdtemp(prefix="hpotest-slurm-")
os.chmod(tmp, 0o755)  # munged wants the socket's directory reachable by all
procs = []
host = socket.gethostname().split(".")[0]
env = dict(os.environ, SLURM_CONF=os.path.join(tmp, "slurm.conf"))
for k in list(env):
    if k.startswith("SLURM_") and k != "SLURM_CONF":
        del env[k]


def start(argv, name):
    log = open(os.path.join(tmp, name + ".out"), "wb")
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                         start_new_session=True)
    procs.append(p)
    return p


def slurm(*argv, check=False):
    r = subprocess.run(list(argv), capture_output=True, text=True, env=env, timeout=60)
    return r.returncode, (r.stdout + r.stderr).strip()


def tail(name, n=30):
    try:
        with open(os.path.join(tmp, name), errors="replace") as f:
            return "\n".join(f.read().splitlines()[-n:])
    except OSError as e:
        return str(e)


def job_field(jobid, field):
    rc, out = slurm("scontrol", "show", "job", jobid)
    m = re.search(r"\b" + field + r"=(\S*)", out)
    return m.group(1) if m else None


def stop_all():
    for p in reversed(procs):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def main():
    # munge: a fresh key, a socket of our own
    munge = os.path.join(tmp, "munge")
    os.mkdir(munge, 0o755)
    key = os.path.join(munge, "munge.key")
    with open(key, "wb") as f:
        f.write(os.urandom(1024))
    os.chmod(key, 0o600)
    sock = os.path.join(munge, "munge.sock")
    start(["munged", "--foreground", "--force", f"--key-file={key}", f"--socket={sock}",
           f"--pid-file={munge}/munged.pid", f"--seed-file={munge}/munged.seed",
           f"--log-file={munge}/munged.log"], "munged")
    tap.ok(wait_until(lambda: os.path.exists(sock), timeout=15), "munged starts",
           tail("munged.out"))

    for d in ("ctld", "spool"):
        os.mkdir(os.path.join(tmp, d), 0o755)
    with open(env["SLURM_CONF"], "w") as f:
        f.write(f"""ClusterName=hpotest
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
AuthType=auth/munge
AuthInfo=socket={sock}
CredType=cred/munge
StateSaveLocation={tmp}/ctld
SlurmdSpoolDir={tmp}/spool
SlurmctldPidFile={tmp}/slurmctld.pid
SlurmdPidFile={tmp}/slurmd.pid
SlurmctldLogFile={tmp}/slurmctld.log
SlurmdLogFile={tmp}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
KillWait=10
MinJobAge=600
NodeName={host} NodeAddr=127.0.0.1 CPUs=4 RealMemory=1000 State=UNKNOWN
PartitionName=hpo Nodes={host} Default=YES MaxTime=INFINITE State=UP
""")
    start(["slurmctld", "-D", "-f", env["SLURM_CONF"]], "slurmctld")
    start(["slurmd", "-D", "-f", env["SLURM_CONF"], "-N", host], "slurmd")
    idle = wait_until(lambda: "idle" in slurm("sinfo", "-h", "-o", "%t")[1], timeout=40)
    tap.ok(idle, "slurmctld and slurmd start: the node is idle",
           tail("slurmctld.log") + "\n" + tail("slurmd.log"))
    if not idle:
        return

    with Daemon() as d:
        spec = {
            "name": STUDY, "objective": {"name": "loss", "direction": "minimize"},
            "params": [{"name": "x", "type": "float", "low": 0, "high": 1}],
            "sampler": {"name": "random", "seed": 3},
            "budget": {"max_trials": N_TRIALS, "max_parallel": 3, "max_failures": 1},
            # a 90 s lease: a step's end can take Slurm up to its
            # UnkillableStepTimeout (60 s) on a busy node, and the requeued
            # task must still find its trial leased when it comes back
            "lease": {"heartbeat_s": 2, "stale_after": 45, "max_retries": 3},
        }
        st, _ = d.call("POST", "/api/v1/studies", spec)
        tap.eq(st, 201, "the study is created")
        train = os.path.join(tmp, "train.sh")
        with open(train, "w") as f:
            # task 2 trains until Slurm stops it; the others take 3 s a trial
            f.write('#!/bin/sh\necho "@hpo step=1 loss=1"\n'
                    'if [ "$SLURM_ARRAY_TASK_ID" = 2 ]; then sleep 300; else sleep 3; fi\n'
                    'echo "@hpo final loss=$1"\n')
        jenv = dict(env, HPO_SERVER=d.url,
                    PATH=os.path.dirname(os.path.abspath(HPO)) + os.pathsep + env["PATH"])
        r = subprocess.run(["sbatch", "--parsable", "--array=0-2", "--gres=none",
                            "--cpus-per-task=1", f"--chdir={tmp}", RECIPE, STUDY, "--",
                            "sh", train, "{x}"],
                           capture_output=True, text=True, env=jenv, timeout=60)
        job = r.stdout.strip().split(";")[0]
        tap.ok(r.returncode == 0 and job.isdigit(),
               "sbatch takes the recipe as a job array of 3 (GPU request overridden)",
               r.stdout + r.stderr)
        if not job.isdigit():
            return

        def left_leased(task):
            """The number of the trial the task's worker left leased when it stopped."""
            m = re.search(r"^trial (\d+) stopped, left leased to ", tail(f"hpo-worker-{job}_{task}.out",
                                                                          200), re.M)
            return int(m.group(1)) if m else None

        def held_by(worker):
            trials = d.trials(STUDY)
            return [t for t in trials if t["state"] == "running" and t["worker"] == worker]

        # every task runs a trial, under its own worker id
        ids = [f"slurm-{job}-{i}:0" for i in range(3)]
        all_run = wait_until(lambda: all(held_by(w) for w in ids), timeout=60, step=0.3)
        tap.ok(all_run, f"the three tasks run trials as {', '.join(ids)}",
               [(t["number"], t["state"], t["worker"]) for t in d.trials(STUDY)])

        # requeue task 1 while it holds a trial; Slurm holds a requeued batch
        # job back for two minutes, which an administrator may cut short
        held = held_by(ids[1])
        requeued = held[0]["number"] if held else None
        rc, out = slurm("scontrol", "requeue", f"{job}_1")
        requeued_at = time.monotonic()
        tap.ok(rc == 0 and requeued is not None,
               "scontrol requeue of task 1 while it runs a trial", out)
        left = wait_until(lambda: left_leased(1), timeout=60, step=0.2)
        tap.eq(left, requeued, f"its worker stops and leaves trial {requeued} leased to {ids[1]}")

        def restart():
            if job_field(f"{job}_1", "JobState") == "PENDING":
                slurm("scontrol", "update", f"JobId={job}_1", "StartTime=now")
            return job_field(f"{job}_1", "JobState") == "RUNNING"

        tap.ok(wait_until(restart, timeout=120, step=0.5),
               "the requeued task, let start at once, runs again",
               slurm("scontrol", "show", "job", f"{job}_1")[1] + "\n" +
               tail(f"hpo-worker-{job}_1.out", 40) + "\n" + tail("slurmd.log", 40) + "\n" +
               tail("slurmctld.log", 20))
        tap.diag(f"task 1 ran again {time.monotonic() - requeued_at:.1f} s after its requeue")
        # task 2: a time limit the recipe's --signal=B:TERM@120 has passed already
        # (two minutes: the worker stops at once; the rest is room for the
        # node to end the step)
        rc, out = slurm("scontrol", "update", f"JobId={job}_2", "TimeLimit=2")
        tap.ok(rc == 0, "task 2 gets a time limit of two minutes", out)
        signalled = wait_until(lambda: left_leased(2), timeout=90, step=0.5)
        tap.ok(signalled is not None,
               f"before the limit the recipe's SIGTERM stops task 2's worker, leaving trial "
               f"{signalled} leased", tail(f"hpo-worker-{job}_2.out"))

        finished = wait_until(
            lambda: d.call("GET", f"/api/v1/studies/{STUDY}")[1].get("state") == "finished",
            timeout=360, step=1)
        trials = d.trials(STUDY)
        states = {}
        for t in trials:
            states[t["state"]] = states.get(t["state"], 0) + 1
        tap.ok(finished, "the study finishes", (states, tail(f"hpo-worker-{job}_0.out")))
        tap.eq(states, {"completed": N_TRIALS},
               f"all {N_TRIALS} trials completed: none failed, none lost")
        by_number = {t["number"]: t for t in trials}
        t1 = by_number.get(requeued, {})
        tap.ok(t1.get("state") == "completed" and t1.get("worker") == ids[1],
               f"the requeued task came back as {ids[1]} and finished the trial it held",
               {k: t1.get(k) for k in ("number", "state", "worker", "attempts")})
        tap.ok(int(job_field(f"{job}_1", "Restarts") or 0) >= 1,
               "Slurm counts the restart of task 1")
        tap.eq(job_field(f"{job}_2", "JobState"), "COMPLETED",
               "task 2 ended of itself before its time limit (no TIMEOUT)")
        t2 = by_number.get(signalled, {})
        tap.ok(t2.get("state") == "completed" and (t2.get("attempts") or 0) >= 2,
               "its trial was requeued when the lease ran out and completed by another worker",
               {k: t2.get(k) for k in ("number", "state", "worker", "attempts")})
        workers = {t["worker"] for t in trials}
        tap.ok(workers <= set(ids), "every trial ran on one of the array's workers", workers)
        slurm("scancel", job)
        wait_until(lambda: not slurm("squeue", "-h")[1], timeout=30)


try:
    main()
finally:
    stop_all()
    shutil.rmtree(tmp, ignore_errors=True)
tap.done()
