"""hpo over https: hpo links no libcurl and loads libcurl.so.4 at its first https
request. Against hpod --tls-cert with a self-signed certificate it works when
HPO_CA_FILE names that certificate, refuses the server without it (checks stay on),
says plainly what is missing when libcurl.so.4 cannot be loaded, and a worker
runs trials over https. hpo speaking plain http to the TLS port fails cleanly."""
import json
import os
import shutil
import subprocess

from hpotest import HPO, Daemon, Tap, simple_spec

tap = Tap()
if not shutil.which("openssl"):
    tap.skip_all("openssl not installed (Debian package openssl)")

p = subprocess.run(["ldd", HPO], capture_output=True, text=True)
tap.ok(p.returncode == 0 and "libcurl" not in p.stdout, "hpo does not link libcurl", p.stdout)

with Daemon() as d0:
    d0.stop()
    tmp = d0.tmp
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        tap.skip_all("openssl cannot make a certificate: " + p.stderr.strip()[:200])
    spec_file = os.path.join(tmp, "spec.json")
    with open(spec_file, "w") as f:
        json.dump(simple_spec("tls", max_trials=2), f)

    d = Daemon(args=["--tls-cert", cert, "--tls-key", key], workdir=tmp,
               db=os.path.join(tmp, "tls.db"))
    d.start()
    try:
        tap.ok(d.url.startswith("https://127.0.0.1:"), "hpod listens on https", d.url)
        trusted = {"HPO_CA_FILE": cert}

        p = d.hpo("study", "create", spec_file)
        tap.ok(p.returncode == 3 and "certificate" in p.stderr.lower(),
               "without HPO_CA_FILE the self-signed certificate is refused (exit 3)",
               f"rc={p.returncode} {p.stderr}")

        p = d.hpo("study", "create", spec_file, env=trusted)
        tap.ok(p.returncode == 0, "with HPO_CA_FILE a study is created over https",
               f"rc={p.returncode} {p.stdout} {p.stderr}")
        p = d.hpo("--json", "study", "list", env=trusted)
        tap.ok(p.returncode == 0 and '"tls"' in p.stdout, "study list over https names it",
               f"rc={p.returncode} {p.stdout} {p.stderr}")

        p = d.hpo("worker", "--study", "tls", "--max-trials", "2", "--work-dir",
                  os.path.join(tmp, "trials"), "--", "echo", "@hpo", "final", "loss={x}",
                  env=trusted, timeout=120)
        rows = d.sql("SELECT state FROM trials")
        tap.ok(p.returncode == 0 and len(rows) == 2 and all(r[0] == "completed" for r in rows),
               "a worker runs two trials over https",
               f"rc={p.returncode} rows={rows}\n{p.stderr}")

        nolib = os.path.join(tmp, "nolib")
        os.makedirs(nolib)
        open(os.path.join(nolib, "libcurl.so.4"), "w").close()
        p = d.hpo("study", "list", env=dict(trusted, LD_LIBRARY_PATH=nolib))
        tap.ok(p.returncode == 3 and "libcurl.so.4" in p.stderr and "http://" in p.stderr,
               "without a loadable libcurl.so.4: exit 3 and a message naming it",
               f"rc={p.returncode} {p.stderr}")

        plain = "http://" + d.url.split("://", 1)[1]
        p = d.hpo("--server", plain, "study", "list", timeout=60)
        tap.ok(p.returncode == 3 and p.stderr.startswith("hpo: "),
               "plain http to the TLS port: exit 3 with a message", f"rc={p.returncode} {p.stderr}")
        tap.ok(d.proc.poll() is None, "the daemon still runs")
    finally:
        d.stop()

tap.done()
