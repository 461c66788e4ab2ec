package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ampora-io/ampora/internal/readapi"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/test/testenv"
)

// Names of what the harness creates.
const (
	operatorNS  = "ampora-system"
	benchNS     = "bench"
	groupName   = "fleet"
	rolloutName = "bench"
	enrollToken = "bench-enrollment-token"
)

// cluster is the control plane of one scenario: kube-apiserver and etcd through
// test/testenv, with the CRDs installed.
type cluster struct {
	env       *testenv.Env
	cfg       *rest.Config
	c         client.WithWatch
	metrics   *http.Client // to the kube-apiserver's /metrics
	tokenFile string       // the operator's ServiceAccount token
}

// controlPlaneAssets builds (first time) or finds kube-apiserver, etcd and kubectl, as the
// demo does, and returns their folder.
func controlPlaneAssets(ctx context.Context) (string, error) {
	cmd := groupCommand(ctx, filepath.Join(testenv.Root(), "hack", "control-plane.sh"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("hack/control-plane.sh: %w", err)
	}
	return strings.TrimSpace(out.String()), nil
}

// groupCommand is a command in a process group of its own, whose whole group is killed when
// ctx ends (a build script's compilers with it).
func groupCommand(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// startCluster starts the control plane. KUBEBUILDER_ASSETS must be set.
func startCluster(dir string) (*cluster, error) {
	env, err := testenv.Start()
	if err != nil {
		return nil, err
	}
	cl := &cluster{env: env}
	if err := checkLoopbackURL(env.Config.Host); err != nil {
		_ = cl.stop()
		return nil, fmt.Errorf("the control plane: %w", err)
	}
	cl.cfg = rest.CopyConfig(env.Config)
	cl.cfg.Dial = loopbackDial
	cl.cfg.QPS, cl.cfg.Burst = 200, 400
	if cl.c, err = client.NewWithWatch(cl.cfg, client.Options{Scheme: env.Scheme}); err != nil {
		_ = cl.stop()
		return nil, err
	}
	if cl.metrics, err = rest.HTTPClientFor(cl.cfg); err != nil {
		_ = cl.stop()
		return nil, err
	}
	cl.tokenFile = filepath.Join(dir, "operator-token")
	return cl, nil
}

func (cl *cluster) stop() error {
	return cl.env.Stop()
}

// kubeconfig is the administrator's kubeconfig, for the operator's processes.
func (cl *cluster) kubeconfig() string { return cl.env.Kubeconfig }

// setup creates the operator's namespace and ServiceAccount (the sidecars' read API checks
// callers with TokenReview and SubjectAccessReview), writes its token to tokenFile, and
// creates the bench namespace with an enrollment token, an AgentGroup that matches every
// agent, and a default GatePolicy with no bake time and gates that never stop a batch.
func (cl *cluster) setup(ctx context.Context) error {
	if err := testenv.OperatorAccess(ctx, cl.c, operatorNS, "ampora", "ampora-bench-reader"); err != nil {
		return err
	}
	all := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: benchNS}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: benchNS, Name: "enrollment",
			Labels: map[string]string{readapi.LabelEnrollmentToken: "true"}},
			Data: map[string][]byte{readapi.TokenKey: []byte(enrollToken)}},
		&fleetv1alpha1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: benchNS, Name: groupName},
			Spec: fleetv1alpha1.AgentGroupSpec{Selector: fleetv1alpha1.AgentSelector{MatchExpressions: []fleetv1alpha1.AttributeRequirement{
				{Key: fleetv1alpha1.AttributeServiceName, Operator: fleetv1alpha1.AttributeOpExists}}}}},
		&fleetv1alpha1.GatePolicy{ObjectMeta: metav1.ObjectMeta{Namespace: benchNS, Name: fleetv1alpha1.DefaultGatePolicyName},
			Spec: fleetv1alpha1.GatePolicySpec{Gates: fleetv1alpha1.GateThresholds{
				MaxFailurePercent:    ptr.To[int32](100),
				MaxDisconnectPercent: ptr.To[int32](100),
				MaxUnhealthyPercent:  ptr.To[int32](100),
				MaxApplyDurationP95:  &metav1.Duration{Duration: time.Hour},
				MinSampleSize:        ptr.To[int32](1),
				BakeTime:             &metav1.Duration{},
				ProgressDeadline:     &metav1.Duration{Duration: time.Hour},
				OnFailure:            fleetv1alpha1.GateFailurePause,
			}}},
	}
	for _, obj := range all {
		if err := cl.c.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
		}
	}
	// Bound to the read API's audience: what the manager presents to the sidecars and the
	// sidecars to each other.
	token, err := testenv.AccountToken(ctx, cl.c, operatorNS, "ampora", 24*3600, readapi.DefaultAudience)
	if err != nil {
		return err
	}
	return os.WriteFile(cl.tokenFile, []byte(token), 0o600)
}

// benchConfig is the collector config the Rollout delivers.
const benchConfig = `receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:4317
processors:
  batch:
    timeout: 200ms
exporters:
  otlp/backend:
    endpoint: backend.bench.internal:4317
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp/backend]
`

// newRollout is the Rollout of every agent of the group in batches of batchSize.
func newRollout(batchSize int) *fleetv1alpha1.Rollout {
	bs := fleetv1alpha1.FromInt(batchSize)
	return &fleetv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: benchNS, Name: rolloutName},
		Spec: fleetv1alpha1.RolloutSpec{
			AgentGroup:   groupName,
			Config:       fleetv1alpha1.RolloutConfig{Inline: ptr.To(benchConfig)},
			Strategy:     fleetv1alpha1.RolloutStrategy{BatchSize: &bs},
			ApplyTimeout: &metav1.Duration{Duration: time.Hour},
		},
	}
}

// statusWriteVerbs are the verbs of apiserver_request_total that write.
var statusWriteVerbs = map[string]bool{"APPLY": true, "PATCH": true, "PUT": true, "UPDATE": true, "POST": true, "CREATE": true, "DELETE": true}

// statusWrites counts write requests to rollouts/status, by "VERB code".
type statusWrites map[string]float64

func (w statusWrites) total() float64 {
	t := 0.0
	for _, n := range w {
		t += n
	}
	return t
}

// minus is w - before, by key, leaving out keys that did not change.
func (w statusWrites) minus(before statusWrites) statusWrites {
	out := statusWrites{}
	for k, n := range w {
		if d := n - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// rolloutStatusWrites is the kube-apiserver's count so far of write requests to
// rollouts/status, every response code included. (A series exists only once such a request
// was made.)
func (cl *cluster) rolloutStatusWrites(ctx context.Context) (statusWrites, error) {
	samples, err := scrape(ctx, cl.metrics, strings.TrimRight(cl.cfg.Host, "/")+"/metrics")
	if err != nil {
		return nil, fmt.Errorf("kube-apiserver metrics: %w", err)
	}
	out := statusWrites{}
	for _, s := range samples {
		l := s.labels
		if s.name == "apiserver_request_total" && l["resource"] == "rollouts" && l["subresource"] == "status" && statusWriteVerbs[l["verb"]] {
			out[l["verb"]+" "+l["code"]] += s.value
		}
	}
	return out, nil
}
