// Command demo runs Ampora end to end on this machine: a local control plane (the
// kube-apiserver and etcd the tests use), two operator replicas (manager + OpAMP sidecar
// each), a simulated fleet, and the sample AgentGroup, GatePolicy and Rollout of
// config/samples. It shows the rollout live until a gate pauses it, prints what
// `kubectl describe rollout` says, resumes it the documented way, and runs it to Completed.
// Then it shows four-eyes approvals: a second rollout under the "production" GatePolicy waits
// until a user other than its author approves it. The dashboard (kubectl ampora dashboard)
// serves the rollouts on localhost throughout.
//
//	go run ./hack/demo            (make demo)
//	go run ./hack/demo -keep      leave everything running for exploration
//	go run ./hack/demo -agents 30 -dir /tmp/demo   a smaller fleet, elsewhere (test/demo runs this)
package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ampora-io/ampora/internal/readapi"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/test/testenv"
)

const (
	operatorNS = "ampora-system"
	demoNS     = "demo"
	rollout    = "gateways-batching"
	// approved is the second sample rollout, under the "production" GatePolicy.
	approved = "gateways-larger-batches"
	// noAddressCheck turns off the check that a sidecar's read-API URL, as its Lease publishes
	// it, is the Pod IP of one of the operator's Pods before a token is sent there: the demo runs
	// its replicas as processes of this machine, on 127.0.0.1, not in Pods. In a cluster the
	// check stays on (docs/opamp.md, "Replica Leases").
	noAddressCheck = "--replica-address-check=none"
	// webhookConfiguration is the MutatingWebhookConfiguration of the approvals webhook.
	webhookConfiguration = "ampora-approvals"
	replicas             = 2
)

// The simulated fleet: production gateways of three versions, 8 % of which fail to apply.
// They observe no change freeze, so no push policy of the samples denies them at any hour
// (main_test.go checks every quarter hour of a week): the demo runs the same on any day.
const (
	fleetSeed     = 42
	fleetVersions = "0.149.0=0.6,0.148.0=0.3,0.147.0=0.1"
)

var fleetProfiles = []string{
	`name=failing,fraction=0.08,fail="exporters::otlp/backend: dial tcp 10.0.4.17:4317: connect: connection refused",attr.service.name=otelcol-gateway,attr.deployment.environment=production`,
	"name=gateway,delay=100ms-1500ms,attr.service.name=otelcol-gateway,attr.deployment.environment=production",
}

func main() {
	keep := flag.Bool("keep", false, "leave the control plane, operator and fleet running after the rollout completes (Ctrl-C stops them)")
	agents := flag.Int("agents", 200, "size of the simulated fleet")
	dir := flag.String("dir", filepath.Join(testenv.Root(), ".demo"), "where the demo keeps its kubeconfigs, tokens and logs")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *keep, *agents, *dir); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// procs are the processes the demo started; all are stopped on the way out.
type procs struct{ list []*exec.Cmd }

func (p *procs) start(dir, logName string, env []string, name string, args ...string) (*exec.Cmd, error) {
	f, err := os.Create(filepath.Join(dir, logName))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p.list = append(p.list, cmd)
	return cmd, nil
}

func (p *procs) stop() {
	for _, c := range p.list {
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGTERM)
	}
	done := make(chan struct{})
	go func() {
		for _, c := range p.list {
			_ = c.Wait()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		for _, c := range p.list {
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		}
	}
}

func step(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }

