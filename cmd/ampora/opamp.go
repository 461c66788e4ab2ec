package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/ampora-io/ampora/internal/readapi"
	"github.com/ampora-io/ampora/opampserver/replica"
	"github.com/ampora-io/ampora/opampserver/transport"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/opampserver"
)

// sidecarGCPercent is the sidecar's GOGC unless the environment sets one. Its heap is mostly
// per-session state that lives as long as the session, and it allocates little between
// rollouts (heartbeats), so collecting sooner costs little CPU; with the default of 100 the
// heap would grow past what is live by as much again as the live heap and the goroutine
// stacks together, which the Go runtime counts into the GC goal.
const sidecarGCPercent = 25

// runOpAMP runs the OpAMP server that agents connect to.
func runOpAMP(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("opamp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o opampserver.Options
	hostname, _ := os.Hostname()
	fs.StringVar(&o.Replica, "replica", envOr("POD_NAME", hostname), "name of this replica (its Pod name)")
	fs.StringVar(&o.Namespace, "namespace", envOr("POD_NAMESPACE", ""), "operator namespace, where the replica's Lease lives")
	fs.StringVar(&o.ListenAddr, "listen", ":4320", "address agents connect to")
	fs.StringVar(&o.Path, "path", "/v1/opamp", "HTTP path of the OpAMP endpoint")
	fs.StringVar(&o.TLSCertFile, "tls-cert-file", "", "TLS certificate (PEM); TLS is off when unset")
	fs.StringVar(&o.TLSKeyFile, "tls-key-file", "", "TLS private key (PEM)")
	fs.StringVar(&o.ClientCAFile, "client-ca-file", "", "CA bundle that agents' client certificates must chain to (turns on mTLS)")
	fs.StringVar(&o.ProbeAddr, "probe-addr", ":8082", "address of /healthz, /readyz and /metrics")
	fs.StringVar(&o.PprofAddr, "pprof-bind-address", "", "address of Go's profiles at /debug/pprof/ (off when empty; for diagnosis only)")
	fs.StringVar(&o.ReadAPIAddr, "read-api-addr", ":8443", "address of the read API (agents by state, ranks, handovers)")
	fs.StringVar(&o.ReadAPIURL, "read-api-url", "", "URL peers and the manager use for the read API (default http://$POD_IP:<read-api port>, else the listener's address)")
	fs.StringVar(&o.UnauthenticatedNamespace, "allow-unauthenticated-into", "", "admit agents without a token into this namespace (demos only)")
	fs.IntVar(&o.MaxConnections, "max-connections", 19000, "WebSocket sessions past which connections get 503 with Retry-After")
	fs.IntVar(&o.MaxOpenConnections, "max-open-connections", transport.DefaultMaxOpenConnections(), "TCP connections the agent listener holds open, before any HTTP is read; past it new ones are closed at once (the open-files limit less 256 by default; negative: no cap)")
	fs.DurationVar(&o.ReadHeaderTimeout, "read-header-timeout", 10*time.Second, "longest time to read a request's headers")
	fs.DurationVar(&o.ReadTimeout, "read-timeout", 30*time.Second, "longest time to read a whole request, body included (plain-HTTP polls; WebSocket sessions are not bound by it)")
	fs.DurationVar(&o.WriteTimeout, "write-timeout", 30*time.Second, "longest time to handle and answer a plain-HTTP poll, and to write one WebSocket message")
	fs.DurationVar(&o.IdleTimeout, "idle-timeout", 2*time.Minute, "longest wait of a keep-alive connection for its next request")
	fs.DurationVar(&o.FirstMessageTimeout, "first-message-timeout", 30*time.Second, "longest wait for a WebSocket session's first message after the upgrade")
	fs.IntVar(&o.MaxInflight, "max-inflight", 1024, "messages handled at once past which agents are told UNAVAILABLE")
	fs.Int64Var(&o.MaxMessageBytes, "max-message-bytes", 4<<20, "largest AgentToServer message accepted (a gzip plain-HTTP body: once inflated)")
	fs.IntVar(&o.MaxAgentsPerToken, "max-agents-per-token", opampserver.DefaultMaxAgentsPerToken, "agents (instance UIDs) one enrollment token may have in this replica's registry, connected or disconnected less than an hour ago; past it new UIDs are refused (negative: no cap)")
	fs.DurationVar(&o.HTTPAgentTimeout, "http-agent-timeout", 90*time.Second, "silence after which a plain-HTTP agent counts as disconnected")
	fs.DurationVar(&o.ReportInterval, "report-interval", time.Second, "least time between two status writes for one object")
	fs.DurationVar(&o.LeaseDuration, "lease-duration", 15*time.Second, "duration of the replica's Lease")
	fs.DurationVar(&o.ShutdownGrace, "shutdown-grace", 10*time.Second, "how long shutdown waits for sessions to close")
	tokenNamespaces := fs.String("token-namespaces", allNamespaces, "comma-separated namespaces whose enrollment-token Secrets enroll agents; the informer watches Secrets there only, so RBAC may grant them per namespace. \""+allNamespaces+"\" reads every namespace (needs list and watch of Secrets cluster-wide); empty reads none (only --allow-unauthenticated-into admits agents)")
	var addr replicaAddressFlags
	addr.bind(fs)
	fs.StringVar(&o.ReadAPIAudience, "read-api-audience", readapi.DefaultAudience, "audience of the tokens the manager and the peer replicas present to the read API, which the API server refuses (the manager requests its own, the chart mounts the peers'); users' tokens for the API server are accepted too")
	tokenFile := fs.String("peer-token-file", replica.PeerTokenFile, "bearer token presented to peer replicas: a token of the sidecar's ServiceAccount bound to --read-api-audience, which the API server refuses (peers take no other)")
	zopts := zap.Options{}
	zopts.BindFlags(fs)
	err := fs.Parse(args)
	if err != nil {
		return err
	}
	if o.TokenNamespaces, err = parseTokenNamespaces(*tokenNamespaces); err != nil {
		return err
	}
	if o.Namespace != "" && slices.Contains(o.TokenNamespaces, o.Namespace) {
		// The sidecar would list every Secret there: the manager's token, the approval seal key.
		return fmt.Errorf("--token-namespaces names the operator namespace %s, whose Secrets the internet-facing sidecar must not read: keep enrollment tokens in a team namespace", o.Namespace)
	}
	if o.ReplicaAddressCheck, o.ReplicaServiceAccounts, err = addr.parse(); err != nil {
		return err
	}
	o.PeerToken = audienceToken("--peer-token-file", *tokenFile, o.ReadAPIAudience)
	if _, err := os.Stat(*tokenFile); err == nil {
		if _, err := o.PeerToken(); err != nil {
			return err
		}
	}
	if o.ReadAPIURL == "" {
		o.ReadAPIURL = readAPIURL(os.Getenv("POD_IP"), o.ReadAPIAddr)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(sidecarGCPercent)
	}
	log := zap.New(zap.UseFlagOptions(&zopts))
	ctrl.SetLogger(log)
	o.Logger = log.WithName("opamp")

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("no kubeconfig: %w", err)
	}
	srv, err := opampserver.New(cfg, scheme(), o)
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}

