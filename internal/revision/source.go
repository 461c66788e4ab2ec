package revision

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

// Source reads the config a Rollout of namespace ns names: inline, or a ConfigMap's key. When
// the ConfigMap or its key is missing, it says which in missing (err stays nil): the engine
// stalls on it, and the approvals webhook has no hash to approve. No config at all is an empty
// body.
func Source(ctx context.Context, c client.Reader, ns string, cfg fleetv1alpha1.RolloutConfig) (body []byte, missing string, err error) {
	if cfg.Inline != nil {
		return []byte(*cfg.Inline), "", nil
	}
	ref := cfg.ConfigMapRef
	if ref == nil {
		return nil, "", nil
	}
	var cm corev1.ConfigMap
	err = c.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, &cm)
	if apierrors.IsNotFound(err) {
		return nil, fmt.Sprintf("ConfigMap %s not found", ref.Name), nil
	} else if err != nil {
		return nil, "", err
	}
	v, ok := cm.Data[ref.Key]
	if !ok {
		return nil, fmt.Sprintf("ConfigMap %s has no key %q", ref.Name, ref.Key), nil
	}
	return []byte(v), "", nil
}
