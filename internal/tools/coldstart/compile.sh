#!/usr/bin/env bash
# What a fresh CI runner pays to compile the module, this tree against a base revision, side by side on the
# same machine. Dagger's Go SDK builds the module root (`go build .`, package main) in an engine whose Go
# build cache starts empty except for the standard library its SDK image ships precompiled; the module
# cache is a download, not a compile. So this times a cold `go build -o /dev/null .` of the module root with
# the module cache warm, for both trees, alternating their order each round so the machine's load hits both
# alike, and reports both figures (wall and CPU seconds), their ratios and the count of non-standard
# packages each compiles. It asserts nothing: on a shared 2-core machine wall times vary by tens of percent
# between runs, CPU time (user+sys) much less.
#
#   bash internal/tools/coldstart/compile.sh [BASE_REV [ROUNDS]]    # default HEAD~1, 1 round
#   COLDSTART_STD=prebuilt bash internal/tools/coldstart/compile.sh main 2
#
# COLDSTART_STD=empty (default) starts each build from an empty GOCACHE, standard library included;
# prebuilt compiles the standard library first, untimed, as the engine's Go SDK image has it. CGO is off
# in both, as in that image (golang:alpine, no C compiler).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
base_rev="${1:-HEAD~1}"
rounds="${2:-1}"
std="${COLDSTART_STD:-empty}"
case "$std" in empty | prebuilt) ;; *) echo "COLDSTART_STD must be empty or prebuilt, not $std" >&2; exit 2 ;; esac
export CGO_ENABLED=0 GOFLAGS=-mod=mod

work="$(mktemp -d)"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
trap "exit 130" INT TERM
base_sha="$(git -C "$root" rev-parse --short "$base_rev")"
mkdir -p "$work/base" "$work/this"
git -C "$root" archive "$base_sha" | tar -x -C "$work/base"
# This tree: what git would check out, plus uncommitted edits to tracked files.
(cd "$root" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$work/this" 2>/dev/null)

count() { go -C "$1" list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' . | grep -c .; }
for t in base this; do count "$work/$t" >"$work/$t.count"; done # also fills the module cache

if [ "$std" = prebuilt ]; then
  GOCACHE="$work/std-cache" go build std
fi
build() { # $1: tree; prints "wall cpu" seconds (cpu: user+sys of go and the compilers it runs)
  local cache="$work/cache-$1" TIMEFORMAT='%R %U %S' wall user sys
  rm -rf "$cache"
  if [ "$std" = prebuilt ]; then cp -a "$work/std-cache" "$cache"; else mkdir "$cache"; fi
  { time GOCACHE="$cache" go -C "$work/$1" build -o /dev/null . 2>"$work/build.err"; } 2>"$work/time" ||
    { cat "$work/build.err" >&2; exit 1; }
  read -r wall user sys <"$work/time"
  chmod -R u+w "$cache" && rm -rf "$cache"
  awk -v w="$wall" -v u="$user" -v s="$sys" 'BEGIN { printf "%.1f %.1f", w, u + s }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "cold compile of the module root: go build -o /dev/null . (CGO_ENABLED=0, module cache warm, GOCACHE empty$([ "$std" = prebuilt ] && echo ' but for the standard library'))"
echo "base $base_sha: $(cat "$work/base.count") non-standard packages; this tree: $(cat "$work/this.count")"
declare -a bw bc tw tc
for ((i = 1; i <= rounds; i++)); do
  if ((i % 2)); then b="$(build base)"; t="$(build this)"; else t="$(build this)"; b="$(build base)"; fi
  read -r b_wall b_cpu <<<"$b"; read -r t_wall t_cpu <<<"$t"
  bw+=("$b_wall"); bc+=("$b_cpu"); tw+=("$t_wall"); tc+=("$t_cpu")
  echo "round $i (load $(cut -d' ' -f1 /proc/loadavg)): base ${b_wall} s wall, ${b_cpu} s CPU; this tree ${t_wall} s wall, ${t_cpu} s CPU;" \
    "ratio this/base $(ratio "$t_wall" "$b_wall") wall, $(ratio "$t_cpu" "$b_cpu") CPU"
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.1f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "median of $rounds: base $(median "${bw[@]}") s wall, $(median "${bc[@]}") s CPU;" \
  "this tree $(median "${tw[@]}") s wall, $(median "${tc[@]}") s CPU;" \
  "ratio this/base $(ratio "$(median "${tw[@]}")" "$(median "${bw[@]}")") wall, $(ratio "$(median "${tc[@]}")" "$(median "${bc[@]}")") CPU"
echo "(CPU time is the steadier figure on a shared machine; wall time is what a runner waits on an idle one.)"
