package sidecar_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/collectorconfig"
	"github.com/ampora-io/ampora/internal/membership"
	"github.com/ampora-io/ampora/internal/readapi"
	"github.com/ampora-io/ampora/internal/revision"
	"github.com/ampora-io/ampora/opampserver"
	"github.com/ampora-io/ampora/test/fleetsim"
	"github.com/ampora-io/ampora/test/harness"
)

const operatorNamespace = "ampora-system"

// sidecar is one in-process replica.
type sidecar struct {
	srv     *opampserver.Server
	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

func (s *sidecar) URL() string { return "ws://" + s.srv.Addr().String() + "/v1/opamp" }

func (s *sidecar) HTTPURL() string { return "http://" + s.srv.Addr().String() + "/v1/opamp" }

// Stop stops the replica and waits for it; stopping twice is fine.
func (s *sidecar) Stop() {
	GinkgoHelper()
	if s.stopped {
		return
	}
	s.stopped = true
	s.cancel()
	Eventually(s.done, 20*time.Second).Should(Receive(BeNil()))
}

// startSidecar runs a replica until the spec ends (or Stop).
func startSidecar(replica string, mutate ...func(*opampserver.Options)) *sidecar {
	GinkgoHelper()
	opts := opampserver.Options{
		Replica:        replica,
		Namespace:      operatorNamespace,
		ListenAddr:     "127.0.0.1:0",
		ReadAPIAddr:    "127.0.0.1:0",
		ReportInterval: time.Second,
		Logger:         logr.Discard(),
		ShutdownGrace:  5 * time.Second,
		PeerToken:      peerToken,
		// The replicas run in this process on 127.0.0.1, not in Pods: their Leases publish
		// addresses no Pod has (test/security/discovery covers the check).
		ReplicaAddressCheck: readapi.AddressCheckNone,
	}
	for _, m := range mutate {
		m(&opts)
	}
	srv, err := opampserver.New(env.Config, env.Scheme, opts)
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	s := &sidecar{srv: srv, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- srv.Run(ctx) }()
	Eventually(srv.Ready, 20*time.Second).Should(BeTrue())
	DeferCleanup(s.Stop)
	return s
}

// namespace creates a fresh namespace with an enrollment token Secret, and returns both.
func namespace(prefix string) (string, string) {
	GinkgoHelper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	Expect(env.Client.Create(ctx, ns)).To(Succeed())
	token := "tok-" + ns.Name
	Expect(env.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "enroll",
			Labels: map[string]string{readapi.LabelEnrollmentToken: "true"}},
		Data: map[string][]byte{readapi.TokenKey: []byte(token)},
	})).To(Succeed())
	return ns.Name, token
}

// ensureOperatorNamespace creates the operator's namespace and ServiceAccount once.
func ensureOperatorNamespace() {
	GinkgoHelper()
	ctx := context.Background()
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: "ampora"}},
	} {
		if err := env.Client.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			Expect(err).NotTo(HaveOccurred())
		}
	}
}

// peerToken mints a token of the operator's ServiceAccount bound to the read API's audience,
// as the Pod would have mounted for its peers.
func peerToken() (string, error) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: "ampora"}}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600)),
		Audiences: []string{readapi.DefaultAudience}}}
	if err := env.Client.SubResource("token").Create(context.Background(), sa, tr); err != nil {
		return "", err
	}
	return tr.Status.Token, nil
}

// startFleet starts simulated agents and waits until all are connected.
func startFleet(o fleetsim.Options) *fleetsim.Fleet {
	GinkgoHelper()
	if o.Seed == 0 {
		o.Seed = uint64(GinkgoRandomSeed())
	}
	if o.UIDPrefix == "" {
		o.UIDPrefix = CurrentSpecReport().FullText()
	}
	f, err := fleetsim.Start(context.Background(), o)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(f.Stop)
	Eventually(f.Connected, 20*time.Second).Should(Equal(o.Agents))
	return f
}

const collectorConfig = `receivers:
  otlp:
    protocols:
      grpc: {}
exporters:
  otlp:
    endpoint: backend:4317
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp]
`

// engine plays the manager's part for one group and rollout.
type engine struct {
	ns, group, rollout string
	hash               string
	body               []byte
}

