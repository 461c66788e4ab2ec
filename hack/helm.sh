#!/usr/bin/env bash
# Builds helm from the Go module proxy (tool module hack/tools/helm) into bin/helm/<version>/.
# Idempotent: a second run with the same tool module does nothing. Prints the path of the helm
# binary on stdout; progress goes to stderr.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mod="$root/hack/tools/helm"
version=$(awk '$1 == "helm.sh/helm/v4" { print $2 }' "$mod/go.mod")
if [[ -z "$version" ]]; then
  echo "hack/helm.sh: no helm.sh/helm/v4 requirement in ${mod#$root/}/go.mod" >&2
  exit 1
fi
out="$root/bin/helm/$version"
bin="$out/helm"
stamp="$out/.stamp"

# The stamp names the exact inputs, so editing the tool module rebuilds and nothing else does.
want=$(cat "$root/hack/helm.sh" "$mod"/go.{mod,sum} | sha256sum | cut -c1-16)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$out"

log() { printf '[helm] %s\n' "$*" >&2; }

log "Go module proxy build of helm $version into ${out#$root/} (first run: a few minutes)"
start=$SECONDS
(cd "$mod" && CGO_ENABLED=0 go build -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$version -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
  -o "$bin.tmp" helm.sh/helm/v4/cmd/helm) &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
  sleep 15 & wait $! || true
  kill -0 "$pid" 2>/dev/null && printf '[helm]   %ds\n' $((SECONDS - start)) >&2
done
wait "$pid"
mv "$bin.tmp" "$bin"
log "built helm $version in $((SECONDS - start))s"
echo "$want" >"$stamp"
echo "$bin"
