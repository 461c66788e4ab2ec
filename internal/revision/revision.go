// Package revision names and reads the stored config revisions. The manager writes each
// validated config into a ControllerRevision before any agent may receive it; sidecars read
// config bodies only from there, so a config that failed validation has nowhere to be pushed
// from.
//
// A stored revision is named after the full SHA-256 of its config and every read checks the
// content against that hash: a ControllerRevision that holds anything else (written by someone
// who may write ControllerRevisions, or left from another config) is an error, never a config
// to push.
package revision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ampora-io/ampora/internal/collectorconfig"
)

const (
	// LabelConfig marks the ControllerRevisions that hold configs, for the sidecars' watch.
	LabelConfig = "fleet.ampora.io/config"
	// ShortLen is the length of a revision as status and kubectl show it: the first hex
	// digits of the config hash. It names nothing that is looked up.
	ShortLen   = 10
	namePrefix = "ampora-config-"
)

// ErrMismatch says that a stored revision does not hold the config its name promises.
var ErrMismatch = errors.New("stored revision does not match its config hash")

var fullHash = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Short is the revision of a config hash, as status and kubectl show it.
func Short(configHash string) string {
	if len(configHash) <= ShortLen {
		return configHash
	}
	return configHash[:ShortLen]
}

// Name is the name of the ControllerRevision that holds the config whose full hash is
// configHash. Names are content-addressed: one config is stored once per namespace whoever
// rolls it out. It is "" for anything but a full lowercase SHA-256 in hex.
func Name(configHash string) string {
	if !fullHash.MatchString(configHash) {
		return ""
	}
	return namePrefix + configHash
}

// Data is what a ControllerRevision holds.
type Data struct {
	ConfigHash string `json:"configHash"`
	Config     string `json:"config"`
}

// New builds the ControllerRevision for a config body whose hash is configHash.
func New(namespace, configHash string, body []byte) *appsv1.ControllerRevision {
	raw, _ := json.Marshal(Data{ConfigHash: configHash, Config: string(body)})
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: namespace,
			Name:      Name(configHash),
			Labels:    map[string]string{LabelConfig: "true"},
		},
		Data:     runtime.RawExtension{Raw: raw},
		Revision: 1,
	}
}

// Read returns the config a ControllerRevision holds, once its content hashes to the hash it
// records and its name is that hash's name; otherwise an error that wraps ErrMismatch.
func Read(cr *appsv1.ControllerRevision) (Data, error) {
	var d Data
	raw := cr.Data.Raw
	if raw == nil && cr.Data.Object != nil {
		var err error
		if raw, err = json.Marshal(cr.Data.Object); err != nil {
			return d, err
		}
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return d, fmt.Errorf("controllerrevision %s/%s: %w", cr.Namespace, cr.Name, err)
	}
	if got := collectorconfig.Hash([]byte(d.Config)); got != d.ConfigHash || cr.Name != Name(got) {
		return Data{}, fmt.Errorf("controllerrevision %s/%s holds a config whose hash is %s: %w", cr.Namespace, cr.Name, Short(got), ErrMismatch)
	}
	return d, nil
}

// Get reads the stored config of configHash in namespace ns and checks it. A missing revision
// is a NotFound error; one that holds another config wraps ErrMismatch.
func Get(ctx context.Context, c client.Reader, ns, configHash string) (Data, error) {
	name := Name(configHash)
	if name == "" {
		return Data{}, fmt.Errorf("%q is not a full config hash: %w", configHash, ErrMismatch)
	}
	var cr appsv1.ControllerRevision
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &cr); err != nil {
		return Data{}, err
	}
	return Read(&cr)
}
