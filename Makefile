# Ampora — build, generate, test.
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_TOOLS_VERSION ?= v0.23.0
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)

# Generated files that `make verify` keeps in step with their sources.
GENERATED := api config/crd config/rbac config/webhook/manifests.yaml config/policy/sidecar_status_policy.yaml charts/ampora/crds charts/ampora/files/rbac charts/ampora/files/webhook.yaml charts/ampora/files/sidecar_status_policy.yaml charts/ampora/files/sidecar_leases_policy.yaml charts/ampora/values.schema.json docs/reference.md

.PHONY: all
all: build

##@ Development

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code.
	$(CONTROLLER_GEN) object paths="./api/..."

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs, RBAC and the webhook configuration from markers, and the sidecar's status policy from the status types.
	$(CONTROLLER_GEN) crd rbac:roleName=ampora-manager webhook paths="./..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac output:webhook:artifacts:config=config/webhook
	@# The chart carries copies: Helm reads only files inside the chart.
	rm -rf charts/ampora/crds charts/ampora/files/rbac
	mkdir -p charts/ampora/crds charts/ampora/files/rbac
	cp config/crd/bases/*.yaml charts/ampora/crds/
	cp config/rbac/role.yaml config/rbac/leases_role.yaml config/rbac/opamp_role.yaml config/rbac/opamp_leases_role.yaml \
		config/rbac/opamp_tokens_role.yaml charts/ampora/files/rbac/
	cp config/webhook/manifests.yaml charts/ampora/files/webhook.yaml
	go run ./hack/statuspolicy -o config/policy/sidecar_status_policy.yaml
	cp config/policy/sidecar_status_policy.yaml config/policy/sidecar_leases_policy.yaml charts/ampora/files/
	cd hack/tools/chartschema && go run . $(CURDIR)/config/crd/bases/fleet.ampora.io_gatepolicies.yaml $(CURDIR)/charts/ampora/values.schema.json
	go run ./hack/crdref -crds config/crd/bases -o docs/reference.md

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

.PHONY: helm
helm: ## Build helm from the Go module proxy into bin/helm/ (cached).
	@hack/helm.sh >/dev/null

.PHONY: image
image: ## Build the ampora image (static linux/amd64 binary, no container engine) into bin/image/.
	@hack/image.sh >/dev/null

.PHONY: helm-lint
helm-lint: helm ## Lint the Helm chart.
	"$$(hack/helm.sh)" lint --strict charts/ampora

.PHONY: control-plane
control-plane: ## Build kube-apiserver, etcd and kubectl from the Go module proxy into bin/k8s/ (cached).
	@hack/control-plane.sh >/dev/null

##@ Test

.PHONY: test
test: control-plane ## Run every test against a real kube-apiserver and etcd.
	KUBEBUILDER_ASSETS="$$(hack/control-plane.sh)" go test ./... -count=1 -timeout 30m

# The deploy suite (test/deploy) runs helm and reads the image; build both before the tests.
# The dashboard suite (test/dashboard) drives headless Chromium, Debian's package.
test: helm image chromium

.PHONY: chromium
chromium: ## Install Debian's Chromium for the dashboard's browser test, when it is missing (needs root and apt).
	@command -v chromium >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

# Each target runs a number of executions, about 20 s of this machine's: a -fuzztime duration
# races Go 1.26's fuzzing coordinator at its deadline (go.dev/issue/75804) and fails runs that
# found nothing.
FUZZ_CONFIG_EXECS ?= 600000x
FUZZ_OPAMP_EXECS ?= 30000x
.PHONY: fuzz
fuzz: ## Run each fuzz target briefly (FUZZ_CONFIG_EXECS, FUZZ_OPAMP_EXECS executions) from its committed seed corpus; new inputs are shrunk for at most 10 runs, so that a large one cannot outlast the run.
	go test -run '^$$' -fuzz '^FuzzValidateCompare$$' -fuzztime $(FUZZ_CONFIG_EXECS) -fuzzminimizetime 10x ./internal/collectorconfig/
	go test -run '^$$' -fuzz '^FuzzHandleMessage$$' -fuzztime $(FUZZ_OPAMP_EXECS) -fuzzminimizetime 10x ./opampserver/

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

##@ Documentation

.PHONY: docs
docs: ## Regenerate docs/reference.md from the CRDs, then check it and every relative link in docs/ and README.md.
	go run ./hack/crdref -crds config/crd/bases -o docs/reference.md
	go test ./test/docs/ -count=1

.PHONY: screenshot
screenshot: control-plane chromium ## Regenerate docs/dashboard.png: the dashboard's end-to-end test in headless Chromium saves its screenshot there.
	DASHBOARD_SCREENSHOT=docs/dashboard.png KUBEBUILDER_ASSETS="$$(hack/control-plane.sh)" go test ./test/dashboard/ -count=1

##@ Benchmarks

.PHONY: bench
bench: control-plane ## Run the benchmark harness, e.g. BENCH_FLAGS='-scenario rollout -agents 5000 -batches 5 -out runs.jsonl' (test/bench/README.md).
	go run ./test/bench $(BENCH_FLAGS)
