package testenv

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// OperatorAccess creates, if missing, the operator's namespace and ServiceAccount, and a
// ClusterRole and binding named role that let the account read rollouts: the sidecars' read
// API checks its callers with TokenReview and SubjectAccessReview, and the operator calls it
// with this account's token.
func OperatorAccess(ctx context.Context, c client.Client, namespace, account, role string) error {
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: account}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: role}, Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{"fleet.ampora.io"}, Resources: []string{"rollouts"}, Verbs: []string{"get", "list"}}}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: namespace, Name: account}}},
	} {
		if err := c.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
		}
	}
	return nil
}

// AccountToken mints a token of a ServiceAccount, as its Pod would have mounted, valid for
// seconds.
func AccountToken(ctx context.Context, c client.Client, namespace, account string, seconds int64, audiences ...string) (string, error) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: account}}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(seconds), Audiences: audiences}}
	if err := c.SubResource("token").Create(ctx, sa, tr); err != nil {
		return "", fmt.Errorf("requesting a token of %s/%s: %w", namespace, account, err)
	}
	return tr.Status.Token, nil
}

// FreePorts returns n distinct free TCP ports on 127.0.0.1, for processes that must be told a
// port before they listen. They are drawn below the kernel's ephemeral range (32768-60999 on
// Linux), which a port handed out by ":0" would be in: another test package's listener on
// ":0", or any outgoing connection, could take such a port between its release here and the
// process's bind. Below that range only another FreePorts could, and it draws at random.
func FreePorts(n int) ([]int, error) {
	const lo, hi = 20000, 32768
	var ports []int
	seen := map[int]bool{}
	for tries := 0; len(ports) < n; tries++ {
		if tries > 1000 {
			return nil, fmt.Errorf("no free port in %d-%d after %d tries", lo, hi-1, tries)
		}
		p := lo + rand.IntN(hi-lo)
		if seen[p] {
			continue
		}
		seen[p] = true
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue // in use
		}
		_ = l.Close()
		ports = append(ports, p)
	}
	return ports, nil
}
