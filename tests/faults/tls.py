"""TLS: hpod with --tls-cert/--tls-key serves HTTPS (a self-signed certificate made
with openssl for the test), refuses plain HTTP on that port, and refuses to
start with only one of the two files or with a file that is not PEM."""
import os
import shutil
import ssl
import subprocess
import urllib.request

from hpotest import HPOD, Daemon, Tap, simple_spec

tap = Tap()
if not shutil.which("openssl"):
    tap.skip_all("openssl not installed (Debian package openssl)")

with Daemon() as d0:
    d0.stop()
    tmp = d0.tmp
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1"],
                       capture_output=True, text=True, timeout=60)
    tap.ok(p.returncode == 0, "a self-signed certificate is made", p.stderr)

    d = Daemon(args=["--tls-cert", cert, "--tls-key", key], workdir=tmp,
               db=os.path.join(tmp, "tls.db"))
    d.start()
    try:
        tap.ok(d.url.startswith("https://127.0.0.1:"), "hpod says it listens on https", d.url)
        if shutil.which("curl"):
            p = subprocess.run(["curl", "-sk", "--max-time", "10", d.url + "/healthz"],
                               capture_output=True, text=True)
            tap.eq(p.stdout.strip(), '{"status":"ok"}', "curl -k gets /healthz over TLS")
            p = subprocess.run(["curl", "-s", "--max-time", "10", d.url + "/healthz"],
                               capture_output=True, text=True)
            tap.ok(p.returncode != 0, "curl without -k refuses the self-signed certificate")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        req = urllib.request.Request(d.url + "/api/v1/studies", method="POST",
                                     data=__import__("json").dumps(simple_spec("tls")).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            tap.eq(r.status, 201, "a study is created over TLS")
        plain = "http://" + d.url.split("://", 1)[1]
        try:
            urllib.request.urlopen(plain + "/healthz", timeout=5).read()
            tap.ok(False, "plain HTTP on the TLS port is refused")
        except Exception:
            tap.ok(True, "plain HTTP on the TLS port is refused")
        tap.ok(d.proc.poll() is None, "the daemon still runs after the plain-HTTP attempt")
    finally:
        d.stop()

    def refuse(args):
        p = subprocess.run([HPOD, "--db", os.path.join(tmp, "x.db"), "--listen", "127.0.0.1:0"]
                           + args, capture_output=True, text=True, timeout=20)
        return p.returncode, p.stderr

    rc, err = refuse(["--tls-cert", cert])
    tap.ok(rc != 0 and "--tls-key" in err, "a certificate without a key: refused", err)
    rc, err = refuse(["--tls-cert", cert, "--tls-key", os.path.join(tmp, "none.pem")])
    tap.ok(rc != 0 and "none.pem" in err, "a missing key file: refused naming it", err)
    with open(os.path.join(tmp, "junk.pem"), "w") as f:
        f.write("not a key\n")
    rc, err = refuse(["--tls-cert", cert, "--tls-key", os.path.join(tmp, "junk.pem")])
    tap.ok(rc != 0 and "PEM" in err, "a key file that is not PEM: refused", err)
    rc, err = refuse(["--tls-cert", key, "--tls-key", cert])
    tap.ok(rc != 0, "a certificate and key swapped: refused", err)

tap.done()
