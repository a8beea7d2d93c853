#!/bin/sh
# Put one file of the chart library in place: vendor.sh TOP_SRCDIR TARGET.
# The library comes from npm (package.json pins it, `npm ci` installs it);
# a source tarball carries the files already. Without either, the page still
# works and says where its charts went.
set -e
top=$1
target=$2
name=$(basename "$target")
case $name in
echarts.min.js) from=$top/node_modules/echarts/dist/echarts.min.js ;;
echarts-LICENSE) from=$top/node_modules/echarts/LICENSE ;;
echarts-NOTICE) from=$top/node_modules/echarts/NOTICE ;;
*) echo "vendor.sh: unknown file \"$name\"" >&2; exit 1 ;;
esac
dist=$top/$target
mkdir -p "$(dirname "$target")"
if test -f "$from"; then
    src=$from
elif test -f "$dist" && ! test "$dist" -ef "$target" && ! grep -q 'hpod: chart library missing' "$dist"; then
    src=$dist
elif test -f "$target" && ! grep -q 'hpod: chart library missing' "$target"; then
    exit 0
else
    echo "warning: $from not found: run npm ci in $top to get the charts" >&2
    printf '/* hpod: chart library missing: run npm ci, then make */\n' > "$target.tmp"
    mv "$target.tmp" "$target"
    exit 0
fi
if ! cmp -s "$src" "$target"; then
    cp "$src" "$target.tmp"
    mv "$target.tmp" "$target"
fi