func run(ctx context.Context, keep bool, fleetSize int, dir string) error {
	root := testenv.Root()
	// Only this user may read it: it holds kubeconfigs, tokens and the dashboard's access URL.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}

	step("Building the control plane, the operator and the fleet simulator (first run: several minutes)")
	assets, err := output(exec.Command(filepath.Join(root, "hack", "control-plane.sh")))
	if err != nil {
		return fmt.Errorf("building the control plane: %w", err)
	}
	assets = strings.TrimSpace(assets)
	bin := filepath.Join(root, "bin")
	for _, b := range []struct{ out, pkg string }{{"ampora", "./cmd/ampora"}, {"fleetsim", "./test/fleetsim/cmd/fleetsim"}, {"kubectl-ampora", "./cmd/kubectl-ampora"}} {
		fmt.Printf("    go build %s\n", b.pkg)
		build := exec.Command("go", "build", "-o", filepath.Join(bin, b.out), b.pkg)
		build.Dir, build.Stdout, build.Stderr = root, os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			return err
		}
	}
	os.Setenv("KUBEBUILDER_ASSETS", assets)

	step("Starting a local control plane (kube-apiserver + etcd) and installing the CRDs")
	env, err := testenv.Start()
	if err != nil {
		return err
	}
	var p procs
	defer func() {
		step("Stopping every process")
		p.stop()
		_ = env.Stop()
	}()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	raw, _ := os.ReadFile(env.Kubeconfig)
	if err := os.WriteFile(kubeconfig, raw, 0o600); err != nil {
		return err
	}
	fmt.Printf("    export KUBECONFIG=%s   # use kubectl against the demo meanwhile\n", kubeconfig)
	kubectl := func(stdin string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, filepath.Join(assets, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		return output(cmd)
	}

	tokens, enroll, err := setup(ctx, env.Client)
	if err != nil {
		return err
	}
	// Each process presents its own ServiceAccount's token, as in the chart's Pod: the managers
	// to the sidecars' read API, the sidecars to each other's handover endpoint.
	managerTokenFile, opampTokenFile := filepath.Join(dir, "manager-token"), filepath.Join(dir, "opamp-token")
	for file, token := range map[string]string{managerTokenFile: tokens[0], opampTokenFile: tokens[1]} {
		if err := os.WriteFile(file, []byte(token), 0o600); err != nil {
			return err
		}
	}

	step("Starting %d operator replicas: ampora manager (with the approvals webhook) + ampora opamp each", replicas)
	var urls []string
	env2 := append(os.Environ(), "KUBECONFIG="+kubeconfig, "POD_NAMESPACE="+operatorNS)
	webhookPorts, err := testenv.FreePorts(replicas)
	if err != nil {
		return err
	}
	// The API server calls the first replica's webhook; on a cluster a Service spreads the calls.
	if err := testenv.InstallWebhook(ctx, env.Client, webhookConfiguration, webhookPorts[0]); err != nil {
		return err
	}
	for i := range replicas {
		ports, err := testenv.FreePorts(4)
		if err != nil {
			return err
		}
		name := fmt.Sprintf("ampora-%d", i)
		_, err = p.start(dir, name+"-manager.log", env2, filepath.Join(bin, "ampora"), "manager",
			"--leader-elect-lease-duration=15s", "--leader-elect-renew-deadline=10s", "--leader-elect-retry-period=2s",
			fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", ports[0]), fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", ports[1]),
			"--sidecar-token-file="+managerTokenFile, noAddressCheck,
			"--webhook-host=127.0.0.1", fmt.Sprintf("--webhook-port=%d", webhookPorts[i]), "--webhook-cert-dir="+filepath.Join(dir, name+"-webhook"),
			"--webhook-cert-secret=ampora-webhook-cert", "--webhook-configuration="+webhookConfiguration, "--webhook-cert-hosts=127.0.0.1")
		if err != nil {
			return err
		}
		_, err = p.start(dir, name+"-opamp.log", env2, filepath.Join(bin, "ampora"), "opamp", "--replica="+name,
			fmt.Sprintf("--listen=127.0.0.1:%d", ports[2]), fmt.Sprintf("--read-api-addr=127.0.0.1:%d", ports[3]),
			"--probe-addr=127.0.0.1:0", "--peer-token-file="+opampTokenFile, "--token-namespaces="+demoNS, noAddressCheck)
		if err != nil {
			return err
		}
		urls = append(urls, fmt.Sprintf("ws://127.0.0.1:%d/v1/opamp", ports[2]))
		fmt.Printf("    %s: OpAMP at %s, logs in %s\n", name, urls[i], filepath.Join(dir, name+"-*.log"))
	}

	step("Starting a simulated fleet of %d agents (mixed versions, a few that fail to apply)", fleetSize)
	args := []string{"-url", strings.Join(urls, ","), "-token", enroll, "-agents", fmt.Sprint(fleetSize), "-seed", fmt.Sprint(fleetSeed), "-versions", fleetVersions}
	for _, spec := range fleetProfiles {
		args = append(args, "-profile", spec)
	}
	if _, err := p.start(dir, "fleetsim.log", os.Environ(), filepath.Join(bin, "fleetsim"), args...); err != nil {
		return err
	}

	if err := testenv.WaitWebhookCA(ctx, env.Client, webhookConfiguration, 2*time.Minute); err != nil {
		return fmt.Errorf("the managers did not set up the approvals webhook (see %s): %w", filepath.Join(dir, "ampora-*-manager.log"), err)
	}
	viewerConfig := filepath.Join(dir, "viewer-kubeconfig")
	if err := testenv.Viewer(ctx, env.Client, env.Config, demoNS, operatorNS, viewerConfig); err != nil {
		return err
	}
	if _, err := p.start(dir, "dashboard.log", os.Environ(), filepath.Join(bin, "kubectl-ampora"), "--kubeconfig", viewerConfig,
		"dashboard", "-n", demoNS, "--address", "127.0.0.1:0", noAddressCheck); err != nil {
		return err
	}
	dashURL, err := dashboardURL(ctx, filepath.Join(dir, "dashboard.log"))
	if err != nil {
		return err
	}
	step("The dashboard (kubectl ampora dashboard, as a read-only user of namespace %s) serves the rollouts at\n    %s", demoNS, dashURL)

	step("Applying the sample AgentGroup, GatePolicy and Rollout from config/samples")
	for _, f := range []string{"fleet_v1alpha1_agentgroup.yaml", "fleet_v1alpha1_gatepolicy.yaml"} {
		if out, err := kubectl("", "apply", "-n", demoNS, "-f", filepath.Join(root, "config", "samples", f)); err != nil {
			return err
		} else {
			fmt.Print(indent(out))
		}
	}
	if err := waitConnected(ctx, env.Client, fleetSize); err != nil {
		return err
	}
	if out, err := kubectl("", "apply", "-n", demoNS, "-f", filepath.Join(root, "config", "samples", "fleet_v1alpha1_rollout.yaml")); err != nil {
		return err
	} else {
		fmt.Print(indent(out))
	}

	if err := follow(ctx, env.Client, kubectl, rollout); err != nil {
		return err
	}
	if err := approvals(ctx, env.Client, kubectl, filepath.Join(bin, "kubectl-ampora"), kubeconfig); err != nil {
		return err
	}

	step("Final state")
	out, _ := kubectl("", "-n", demoNS, "get", "rollouts,agentgroups,gatepolicies", "-o", "wide")
	fmt.Print(indent(out))
	if keep {
		step("Left running for exploration; Ctrl-C stops everything.\n    export KUBECONFIG=%s", kubeconfig)
		<-ctx.Done()
	}
	return nil
}

