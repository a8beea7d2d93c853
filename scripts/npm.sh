#!/bin/sh
# Install the page's pinned npm packages (chart library, playwright-core for the
# browser tests) when package.json is present and node_modules is missing.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -f package.json ] || exit 0
command -v npm >/dev/null 2>&1 || exit 0
if [ ! -d node_modules ] || [ -n "$(find package-lock.json -newer node_modules)" ]; then
    if [ -f package-lock.json ]; then
        npm ci --no-audit --no-fund --loglevel=error
    else
        npm install --no-audit --no-fund --loglevel=error
    fi
fi
