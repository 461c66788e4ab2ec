package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/ampora-io/ampora/controllers"
)

// LeaderElectionID names the Lease the managers compete for.
const LeaderElectionID = "ampora-rollout-engine"

// runManager runs the rollout engine: the controllers, behind leader election.
func runManager(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		metricsAddr, probeAddr, namespace, tokenFile string
		leaderElect                                  bool
		leaseDuration, renewDeadline, retryPeriod    time.Duration
	)
	fs.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "address of /metrics (0 turns it off)")
	fs.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.StringVar(&namespace, "namespace", envOr("POD_NAMESPACE", ""), "operator namespace: the leader Lease, the sidecars' Leases and the default GatePolicy live there")
	fs.BoolVar(&leaderElect, "leader-elect", true, "elect one active manager through the Lease "+LeaderElectionID)
	fs.DurationVar(&leaseDuration, "leader-elect-lease-duration", 30*time.Second, "how long a leader's Lease lasts without renewal")
	fs.DurationVar(&renewDeadline, "leader-elect-renew-deadline", 20*time.Second, "how long the leader keeps trying to renew before it steps down")
	fs.DurationVar(&retryPeriod, "leader-elect-retry-period", 5*time.Second, "how often candidates try to take the Lease")
	fs.StringVar(&tokenFile, "sidecar-token-file", "/var/run/secrets/kubernetes.io/serviceaccount/token", "bearer token presented to the sidecars' read API")
	zopts := zap.Options{}
	zopts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if namespace == "" {
		return fmt.Errorf("--namespace (or POD_NAMESPACE) is required")
	}
	log := zap.New(zap.UseFlagOptions(&zopts))
	ctrl.SetLogger(log)

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("no kubeconfig: %w", err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme(),
		Metrics:                       metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:        probeAddr,
		LeaderElection:                leaderElect,
		LeaderElectionID:              LeaderElectionID,
		LeaderElectionNamespace:       namespace,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &leaseDuration,
		RenewDeadline:                 &renewDeadline,
		RetryPeriod:                   &retryPeriod,
		Cache:                         controllers.CacheOptions(namespace),
	})
	if err != nil {
		return err
	}
	if err := controllers.Setup(mgr, controllers.Options{
		OperatorNamespace: namespace,
		SidecarToken: func() (string, error) {
			b, err := os.ReadFile(tokenFile)
			return strings.TrimSpace(string(b)), err
		},
	}); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	log.Info("starting the rollout engine", "namespace", namespace, "leaderElection", leaderElect, "leaseDuration", leaseDuration)
	return mgr.Start(ctx)
}