// follow watches a rollout until it ends; at a gate pause it shows kubectl describe once and
// resumes the documented way.
func follow(ctx context.Context, c client.Client, kubectl func(string, ...string) (string, error), name string) error {
	step("Watching rollout/%s", name)
	described := false
	for {
		ro, err := watchUntilStop(ctx, c, name)
		if err != nil {
			return err
		}
		if ro.Status.Phase != fleetv1alpha1.RolloutPaused {
			break
		}
		if !described {
			step("The rollout paused at a gate: kubectl describe rollout %s", name)
			out, _ := kubectl("", "-n", demoNS, "describe", "rollout", name)
			fmt.Print(indent(out))
			described = true
		}
		oneLiner := fmt.Sprintf("kubectl -n %s annotate rollout %s fleet.ampora.io/action=resume fleet.ampora.io/action-requested-by=demo --overwrite", demoNS, name)
		step("Resuming with the documented action:\n    %s", oneLiner)
		if _, err := kubectl("", "-n", demoNS, "annotate", "rollout", name, "fleet.ampora.io/action=resume",
			"fleet.ampora.io/action-requested-by=demo", "--overwrite"); err != nil {
			return err
		}
		if err := waitResumed(ctx, c, name); err != nil {
			return err
		}
	}
	return nil
}

