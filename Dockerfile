# syntax=docker/dockerfile:1
# The ampora image, for those with Docker (or another BuildKit engine):
#   docker build -t ghcr.io/ampora-io/ampora:0.1.0 --build-arg REVISION=$(git rev-parse HEAD) .
# `make image` builds the same image without a container engine (hack/image.sh); keep the two
# in step: static binary with the time zones embedded, empty base, user 65532, entrypoint
# /ampora, the same labels. test/deploy checks that they agree.

ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
# Set by BuildKit from --platform (default: the builder's own, linux/amd64 on most machines).
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -tags timetzdata -ldflags "-s -w" -o /out/ampora ./cmd/ampora

FROM scratch
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
COPY hack/tools/image/rootfs/ /
COPY --from=build /out/ampora /ampora
LABEL org.opencontainers.image.title="ampora" \
      org.opencontainers.image.description="Rolls OpenTelemetry Collector configuration out to OpAMP agents, in batches, behind health gates" \
      org.opencontainers.image.source="https://github.com/ampora-io/ampora" \
      org.opencontainers.image.url="https://github.com/ampora-io/ampora" \
      org.opencontainers.image.documentation="https://github.com/ampora-io/ampora/tree/main/docs" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
ENV PATH=/
WORKDIR /
USER 65532:65532
ENTRYPOINT ["/ampora"]
