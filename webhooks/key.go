package webhooks

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ampora-io/ampora/internal/approval"
)

// DefaultKeySecret is the Secret in the operator namespace that holds the approval seal key.
const DefaultKeySecret = "ampora-approval-key"

// keyField is the Secret's data key.
const keyField = "key"

// LoadKey returns the key that seals approval records, from Secret name in namespace, and
// makes it when it is missing: the first replica makes it, the others read it (a create that
// loses the race reads the winner's). Every replica's webhook and engine share it; deleting
// the Secret voids every record, so every approval must be given again.
func LoadKey(ctx context.Context, c client.Client, namespace, name string) (approval.Key, error) {
	k := client.ObjectKey{Namespace: namespace, Name: name}
	for range 2 {
		var sec corev1.Secret
		err := c.Get(ctx, k, &sec)
		if err == nil {
			if len(sec.Data[keyField]) < approval.KeyBytes {
				return nil, fmt.Errorf("Secret %s holds no approval key of %d bytes in %q", k, approval.KeyBytes, keyField)
			}
			return approval.Key(sec.Data[keyField]), nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("reading the approval key Secret %s: %w", k, err)
		}
		key, err := approval.NewKey()
		if err != nil {
			return nil, err
		}
		sec = corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "ampora"}},
			Type: corev1.SecretTypeOpaque, Data: map[string][]byte{keyField: key}}
		err = c.Create(ctx, &sec)
		if err == nil {
			return key, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating the approval key Secret %s: %w", k, err)
		}
	}
	return nil, fmt.Errorf("the approval key Secret %s was deleted while it was made", k)
}