// approvals applies the production GatePolicy and, as alice, a rollout under it; shows it
// waiting, alice's own approval refused and bob's taken; and follows it to the end.
func approvals(ctx context.Context, c client.Client, kubectl func(string, ...string) (string, error), plugin, kubeconfig string) error {
	root := testenv.Root()
	if err := testenv.Editors(ctx, c, "alice", "bob"); err != nil {
		return err
	}
	step("Four eyes: config/samples/fleet_v1alpha1_gatepolicy_production.yaml asks for one approval of rollouts that reach production agents")
	out, err := kubectl("", "apply", "-n", demoNS, "-f", filepath.Join(root, "config", "samples", "fleet_v1alpha1_gatepolicy_production.yaml"))
	if err != nil {
		return err
	}
	fmt.Print(indent(out))
	step("alice applies config/samples/fleet_v1alpha1_rollout_approved.yaml (kubectl --as alice apply ...)")
	if out, err = kubectl("", "--as", "alice", "apply", "-n", demoNS, "-f", filepath.Join(root, "config", "samples", "fleet_v1alpha1_rollout_approved.yaml")); err != nil {
		return err
	}
	fmt.Print(indent(out))
	for {
		var ro fleetv1alpha1.Rollout
		if err := c.Get(ctx, client.ObjectKey{Namespace: demoNS, Name: approved}, &ro); err != nil {
			return err
		}
		if cond := meta.FindStatusCondition(ro.Status.Conditions, fleetv1alpha1.ConditionApproved); cond != nil && cond.Reason == fleetv1alpha1.ReasonAwaitingApproval {
			fmt.Printf("    %s  Approved=%s  %s\n", ro.Status.Phase, cond.Status, cond.Message)
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	ampora := func(user string, args ...string) (string, error) {
		return output(exec.CommandContext(ctx, plugin, append([]string{"--kubeconfig", kubeconfig, "--as", user, "-n", demoNS}, args...)...))
	}
	step("alice tries to approve her own config: kubectl ampora approve %s --as alice", approved)
	if _, err := ampora("alice", "approve", approved); err == nil {
		return fmt.Errorf("the webhook let the author approve her own config")
	}
	fmt.Println("    refused, as the policy wants")
	step("bob approves it: kubectl ampora approve %s --as bob", approved)
	if out, err = ampora("bob", "approve", approved); err != nil {
		return err
	}
	fmt.Print(indent(out))
	return follow(ctx, c, kubectl, approved)
}

// dashboardURL reads the dashboard's address from its log.
func dashboardURL(ctx context.Context, log string) (string, error) {
	for range 100 {
		b, _ := os.ReadFile(log)
		for _, f := range strings.Fields(string(b)) {
			if strings.HasPrefix(f, "http://127.0.0.1:") {
				return strings.TrimRight(f, ".,"), nil
			}
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return "", fmt.Errorf("the dashboard printed no address (see %s)", log)
}

// setup creates the namespaces, the manager's ServiceAccount with its role (the sidecars' read
// API checks callers with TokenReview and SubjectAccessReview), the sidecars' ServiceAccount,
// and the demo tenant's enrollment token. It returns a token of each ServiceAccount, the
// manager's first, and the enrollment token.
func setup(ctx context.Context, c client.Client) ([2]string, string, error) {
	enroll := "demo-enrollment-token"
	var tokens [2]string
	if err := testenv.OperatorAccess(ctx, c, operatorNS, "ampora-manager", "ampora-demo-reader"); err != nil {
		return tokens, "", err
	}
	for _, obj := range []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: "ampora-opamp"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: demoNS}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: demoNS, Name: "enrollment",
			Labels: map[string]string{readapi.LabelEnrollmentToken: "true"}},
			Data: map[string][]byte{readapi.TokenKey: []byte(enroll)}},
	} {
		if err := c.Create(ctx, obj); err != nil {
			return tokens, "", err
		}
	}
	for i, account := range []string{"ampora-manager", "ampora-opamp"} {
		// Bound to the read API's audience, as the chart mounts them: the API server refuses
		// them, so neither process can act as the other's account with what it is sent.
		token, err := testenv.AccountToken(ctx, c, operatorNS, account, 24*3600, readapi.DefaultAudience)
		if err != nil {
			return tokens, "", err
		}
		tokens[i] = token
	}
	return tokens, enroll, nil
}

