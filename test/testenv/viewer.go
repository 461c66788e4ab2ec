package testenv

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ViewerName names the read-only ServiceAccount and ClusterRole that Viewer makes.
const ViewerName = "dashboard-viewer"

// Viewer makes a read-only user of namespace ns, as a ServiceAccount with a token, and writes
// a kubeconfig for it to path: it may read rollouts, agent groups and events in ns and the
// sidecars' Leases in operatorNS. A token (not a client certificate) lets the sidecars' read
// API authenticate the user, as on a cluster.
func Viewer(ctx context.Context, c client.Client, cfg *rest.Config, ns, operatorNS, path string) error {
	binding := func(namespace, name string) *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: ViewerName},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: ViewerName}}}
	}
	for _, obj := range []client.Object{
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ViewerName}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"fleet.ampora.io"}, Resources: []string{"rollouts", "agentgroups"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"get", "list"}},
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "list"}},
		}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: ViewerName}},
		binding(ns, ViewerName),
		binding(operatorNS, ViewerName+"-"+ns),
	} {
		if err := c.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
		}
	}
	token, err := AccountToken(ctx, c, ns, ViewerName, 24*3600)
	if err != nil {
		return err
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["local"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["viewer"] = &clientcmdapi.AuthInfo{Token: token}
	kc.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "viewer", Namespace: ns}
	kc.CurrentContext = "local"
	return clientcmd.WriteToFile(*kc, path)
}
