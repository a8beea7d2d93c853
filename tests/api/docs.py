"""The manual pages render cleanly and name every option, command, setting and
environment variable that the code accepts (read from the sources as text),
so that a new option without documentation fails here.

Rendering needs man-db and groff-base (Debian packages); without them only
the contents are checked.
"""
import os
import re
import shutil
import subprocess

from hpotest import TOP_SRCDIR, Tap

tap = Tap()


def read(*parts):
    with open(os.path.join(TOP_SRCDIR, *parts)) as f:
        return f.read()


def plain(roff):
    """Roff source to searchable text: fonts dropped, escapes undone."""
    t = re.sub(r"\\f[BIRP]", "", roff)
    t = t.replace("\\-", "-").replace("\\e", "\\").replace("\\(dq", '"')
    lines = []
    for ln in t.splitlines():
        if ln.startswith("."):
            parts = ln.split(None, 1)
            ln = parts[1].replace('"', "") if len(parts) > 1 else ""
        lines.append(re.sub(r"[ \t]+", " ", ln))
    return "\n".join(lines)


pages = {"hpod.8": None, "hpo.1": None, "hpod.conf.5": None}
for p in pages:
    try:
        pages[p] = read("doc", p)
    except OSError:
        pages[p] = ""
    tap.ok(pages[p].startswith(".TH "), f"doc/{p} is a man page")

man = shutil.which("man")
if man:
    for p in pages:
        r = subprocess.run([man, "--warnings", "-E", "UTF-8", "-l", os.path.join(TOP_SRCDIR, "doc", p)],
                           capture_output=True, text=True, env=dict(os.environ, MANWIDTH="80"),
                           timeout=60)
        tap.ok(r.returncode == 0 and not r.stderr.strip() and len(r.stdout) > 500,
               f"man -l doc/{p} renders without warnings", r.stderr[-1000:])
else:
    tap.diag("man is missing (apt-get install man-db groff-base): rendering not checked")

text = {p: plain(s) for p, s in pages.items()}
version = re.search(r"AC_INIT\(\[hpod\],\s*\[([^\]]+)\]", read("configure.ac")).group(1)
for p, s in pages.items():
    tap.ok(f"hpod {version}" in s.splitlines()[0] if s else False,
           f"doc/{p} carries the package version {version}")


def words_in(page, words, label):
    missing = [w for w in words if w not in text[page]]
    tap.ok(words and not missing, f"{page} names every {label} ({len(words)})", missing)


# hpod: options of server/main.c, token commands, signals, environment.
main_c = read("server", "main.c")
opts = sorted(set(re.findall(r'strcmp\(a, "(--?[a-z-]+)"\)', main_c)) - {"-h", "--help"})
words_in("hpod.8", opts, "option of server/main.c")
words_in("hpod.8", ["token add", "token list", "token revoke", "--role", "SIGTERM", "SIGINT",
                    "HPOD_LLM_FORMAT", "HPOD_LLM_BASE_URL", "HPOD_LLM_MODEL", "HPOD_LLM_API_KEY",
                    "/healthz", "/metrics", ".backup"], "token command, signal and variable")

# hpo: commands of client/main.c, worker options of client/worker_opts.c, exit codes.
cmain = read("client", "main.c")
cmds = re.findall(r'\{"([a-z-]+)", cli_\w+\}', cmain) + ["worker"]
words_in("hpo.1", cmds, "command of client/main.c")
words_in("hpo.1", ["study create", "study list", "study show", "study pause", "study resume",
                   "study delete"], "study subcommand")
worker_c = read("client", "worker_opts.c")
wopts = re.search(r"with_value\[\] = \{(.*?)\}", worker_c, re.S)
wopts = re.findall(r'"(--[a-z-]+)"', wopts.group(1)) if wopts else []
tap.ok(len(wopts) >= 10, f"client/worker_opts.c has the worker's options ({len(wopts)})")
words_in("hpo.1", wopts, "worker option of client/worker_opts.c")
flag_opts = re.findall(r'strcmp\(a, "(--[a-z-]+)"\) == 0', worker_c)
words_in("hpo.1", sorted(set(flag_opts) - {"--"}) or ["--study"], "worker flag")
cli_c = read("client", "cli.c")
words_in("hpo.1", sorted(set(re.findall(r'\{"(--[a-z-]+)", ', cli_c))), "option of client/cli.c")
words_in("hpo.1", ["HPO_SERVER", "HPO_TOKEN", "--json", "CUDA_VISIBLE_DEVICES", "{params_file}",
                   "{trial_dir}", "@hpo final", "@hpo step="], "variable and convention")
rest_h = read("client", "rest.h")
codes = {int(n) for n in re.findall(r"REST_\w+ = (\d+)", rest_h)}
exit_sect = text["hpo.1"].split("EXIT STATUS", 1)[-1].split("EXAMPLES", 1)[0]
shown = {int(n) for n in re.findall(r"^(\d)$", exit_sect, re.M)}
tap.eq(shown, codes, "hpo.1 lists exactly the exit codes of client/rest.h")

# hpod.conf: keys of server/core/settings.c, provider and price keys of server/llm/provider.c.
settings_c = read("server", "core", "settings.c")
keys = re.findall(r'strcmp\(key, "(\w+)"\) == 0', settings_c)
words_in("hpod.conf.5", [k + " =" for k in keys], "setting of server/core/settings.c")
try:
    provider_c = read("server", "llm", "provider.c")
    pkeys = sorted(set(re.findall(r'!strcmp\(key, "(\w+)"\)', provider_c)))
    words_in("hpod.conf.5", [k + " =" for k in pkeys], "provider and price key of provider.c")
except OSError:
    tap.diag("server/llm/provider.c is missing: provider keys not checked")
words_in("hpod.conf.5", ["[provider", "[price", "HPOD_LLM_FORMAT", "HPOD_LLM_BASE_URL",
                         "HPOD_LLM_MODEL", "HPOD_LLM_API_KEY"], "section and variable")

# The example config and the API description agree with the code too.
example = read("contrib", "hpod.conf.example")
shown_keys = set(re.findall(r"^#?(\w+) = ", example, re.M))
tap.ok(set(keys) <= shown_keys, "contrib/hpod.conf.example shows every daemon setting",
       sorted(set(keys) - shown_keys))
import json  # noqa: E402

api = json.loads(read("schema", "openapi.json"))
tap.eq(api.get("info", {}).get("version"), version, "openapi.json's info.version is the package's")

tap.done()
