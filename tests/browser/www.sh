#!/bin/sh
# The browser test of the web page: runs www.mjs under node with Debian's
# chromium, or skips when node, chromium or the npm packages are missing.
top=${TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
chromium=${CHROMIUM:-/usr/bin/chromium}
if test -n "${SKIP_BROWSER:-}"; then
    echo "1..0 # SKIP SKIP_BROWSER is set"
    exit 0
fi
if ! command -v node >/dev/null 2>&1; then
    echo "1..0 # SKIP node is not installed (apt-get install nodejs npm)"
    exit 0
fi
if ! test -x "$chromium"; then
    echo "1..0 # SKIP $chromium is not installed (apt-get install chromium)"
    exit 0
fi
if ! test -d "$top/node_modules/playwright-core" || ! test -d "$top/node_modules/echarts"; then
    echo "1..0 # SKIP node_modules is missing (run npm ci in the source tree)"
    exit 0
fi
if ! test -x "${HPOD_BIN:-}"; then
    echo "1..0 # SKIP HPOD_BIN is not set to a built hpod"
    exit 0
fi
CHROMIUM=$chromium exec node "$top/tests/browser/www.mjs"
