#!/usr/bin/env bash
# Regenerates the Dagger SDK code (dagger.gen.go and internal/dagger/dagger.gen.go) offline, from the
# v0.21.8 introspection schema kept next to this script and Dagger's own codegen built from the module proxy.
# With --check it regenerates into a scratch copy and fails when the committed files differ (stale code).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
version=v0.21.8
bin="${SHIP_TOOLS_DIR:-$HOME/.cache/ship/tools}/dagger-codegen-$version/codegen"

if [ ! -x "$bin" ]; then
  echo "building dagger codegen $version (once, ~2 min cold)..." >&2
  tmp="$(mktemp -d)"
  go -C "$here" build -trimpath -o "$tmp/codegen" github.com/dagger/dagger/cmd/codegen
  mkdir -p "$(dirname "$bin")" && mv "$tmp/codegen" "$bin" && rmdir "$tmp"
fi

generate() { # $1: module root
  (cd "$1" && "$bin" generate-module --output . --module-source-path . --module-name ship \
    --introspection-json-path "$here/introspection-$version.json" --lib-version "$version" >/dev/null 2>"$1/.codegen.log") \
    || { cat "$1/.codegen.log" >&2; return 1; }
  rm -f "$1/.codegen.log"
  chmod 0644 "$1/dagger.gen.go" "$1/internal/dagger/dagger.gen.go"
}

if [ "${1:-}" != "--check" ]; then
  generate "$root"
  echo "regenerated dagger.gen.go and internal/dagger/dagger.gen.go" >&2
  exit 0
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
# The scratch copy holds exactly what git would check out, plus uncommitted edits to tracked files.
(cd "$root" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$scratch" 2>/dev/null)
generate "$scratch"
stale=0
for f in dagger.gen.go internal/dagger/dagger.gen.go go.mod go.sum; do
  if ! cmp -s "$root/$f" "$scratch/$f"; then
    echo "stale generated code: $f differs from what codegen produces" >&2
    diff -u "$root/$f" "$scratch/$f" | head -40 >&2 || true
    stale=1
  fi
done
if [ "$stale" = 1 ]; then
  echo "fix: run 'go generate .' (or internal/tools/codegen/generate.sh) and commit the result" >&2
  exit 1
fi
echo "generated code is fresh" >&2
