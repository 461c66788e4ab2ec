package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/controllers"
	"github.com/ampora-io/ampora/internal/approval"
	"github.com/ampora-io/ampora/internal/readapi"
	"github.com/ampora-io/ampora/internal/satoken"
	"github.com/ampora-io/ampora/webhooks"
)

// LeaderElectionID names the Lease the managers compete for.
const LeaderElectionID = readapi.LeaderLease

// runManager runs the rollout engine: the controllers, behind leader election.
func runManager(ctx context.Context, args []string, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		metricsAddr, probeAddr, namespace, tokenFile, keySecret, tokenAudience string
		leaderElect                                                            bool
		leaseDuration, renewDeadline, retryPeriod, reportTimeout               time.Duration
	)
	fs.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "address of /metrics (0 turns it off)")
	fs.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.StringVar(&namespace, "namespace", envOr("POD_NAMESPACE", ""), "operator namespace: the leader Lease, the sidecars' Leases and the default GatePolicy live there")
	fs.BoolVar(&leaderElect, "leader-elect", true, "elect one active manager through the Lease "+LeaderElectionID)
	fs.DurationVar(&leaseDuration, "leader-elect-lease-duration", 30*time.Second, "how long a leader's Lease lasts without renewal")
	fs.DurationVar(&renewDeadline, "leader-elect-renew-deadline", 20*time.Second, "how long the leader keeps trying to renew before it steps down")
	fs.DurationVar(&retryPeriod, "leader-elect-retry-period", 5*time.Second, "how often candidates try to take the Lease")
	fs.StringVar(&keySecret, "approval-key-secret", webhooks.DefaultKeySecret, "Secret in the operator namespace that holds the key sealing approval records, made by the first replica")
	fs.StringVar(&tokenAudience, "sidecar-token-audience", readapi.DefaultAudience, "the sidecars' --read-api-audience: the manager presents to their read API tokens of its own ServiceAccount bound to it, which it requests (TokenRequest), so that a sidecar cannot act as the manager at the API server")
	fs.StringVar(&tokenFile, "sidecar-token-file", "", "present this token to the sidecars' read API instead of requesting them, read anew each time (for a manager that runs as no ServiceAccount): it must be bound to --sidecar-token-audience")
	fs.DurationVar(&reportTimeout, "replica-report-timeout", controllers.DefaultReplicaReportTimeout, "how long a live sidecar replica may go without writing its status entries before they stop counting (and a batch is not judged without it), and how long a dead one's stay; above the sidecars' --report-refresh")
	var addr replicaAddressFlags
	addr.bind(fs)
	var wf webhookFlags
	wf.bind(fs)
	zopts := zap.Options{}
	zopts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if namespace == "" {
		return fmt.Errorf("--namespace (or POD_NAMESPACE) is required")
	}
	if reportTimeout <= 0 {
		return fmt.Errorf("--replica-report-timeout must be positive")
	}
	check, sas, err := addr.parse()
	if err != nil {
		return err
	}
	log := zap.New(zap.UseFlagOptions(&zopts))
	ctrl.SetLogger(log)

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("no kubeconfig: %w", err)
	}
	f := managerFlags{metricsAddr: metricsAddr, probeAddr: probeAddr, namespace: namespace,
		leaderElect: leaderElect, leaseDuration: leaseDuration, renewDeadline: renewDeadline, retryPeriod: retryPeriod,
		addressCheck: check, replicaServiceAccounts: sas, reportTimeout: reportTimeout}
	keyClient, err := client.New(cfg, client.Options{Scheme: scheme()})
	if err != nil {
		return err
	}
	f.sidecarToken = (&satoken.Source{Client: keyClient, Audience: tokenAudience}).Token
	if tokenFile != "" {
		f.sidecarToken = audienceToken("--sidecar-token-file", tokenFile, tokenAudience)
		if _, err := f.sidecarToken(); err != nil {
			return err
		}
	}
	if f.approvalKey, err = loadApprovalKey(ctx, keyClient, namespace, keySecret, log); err != nil {
		return err
	}
	// A replica holds the key it read at start: when the Secret changes (deleted and made anew,
	// rotated), it stops, so that a restart reads the new one and every replica seals alike.
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	go watchApprovalKey(ctx, keyClient, namespace, keySecret, f.approvalKey, keyCheckEvery, stop, log)
	defer func() {
		if cause := context.Cause(ctx); errors.Is(cause, errApprovalKeyChanged) {
			err = cause
		}
	}()
	// The webhook serves on every replica, through step-downs and campaigns alike.
	if f.webhookReady, err = wf.startWebhook(ctx, cfg, scheme(), namespace, f.approvalKey, log.WithName("webhook")); err != nil {
		return fmt.Errorf("starting the approvals webhook: %w", err)
	}
	log.Info("starting the rollout engine", "namespace", namespace, "leaderElection", leaderElect, "leaseDuration", leaseDuration)
	for campaign := 0; ; campaign++ {
		if campaign > 0 {
			if err := awaitCampaign(ctx, cfg, f); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
		mgr, err := newManager(cfg, f, campaign > 0)
		if err != nil {
			return err
		}
		err = mgr.Start(ctx)
		if ctx.Err() != nil || !leadershipLost(err) {
			return err
		}
		// The Lease could not be renewed in time (the API server was away, say): the
		// controllers have stopped. Campaign again in this process rather than exit, so that
		// a short outage does not cost a restart.
		log.Info("lost the leader Lease: stepped down, campaigning again", "lease", LeaderElectionID)
	}
}