// waitConnected waits until the group sees the fleet.
func waitConnected(ctx context.Context, c client.Client, n int) error {
	fmt.Print("    waiting for the agents to connect ")
	for {
		var g fleetv1alpha1.AgentGroup
		if err := c.Get(ctx, client.ObjectKey{Namespace: demoNS, Name: "payments-gateways"}, &g); err == nil && int(g.Status.ConnectedAgents) >= n*9/10 {
			fmt.Printf("\n    %d agents match AgentGroup payments-gateways, %d connected\n", g.Status.MatchingAgents, g.Status.ConnectedAgents)
			return nil
		}
		fmt.Print(".")
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// watchUntilStop prints one line per change until the rollout pauses or reaches a final phase.
func watchUntilStop(ctx context.Context, c client.Client, name string) (*fleetv1alpha1.Rollout, error) {
	last := ""
	for {
		var ro fleetv1alpha1.Rollout
		if err := c.Get(ctx, client.ObjectKey{Namespace: demoNS, Name: name}, &ro); err != nil {
			return nil, err
		}
		st := ro.Status
		cnt := st.Counts
		line := fmt.Sprintf("    %-11s batch %-5s applied %3d  applying %3d  pending %3d  failed %3d  timed out %2d  | %4d applies/min",
			st.Phase, cmp.Or(st.BatchProgress, "-"), cnt.Applied, cnt.Applying, cnt.Pending, cnt.Failed, cnt.TimedOut, st.AppliesPerMinute)
		if line != last {
			fmt.Println(line)
			last = line
		}
		switch {
		case st.Phase == fleetv1alpha1.RolloutPaused:
			if st.Pause != nil && st.Pause.Reason != fleetv1alpha1.PauseManual {
				fmt.Printf("    paused: %s\n", st.Pause.Message)
				return &ro, nil
			}
		case st.Phase.Settled():
			fmt.Printf("    %s: %s\n", st.Phase, st.Message)
			return &ro, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func waitResumed(ctx context.Context, c client.Client, name string) error {
	for {
		var ro fleetv1alpha1.Rollout
		if err := c.Get(ctx, client.ObjectKey{Namespace: demoNS, Name: name}, &ro); err != nil {
			return err
		}
		if ro.Status.Phase != fleetv1alpha1.RolloutPaused {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}

// output runs cmd, shows its stderr as it comes (progress), and returns its stdout.
func output(cmd *exec.Cmd) (string, error) {
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = io.MultiWriter(&errb, prefixed{os.Stderr})
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

type prefixed struct{ w io.Writer }

func (p prefixed) Write(b []byte) (int, error) {
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if l != "" {
			fmt.Fprint(p.w, "    "+l)
		}
	}
	return len(b), nil
}
