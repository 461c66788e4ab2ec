package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/readapi"
)

// globalOptions are the flags every command shares, and the clients built from them.
type globalOptions struct {
	streams       genericiooptions.IOStreams
	flags         *genericclioptions.ConfigFlags
	allNamespaces bool
	// operatorNamespace holds the sidecars' and the leader's Leases: the flag, else the
	// kubeconfig context's extension, else the default (operatorNS).
	operatorNamespace string
	// readAPIURLs replace the read-API URLs published on the Leases.
	readAPIURLs []string
	// addressCheck and replicaServiceAccounts say which Lease URLs may be sent the token.
	addressCheck           string
	replicaServiceAccounts []string
	now                    func() time.Time

	cfg *rest.Config
	c   client.WithWatch
}

func newGlobalOptions(streams genericiooptions.IOStreams) *globalOptions {
	return &globalOptions{
		streams: streams,
		flags:   genericclioptions.NewConfigFlags(true),
		now:     time.Now,
	}
}

func (o *globalOptions) addFlags(cmd *cobra.Command) {
	fs := cmd.PersistentFlags()
	o.flags.AddFlags(fs)
	fs.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false,
		"look the rollout up by name in every namespace")
	fs.StringVar(&o.operatorNamespace, "operator-namespace", "",
		"namespace of the operator's Leases and Pods (default: the kubeconfig context's "+contextExtension+" extension's operatorNamespace, else "+defaultOperatorNamespace+")")
	fs.StringSliceVar(&o.readAPIURLs, "read-api-url", nil,
		"read-API URL to ask instead of those on the sidecar Leases (for example http://127.0.0.1:8443 through kubectl port-forward); repeatable")
	fs.StringVar(&o.addressCheck, "replica-address-check", readapi.AddressCheckPod,
		"which read-API URLs on the sidecar Leases get your token: pod (only the Pod IP of a running Pod of --replica-service-account in the operator namespace) or none (any: only for operator processes run outside Pods, as make demo does)")
	fs.StringSliceVar(&o.replicaServiceAccounts, "replica-service-account", readapi.DefaultReplicaServiceAccounts,
		"ServiceAccount of the sidecars' Pods, for --replica-address-check=pod; repeatable")
}

func scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := fleetv1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

func (o *globalOptions) restConfig() (*rest.Config, error) {
	if o.cfg != nil {
		return o.cfg, nil
	}
	cfg, err := o.flags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	cfg.UserAgent = "kubectl-ampora"
	o.cfg = cfg
	return cfg, nil
}

func (o *globalOptions) client() (client.WithWatch, error) {
	if o.c != nil {
		return o.c, nil
	}
	cfg, err := o.restConfig()
	if err != nil {
		return nil, err
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme()})
	if err != nil {
		return nil, err
	}
	o.c = c
	return c, nil
}

// namespace is -n, else the kubeconfig context's namespace, else "default".
func (o *globalOptions) namespace() (string, error) {
	ns, _, err := o.flags.ToRawKubeConfigLoader().Namespace()
	return ns, err
}

// getRollout reads the named Rollout from the namespace, or with -A from whichever namespace
// holds the only Rollout of that name.
func (o *globalOptions) getRollout(ctx context.Context, name string) (*fleetv1alpha1.Rollout, error) {
	c, err := o.client()
	if err != nil {
		return nil, err
	}
	if !o.allNamespaces {
		ns, err := o.namespace()
		if err != nil {
			return nil, err
		}
		ro := &fleetv1alpha1.Rollout{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ro); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("rollout %q not found in namespace %q", name, ns)
			}
			return nil, err
		}
		return ro, nil
	}
	var list fleetv1alpha1.RolloutList
	if err := c.List(ctx, &list, client.MatchingFields{"metadata.name": name}); err != nil {
		return nil, err
	}
	switch len(list.Items) {
	case 0:
		return nil, fmt.Errorf("rollout %q not found in any namespace", name)
	case 1:
		return &list.Items[0], nil
	}
	var nss []string
	for _, r := range list.Items {
		nss = append(nss, r.Namespace)
	}
	sort.Strings(nss)
	return nil, fmt.Errorf("rollout %q exists in namespaces %s: choose one with -n", name, strings.Join(nss, ", "))
}

// getGroup reads the Rollout's AgentGroup.
func (o *globalOptions) getGroup(ctx context.Context, ro *fleetv1alpha1.Rollout) (*fleetv1alpha1.AgentGroup, error) {
	c, err := o.client()
	if err != nil {
		return nil, err
	}
	g := &fleetv1alpha1.AgentGroup{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ro.Namespace, Name: ro.Spec.AgentGroup}, g); err != nil {
		return nil, err
	}
	return g, nil
}

// rolloutArg completes rollout names in the namespace.
func (o *globalOptions) rolloutArg(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	c, err := o.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var opts []client.ListOption
	if !o.allNamespaces {
		ns, err := o.namespace()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		opts = append(opts, client.InNamespace(ns))
	}
	var list fleetv1alpha1.RolloutList
	if err := c.List(cmd.Context(), &list, opts...); err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	names := make([]string, 0, len(list.Items))
	for _, r := range list.Items {
		names = append(names, r.Name)
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}
