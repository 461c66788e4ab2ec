#!/usr/bin/env bash
# Builds the test control plane (kube-apiserver, etcd, kubectl) from the Go module proxy into
# bin/k8s/<version>/. Idempotent: a second run with the same tool modules does nothing.
# Prints the directory on stdout (for KUBEBUILDER_ASSETS); progress goes to stderr.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
out="$root/bin/k8s/${KUBE_VERSION#v}"
stamp="$out/.stamp"

# The stamp names the exact inputs, so editing a tool module rebuilds and nothing else does.
want=$(cat "$root/hack/control-plane.sh" "$root"/hack/tools/kube/go.{mod,sum} "$root"/hack/tools/etcd/go.{mod,sum} | sha256sum | cut -c1-16)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$out/kube-apiserver" && -x "$out/etcd" && -x "$out/kubectl" ]]; then
  echo "$out"
  exit 0
fi
mkdir -p "$out"

log() { printf '[control-plane] %s\n' "$*" >&2; }

# build NAME MODULE_DIR PACKAGE [LDFLAGS]: go build with a heartbeat, so a first run that takes
# minutes shows it is alive.
build() {
  local name=$1 dir=$2 pkg=$3 ldflags=${4:-}
  local start=$SECONDS
  log "building $name ($pkg) ..."
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$out/$name.tmp" "$pkg") &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 15 & wait $! || true
    kill -0 "$pid" 2>/dev/null && printf '[control-plane]   %s: %ds\n' "$name" $((SECONDS - start)) >&2
  done
  wait "$pid"
  mv "$out/$name.tmp" "$out/$name"
  log "built $name in $((SECONDS - start))s"
}

major=${KUBE_VERSION#v}; major=${major%%.*}
minor=${KUBE_VERSION#v*.}; minor=${minor%%.*}
kver=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kver+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=$major -X $p.gitMinor=$minor"
  kver+=" -X $p.gitTreeState=clean -X $p.buildDate=2026-01-01T00:00:00Z"
done

log "Go module proxy build of the test control plane into ${out#$root/} (first run: about 5-10 minutes)"
build etcd "$root/hack/tools/etcd" go.etcd.io/etcd/server/v3
build kube-apiserver "$root/hack/tools/kube" k8s.io/kubernetes/cmd/kube-apiserver "$kver"
build kubectl "$root/hack/tools/kube" k8s.io/kubernetes/cmd/kubectl "$kver"
echo "$want" >"$stamp"
echo "$out"
