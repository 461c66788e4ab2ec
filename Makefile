# Ampora — build, generate, test.
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_TOOLS_VERSION ?= v0.23.0
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)

# Generated files that `make verify` keeps in step with their sources.
GENERATED := api config/crd config/rbac

.PHONY: all
all: build

##@ Development

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code.
	$(CONTROLLER_GEN) object paths="./api/..."

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and RBAC from markers.
	$(CONTROLLER_GEN) crd rbac:roleName=ampora-manager paths="./..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: verify
verify: generate manifests ## Fail when generated files differ from what their sources produce.
	@if ! git diff --quiet -- $(GENERATED) || [ -n "$$(git ls-files --others --exclude-standard -- $(GENERATED))" ]; then \
		echo "generated files are out of date; run 'make generate manifests' and commit:"; \
		git --no-pager diff --stat -- $(GENERATED); git ls-files --others --exclude-standard -- $(GENERATED); exit 1; \
	fi
	@echo "generated files are up to date"

.PHONY: fmt
fmt: ## gofmt every Go file.
	gofmt -l -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## go vet.
	go vet ./...

##@ Build

.PHONY: build
build: ## Build the ampora and kubectl-ampora binaries into bin/.
	CGO_ENABLED=0 go build -trimpath -o $(LOCALBIN)/ampora ./cmd/ampora
	CGO_ENABLED=0 go build -trimpath -o $(LOCALBIN)/kubectl-ampora ./cmd/kubectl-ampora

.PHONY: control-plane
control-plane: ## Build kube-apiserver, etcd and kubectl from the Go module proxy into bin/k8s/ (cached).
	@hack/control-plane.sh >/dev/null

##@ Test

.PHONY: test
test: control-plane ## Run every test against a real kube-apiserver and etcd.
	KUBEBUILDER_ASSETS="$$(hack/control-plane.sh)" go test ./... -count=1 -timeout 30m

.PHONY: demo
demo: ## Run the demo: local control plane, two operator replicas, a simulated fleet, a sample rollout (DEMO_FLAGS=-keep leaves it running).
	go run ./hack/demo $(DEMO_FLAGS)

$(CONTROLLER_GEN):
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/controller-gen $@

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-16s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)
