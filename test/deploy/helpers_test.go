package deploy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// script runs one of the hack/ scripts and returns what it prints on stdout (a path); its
// progress goes to the Ginkgo writer.
func script(ctx context.Context, name string) (string, error) {
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, name))
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, GinkgoWriter
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return strings.TrimSpace(out.String()), nil
}

// runHelm runs helm and returns stdout and stderr.
func runHelm(ctx context.Context, args ...string) (string, string, error) {
	// No repositories, plugins or caches of the user's: a fresh helm home per run.
	return runHelmIn(ctx, GinkgoT().TempDir(), args...)
}

// runHelmIn runs helm with its home in a given directory (in cleanup code, which cannot make
// temporary directories).
func runHelmIn(ctx context.Context, home string, args ...string) (string, string, error) {
	cmd := exec.CommandContext(ctx, helm, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config",
		"HELM_DATA_HOME="+home+"/data")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// valuesArgs turns testdata values files and --set pairs into helm arguments.
func valuesArgs(files []string, sets ...string) []string {
	var args []string
	for _, f := range files {
		args = append(args, "-f", filepath.Join(root, "test", "deploy", "testdata", f))
	}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	return args
}

// render runs helm template for the release "ampora" in ns and returns the manifest and its
// objects.
func render(ctx context.Context, ns string, files []string, sets ...string) (string, []*unstructured.Unstructured) {
	GinkgoHelper()
	args := append([]string{"template", "ampora", "charts/ampora", "--namespace", ns}, valuesArgs(files, sets...)...)
	out, errOut, err := runHelm(ctx, args...)
	Expect(err).NotTo(HaveOccurred(), "helm %s\n%s", strings.Join(args, " "), errOut)
	objs, err := parse(out)
	Expect(err).NotTo(HaveOccurred())
	Expect(objs).NotTo(BeEmpty())
	return out, objs
}

// parse splits a multi-document manifest into objects, skipping empty documents.
func parse(manifest string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

// parseFile parses a YAML file of the repository.
func parseFile(rel string) []*unstructured.Unstructured {
	GinkgoHelper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	Expect(err).NotTo(HaveOccurred())
	objs, err := parse(string(b))
	Expect(err).NotTo(HaveOccurred())
	return objs
}

// find returns the object of kind and name, failing when there is none.
func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	GinkgoHelper()
	o := lookup(objs, kind, name)
	Expect(o).NotTo(BeNil(), "no %s %s among %v", kind, name, ids(objs))
	return o
}

func lookup(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// ofKind returns the objects of one kind.
func ofKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func ids(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	return out
}

// typed converts an object into its Go type.
func typed[T any](o *unstructured.Unstructured) *T {
	GinkgoHelper()
	var t T
	Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &t)).To(Succeed())
	return &t
}

// dryRun applies a manifest with server-side apply and --dry-run=server: the API server
// validates and admits every object (schemas, CRD validation rules, admission) and stores
// nothing. It returns kubectl's stdout and stderr (warnings).
func dryRun(ctx context.Context, manifest string) (string, string) {
	GinkgoHelper()
	out, errOut, err := env.Kubectl(ctx, manifest, "apply", "--server-side", "--dry-run=server",
		"--field-manager=ampora-deploy-test", "-f", "-")
	Expect(err).NotTo(HaveOccurred(), "server-side dry run refused:\n%s", errOut)
	return out, errOut
}

// expectAllApplied checks that kubectl reported every object as applied.
func expectAllApplied(out string, objs []*unstructured.Unstructured) {
	GinkgoHelper()
	Expect(strings.Count(out, "serverside-applied (server dry run)")).To(Equal(len(objs)),
		"kubectl output:\n%s\nobjects: %v", out, ids(objs))
}