// allNamespaces, as --token-namespaces, reads enrollment tokens from every namespace.
const allNamespaces = "*"

// parseTokenNamespaces turns --token-namespaces into opampserver.Options.TokenNamespaces:
// nil for every namespace, an empty slice for none, else the names in order, once each.
func parseTokenNamespaces(v string) ([]string, error) {
	if strings.TrimSpace(v) == allNamespaces {
		return nil, nil
	}
	out := []string{}
	seen := map[string]bool{}
	for _, ns := range strings.Split(v, ",") {
		ns = strings.TrimSpace(ns)
		if ns == "" || seen[ns] {
			continue
		}
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return nil, fmt.Errorf("--token-namespaces: %q is not a namespace name (%s); %q alone means every namespace", ns, strings.Join(errs, "; "), allNamespaces)
		}
		seen[ns] = true
		out = append(out, ns)
	}
	return out, nil
}

// scheme knows the built-in kinds and Ampora's.
func scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = fleetv1alpha1.AddToScheme(s)
	return s
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// readAPIURL is where peers reach this replica's read API: the Pod IP when the downward API
// gives it (a wildcard listener address means nothing to another Pod), else "" so that the
// server uses its listener's address (fine on one host).
func readAPIURL(podIP, listen string) string {
	_, port, err := net.SplitHostPort(listen)
	if podIP == "" || err != nil {
		return ""
	}
	return "http://" + net.JoinHostPort(podIP, port)
}