// newEngine creates the group (matching service.name=otelcol plus extra attributes) and a
// Rollout for it, and stores the config revision as the manager does.
func newEngine(ns string, body string, match map[string]string) *engine {
	GinkgoHelper()
	ctx := context.Background()
	e := &engine{ns: ns, group: "gateways", rollout: "roll", body: []byte(body), hash: collectorconfig.Hash([]byte(body))}
	sel := map[string]string{"service.name": "otelcol"}
	for k, v := range match {
		sel[k] = v
	}
	Expect(env.Client.Create(ctx, &fleetv1alpha1.AgentGroup{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: e.group},
		Spec:       fleetv1alpha1.AgentGroupSpec{Selector: fleetv1alpha1.AgentSelector{MatchAttributes: sel}},
	})).To(Succeed())
	bs := fleetv1alpha1.FromInt(1)
	Expect(env.Client.Create(ctx, &fleetv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: e.rollout},
		Spec: fleetv1alpha1.RolloutSpec{
			AgentGroup: e.group,
			Config:     fleetv1alpha1.RolloutConfig{Inline: &body},
			Strategy:   fleetv1alpha1.RolloutStrategy{BatchSize: &bs},
		},
	})).To(Succeed())
	Expect(env.Client.Create(ctx, revision.New(ns, e.hash, e.body))).To(Succeed())
	return e
}

// startBatch admits the first n agents of uids (by rank) as batch number, as the manager
// records it: the cutoff rank of the n-th agent.
func (e *engine) startBatch(number int32, uids []string, from, n int) (admitted []string) {
	GinkgoHelper()
	ranks := map[string]string{}
	var ordered []string
	for _, u := range uids {
		r := membership.Rank(e.hash, u)
		ranks[r] = u
		ordered = append(ordered, r)
	}
	sort.Strings(ordered)
	batch := &fleetv1alpha1.BatchStatus{Number: number, Size: int32(n - from), ToRank: ordered[n-1],
		Phase: fleetv1alpha1.BatchPushing, StartedAt: ptrTime(time.Now())}
	if from > 0 {
		batch.FromRank = ordered[from-1]
	}
	e.setStatus(func(st *fleetv1alpha1.RolloutStatus) {
		st.Phase = fleetv1alpha1.RolloutProgressing
		st.ConfigHash, st.Revision = e.hash, revision.Short(e.hash)
		if st.StartedAt == nil {
			st.StartedAt = ptrTime(time.Now())
		}
		st.CurrentBatch = batch
	})
	e.setGroupActive(e.rollout)
	for _, r := range ordered[from:n] {
		admitted = append(admitted, ranks[r])
	}
	return admitted
}

func (e *engine) setStatus(mutate func(*fleetv1alpha1.RolloutStatus)) {
	GinkgoHelper()
	ctx := context.Background()
	var r fleetv1alpha1.Rollout
	Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: e.rollout}, &r)).To(Succeed())
	orig := r.DeepCopy()
	mutate(&r.Status)
	Expect(env.Client.Status().Patch(ctx, &r, client.MergeFrom(orig))).To(Succeed())
}

func (e *engine) setGroupActive(name string) {
	GinkgoHelper()
	ctx := context.Background()
	var g fleetv1alpha1.AgentGroup
	Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: e.group}, &g)).To(Succeed())
	orig := g.DeepCopy()
	g.Status.ActiveRollout = name
	Expect(env.Client.Status().Patch(ctx, &g, client.MergeFrom(orig))).To(Succeed())
}

// report returns the replica's entry in the Rollout status (zero value when absent).
func (e *engine) report(replica string) fleetv1alpha1.ReplicaReport {
	GinkgoHelper()
	var r fleetv1alpha1.Rollout
	Expect(env.Client.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: e.rollout}, &r)).To(Succeed())
	for _, rep := range r.Status.Replicas {
		if rep.Replica == replica {
			return rep
		}
	}
	return fleetv1alpha1.ReplicaReport{}
}

// counts sums the Rollout status entries of the given replicas.
func (e *engine) counts(replicas ...string) fleetv1alpha1.AgentCounts {
	GinkgoHelper()
	var sum fleetv1alpha1.AgentCounts
	for _, rep := range replicas {
		c := e.report(rep).Counts
		sum.Targeted += c.Targeted
		sum.Pending += c.Pending
		sum.Applying += c.Applying
		sum.Applied += c.Applied
		sum.Unhealthy += c.Unhealthy
		sum.Failed += c.Failed
		sum.Disconnected += c.Disconnected
		sum.TimedOut += c.TimedOut
		sum.Incompatible += c.Incompatible
		sum.Denied += c.Denied
		sum.Unverifiable += c.Unverifiable
	}
	return sum
}

func ptrTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t)
	return &mt
}

func uidsOf(f *fleetsim.Fleet) []string {
	out := make([]string, len(f.Agents))
	for i, a := range f.Agents {
		out[i] = a.UID.String()
	}
	return out
}

func agentByUID(f *fleetsim.Fleet, uid string) *fleetsim.Agent {
	for _, a := range f.Agents {
		if a.UID.String() == uid {
			return a
		}
	}
	Fail("no agent " + uid)
	return nil
}

// received says whether an agent was ever offered hash.
func received(a *fleetsim.Agent, hash string) bool {
	for _, h := range a.Received() {
		if h == hash {
			return true
		}
	}
	return false
}

func describeCounts(c fleetv1alpha1.AgentCounts) string {
	return strings.TrimSpace(fmt.Sprintf("%+v", c))
}

func objMeta(ns, name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }

// rolloutWatch counts the changes of one replica's entry in a Rollout's status.
type rolloutWatch struct {
	cancel context.CancelFunc
	done   chan int
}

func (w *rolloutWatch) stop() int {
	w.cancel()
	return <-w.done
}

// watchRollout starts counting the writes that change the entry of replica in the Rollout.
func watchRollout(ctx context.Context, ns, name, replica string) *rolloutWatch {
	GinkgoHelper()
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	Expect(err).NotTo(HaveOccurred())
	wctx, cancel := context.WithCancel(ctx)
	watcher, err := wc.Watch(wctx, &fleetv1alpha1.RolloutList{}, client.InNamespace(ns))
	Expect(err).NotTo(HaveOccurred())
	w := &rolloutWatch{cancel: cancel, done: make(chan int, 1)}
	go func() {
		defer watcher.Stop()
		n, last := 0, ""
		for {
			select {
			case <-wctx.Done():
				w.done <- n
				return
			case ev, ok := <-watcher.ResultChan():
				if !ok {
					w.done <- n
					return
				}
				r, ok := ev.Object.(*fleetv1alpha1.Rollout)
				if !ok || r.Name != name {
					continue
				}
				for _, rep := range r.Status.Replicas {
					if rep.Replica != replica {
						continue
					}
					if cur := fmt.Sprintf("%+v", rep); cur != last {
						if last != "" {
							n++
						}
						last = cur
					}
				}
			}
		}
	}()
	return w
}

// metricValue reads the counter or gauge name of reg whose labels include the given ones
// (name, value pairs); 0 when there is none.
func metricValue(reg *prometheus.Registry, name string, labels ...string) float64 {
	GinkgoHelper()
	return harness.MetricValue(reg, name, labels...)
}

// readAPI GETs path from the replica's read API, with a bearer token unless it is empty, and
// returns the status code and the body.
func readAPI(ctx context.Context, s *sidecar, token, path string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.srv.ReadAPIAddr().String()+path, nil)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(req)
}

// httpGet GETs url and returns the status code and the body.
func httpGet(ctx context.Context, url string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	return do(req)
}

// httpClient bounds every call the specs make to a replica's HTTP endpoints.
var httpClient = &http.Client{Timeout: 10 * time.Second}

func do(req *http.Request) (int, []byte, error) {
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// serviceAccountToken creates the ServiceAccount ns/name and mints a token for it.
func serviceAccountToken(ns, name string) string {
	GinkgoHelper()
	ctx := context.Background()
	sa := &corev1.ServiceAccount{ObjectMeta: objMeta(ns, name)}
	Expect(env.Client.Create(ctx, sa)).To(Succeed())
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(600))}}
	Expect(env.Client.SubResource("token").Create(ctx, sa, tr)).To(Succeed())
	return tr.Status.Token
}

// grantRolloutReader lets the ServiceAccount ns/name get rollouts in ns: a ClusterRole that
// allows it (removed when the spec ends), bound in ns.
func grantRolloutReader(ns, name string) {
	GinkgoHelper()
	ctx := context.Background()
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "ampora-rollout-reader-"},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{fleetv1alpha1.GroupVersion.Group}, Resources: []string{"rollouts"}, Verbs: []string{"get"},
		}},
	}
	Expect(env.Client.Create(ctx, role)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) { Expect(env.Client.Delete(ctx, role)).To(Succeed()) })
	Expect(env.Client.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: objMeta(ns, name+"-rollout-reader"),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}},
	})).To(Succeed())
}
