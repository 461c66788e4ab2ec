package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// InstallWebhook creates the generated MutatingWebhookConfiguration of config/webhook under
// name, pointed at https://127.0.0.1:port instead of a Service (a bare API server has no
// cluster network). The manager puts its CA in (--webhook-cert-secret).
func InstallWebhook(ctx context.Context, c client.Client, name string, port int) error {
	raw, err := os.ReadFile(filepath.Join(Root(), "config", "webhook", "manifests.yaml"))
	if err != nil {
		return err
	}
	var cfg admissionregistrationv1.MutatingWebhookConfiguration
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		return err
	}
	cfg.Name = name
	for i := range cfg.Webhooks {
		w := &cfg.Webhooks[i]
		url := fmt.Sprintf("https://127.0.0.1:%d%s", port, *w.ClientConfig.Service.Path)
		w.ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: &url}
	}
	return c.Create(ctx, &cfg)
}

// WaitWebhookCA waits until every webhook of the configuration carries a CA: from then on the
// API server can call the manager's webhook.
func WaitWebhookCA(ctx context.Context, c client.Client, name string, timeout time.Duration) error {
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		var cfg admissionregistrationv1.MutatingWebhookConfiguration
		if err := c.Get(ctx, client.ObjectKey{Name: name}, &cfg); err != nil {
			return false, nil
		}
		for _, w := range cfg.Webhooks {
			if len(w.ClientConfig.CABundle) == 0 {
				return false, nil
			}
		}
		return len(cfg.Webhooks) > 0, nil
	})
}

// Editors lets users edit Ampora's kinds and ConfigMaps in every namespace.
func Editors(ctx context.Context, c client.Client, users ...string) error {
	const role = "ampora-editor"
	objs := []client.Object{&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: role}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"fleet.ampora.io"}, Resources: []string{"rollouts", "agentgroups", "gatepolicies"}, Verbs: []string{"*"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"*"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"get", "list", "watch"}},
	}}}
	for _, u := range users {
		objs = append(objs, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role + "-" + u},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: u}}})
	}
	for _, obj := range objs {
		if err := c.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
		}
	}
	return nil
}