// managerFlags are the manager's settings, as parsed from its flags.
type managerFlags struct {
	metricsAddr, probeAddr, namespace string
	leaderElect                       bool
	// sidecarToken is what the manager presents to the sidecars' read API.
	sidecarToken                              func() (string, error)
	leaseDuration, renewDeadline, retryPeriod time.Duration
	// reportTimeout is how long a replica may go without reporting.
	reportTimeout time.Duration
	// addressCheck and replicaServiceAccounts say which sidecar URLs get the token.
	addressCheck           string
	replicaServiceAccounts []string
	// webhookReady passes once the approvals webhook listens; nil when it is off.
	webhookReady healthz.Checker
	// approvalKey seals approval records (the webhook) and checks them (the engine).
	approvalKey approval.Key
}

// errApprovalKeyChanged stops a manager whose approval key Secret changed.
var errApprovalKeyChanged = errors.New("the approval key Secret changed: restarting to read it")

// keyCheckEvery is how often a replica compares the approval key Secret with the key it holds.
const keyCheckEvery = time.Minute

// watchApprovalKey stops the manager (stop) once Secret name holds another key than key,
// looking every interval.
func watchApprovalKey(ctx context.Context, c client.Client, namespace, name string, key approval.Key, every time.Duration, stop context.CancelCauseFunc, log logr.Logger) {
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		now, err := webhooks.LoadKey(ctx, c, namespace, name)
		if err != nil {
			log.Info("reading the approval key Secret failed", "secret", name, "error", err.Error())
			return
		}
		if !bytes.Equal(now, key) {
			log.Info("the approval key Secret changed: stopping, to restart with it", "secret", name)
			stop(errApprovalKeyChanged)
		}
	}, every)
}

// loadApprovalKey reads, or makes, the key of Secret name, retrying while the API server is
// not there yet (an install in progress).
func loadApprovalKey(ctx context.Context, c client.Client, namespace, name string, log logr.Logger) (approval.Key, error) {
	var key approval.Key
	err := wait.PollUntilContextCancel(ctx, 2*time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		if key, err = webhooks.LoadKey(ctx, c, namespace, name); err != nil {
			log.Info("approval key not ready, retrying", "secret", name, "error", err.Error())
			return false, nil
		}
		return true, nil
	})
	return key, err
}

// newManager builds a manager with the engine's controllers. again is set when this process
// campaigns once more after stepping down: its earlier manager registered the same controller
// names, which controller-runtime otherwise refuses. Each manager campaigns under a new
// identity, so it takes the Lease only once the old one has expired, as another replica would.
func newManager(cfg *rest.Config, f managerFlags, again bool) (ctrl.Manager, error) {
	var ctrlOpts config.Controller
	if again {
		ctrlOpts.SkipNameValidation = ptr.To(true)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme(),
		Metrics:                       metricsserver.Options{BindAddress: f.metricsAddr},
		HealthProbeBindAddress:        f.probeAddr,
		LeaderElection:                f.leaderElect,
		LeaderElectionID:              LeaderElectionID,
		LeaderElectionNamespace:       f.namespace,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &f.leaseDuration,
		RenewDeadline:                 &f.renewDeadline,
		RetryPeriod:                   &f.retryPeriod,
		Cache:                         controllers.CacheOptions(f.namespace),
		Controller:                    ctrlOpts,
	})
	if err != nil {
		return nil, err
	}
	if err := controllers.Setup(mgr, controllers.Options{
		OperatorNamespace:      f.namespace,
		ApprovalKey:            f.approvalKey,
		ReplicaAddressCheck:    f.addressCheck,
		ReplicaServiceAccounts: f.replicaServiceAccounts,
		SidecarToken:           f.sidecarToken,
		ReplicaReportTimeout:   f.reportTimeout,
	}); err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, err
	}
	if f.webhookReady != nil {
		if err := mgr.AddReadyzCheck("webhook", f.webhookReady); err != nil {
			return nil, err
		}
	}
	return mgr, nil
}

// leadershipLost says whether mgr.Start ended because the Lease could not be renewed;
// controller-runtime reports it with this message only, no sentinel error.
func leadershipLost(err error) bool {
	return err != nil && strings.Contains(err.Error(), "leader election lost")
}

// awaitCampaign waits until a new manager can be built and run after stepping down: the API
// server serves Ampora's API (setting up the controllers resolves its kinds there, and a
// manager that fails after binding its probe port cannot free it), and the stopped manager
// has closed its metrics and probe listeners (controller-runtime does not wait for them after
// a lost Lease).
func awaitCampaign(ctx context.Context, cfg *rest.Config, f managerFlags) error {
	c := rest.CopyConfig(cfg)
	c.Timeout = 5 * time.Second
	dc, err := discovery.NewDiscoveryClientForConfig(c)
	if err != nil {
		return err
	}
	return wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		if _, err := dc.ServerResourcesForGroupVersionWithContext(ctx, fleetv1alpha1.GroupVersion.String()); err != nil {
			return false, nil
		}
		return addrFree(f.metricsAddr) && addrFree(f.probeAddr), nil
	})
}

// addrFree says whether a listener could bind addr now ("" and "0" turn a listener off).
func addrFree(addr string) bool {
	if addr == "" || addr == "0" {
		return true
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// audienceToken reads the token in path anew each time (the kubelet rotates it in place) and
// refuses one not bound to audience alone: the API server would take it, so whoever it is
// sent to could act as its owner there. flag names the file in errors.
func audienceToken(flag, path, audience string) func() (string, error) {
	return func() (string, error) {
		b, err := os.ReadFile(path)
		t := strings.TrimSpace(string(b))
		if err == nil {
			err = satoken.RequireAudience(t, audience)
		}
		if err != nil {
			return "", fmt.Errorf("%s %s: %w", flag, path, err)
		}
		return t, nil
	}
}
