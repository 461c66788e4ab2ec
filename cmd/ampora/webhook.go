package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/ampora-io/ampora/internal/approval"
	"github.com/ampora-io/ampora/webhooks"
)

// reinjectEvery is how often a replica checks that the webhook configuration carries its CA:
// an install that creates the configuration after the Pods, or a GitOps tool that replaced it,
// is mended without a restart.
const reinjectEvery = time.Minute

// webhookFlags configure the approvals admission webhook that every replica's manager serves.
type webhookFlags struct {
	port                               int
	host, certDir, certSecret, webhook string
	certHosts                          string
}

func (w *webhookFlags) bind(fs *flag.FlagSet) {
	fs.IntVar(&w.port, "webhook-port", 9443, "port of the approvals admission webhook (0 turns it off)")
	fs.StringVar(&w.host, "webhook-host", "", "address the webhook listens on (default: all)")
	fs.StringVar(&w.certDir, "webhook-cert-dir", "/tmp/ampora-webhook", "directory of the webhook's tls.crt and tls.key (reloaded when they change)")
	fs.StringVar(&w.certSecret, "webhook-cert-secret", "", "Secret in the operator namespace that holds a self-signed webhook certificate, made by the first replica; its CA is put into --webhook-configuration. Unset, the certificate in --webhook-cert-dir is used as it is (cert-manager, for example)")
	fs.StringVar(&w.webhook, "webhook-configuration", "ampora-approvals", "MutatingWebhookConfiguration that receives the CA of --webhook-cert-secret")
	fs.StringVar(&w.certHosts, "webhook-cert-hosts", "", "comma-separated DNS names and IP addresses of the self-signed certificate, such as the webhook Service's names")
}

func (w *webhookFlags) hosts() []string {
	var hosts []string
	for _, h := range strings.Split(w.certHosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// startWebhook serves the approvals webhook until ctx ends, apart from the controllers: it
// keeps answering while this replica's manager waits for, or campaigns again for, the leader
// Lease. It returns a readiness check that passes once the server listens; nil when off.
func (w *webhookFlags) startWebhook(ctx context.Context, cfg *rest.Config, s *runtime.Scheme, namespace string, key approval.Key, log logr.Logger) (healthz.Checker, error) {
	if w.port == 0 {
		return nil, nil
	}
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		return nil, err
	}
	if w.certSecret != "" {
		if len(w.hosts()) == 0 {
			return nil, fmt.Errorf("--webhook-cert-hosts is required with --webhook-cert-secret")
		}
		certs := webhooks.SelfSigned{Client: c, Namespace: namespace, Secret: w.certSecret, Configuration: w.webhook,
			Hosts: w.hosts(), Dir: w.certDir}
		// The first pass must write the certificate before the server starts; it retries,
		// since the configuration may be created after this Pod (an install in progress).
		if err := wait.PollUntilContextCancel(ctx, 2*time.Second, true, func(ctx context.Context) (bool, error) {
			if err := certs.Ensure(ctx); err != nil {
				log.Info("webhook certificate not ready, retrying", "error", err.Error())
				return false, nil
			}
			return true, nil
		}); err != nil {
			return nil, err
		}
		go wait.UntilWithContext(ctx, func(ctx context.Context) {
			if err := certs.Ensure(ctx); err != nil {
				log.Error(err, "keeping the webhook certificate and CA")
			}
		}, reinjectEvery)
	}
	srv := webhook.NewServer(webhook.Options{Host: w.host, Port: w.port, CertDir: w.certDir})
	srv.Register(webhooks.Path, &webhook.Admission{Handler: webhooks.New(c, s, clock.RealClock{}, namespace, key)})
	go func() {
		if err := srv.Start(ctx); err != nil {
			log.Error(err, "the approvals webhook stopped")
		}
	}()
	return srv.StartedChecker(), nil
}
