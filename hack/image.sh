#!/usr/bin/env bash
# Builds the ampora container image without a container engine: a static linux/amd64 binary
# (CGO_ENABLED=0, time zones embedded) on an empty base, assembled by the tool module
# hack/tools/image (go-containerregistry) into
#   bin/image/oci/        an OCI image layout (crane push, skopeo copy oci:bin/image/oci ...)
#   bin/image/ampora.tar  a tarball for docker load / kind load image-archive
# The Dockerfile builds the same image with Docker; keep the two in step (entrypoint, user,
# labels, build flags). Prints the OCI layout directory on stdout; progress goes to stderr.
#
# IMAGE (default ghcr.io/ampora-io/ampora) and VERSION (default the chart's appVersion) name
# the image. The image is reproducible: every timestamp is the commit time of HEAD.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/bin/image"
tooldir="$root/hack/tools/image"
mkdir -p "$out"

log() { printf '[image] %s\n' "$*" >&2; }

IMAGE=${IMAGE:-ghcr.io/ampora-io/ampora}
VERSION=${VERSION:-$(awk -F'"' '/^appVersion:/ { print $2 }' "$root/charts/ampora/Chart.yaml")}
REVISION=${REVISION:-$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)}
CREATED=${CREATED:-$(TZ=UTC git -C "$root" log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo 1970-01-01T00:00:00Z)}

# The assembler, rebuilt only when its module changes.
tool="$out/assemble"
want=$(cat "$tooldir"/go.{mod,sum} "$tooldir"/*.go | sha256sum | cut -c1-16)
if [[ ! -x "$tool" || ! -f "$tool.stamp" || "$(cat "$tool.stamp")" != "$want" ]]; then
  log "building the image assembler (hack/tools/image)"
  (cd "$tooldir" && CGO_ENABLED=0 go build -trimpath -o "$tool" .)
  echo "$want" >"$tool.stamp"
fi

# The binary: static, for linux/amd64, with the time zone database embedded (GatePolicy
# windows name time zones and the base image has no /usr/share/zoneinfo). Incremental.
log "building ampora (linux/amd64, static)"
(cd "$root" && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -tags timetzdata \
  -ldflags "-s -w" -o "$out/ampora-linux-amd64" ./cmd/ampora)

digest=$("$tool" \
  -binary "$out/ampora-linux-amd64" -binary-path /ampora \
  -rootfs "$tooldir/rootfs" \
  -entrypoint /ampora -user 65532:65532 -platform linux/amd64 \
  -created "$CREATED" \
  -ref "$IMAGE:$VERSION" \
  -label "org.opencontainers.image.title=ampora" \
  -label "org.opencontainers.image.description=Rolls OpenTelemetry Collector configuration out to OpAMP agents, in batches, behind health gates" \
  -label "org.opencontainers.image.source=https://github.com/ampora-io/ampora" \
  -label "org.opencontainers.image.url=https://github.com/ampora-io/ampora" \
  -label "org.opencontainers.image.documentation=https://github.com/ampora-io/ampora/tree/main/docs" \
  -label "org.opencontainers.image.version=$VERSION" \
  -label "org.opencontainers.image.revision=$REVISION" \
  -label "org.opencontainers.image.created=$CREATED" \
  -oci "$out/oci" -tar "$out/ampora.tar")
log "$IMAGE:$VERSION $digest -> ${out#$root/}/oci, ${out#$root/}/ampora.tar"
echo "$out/oci"
