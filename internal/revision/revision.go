// Package revision names and reads the stored config revisions. The manager writes each
// validated config into a ControllerRevision before any agent may receive it; sidecars read
// config bodies only from there, so a config that failed validation has nowhere to be pushed
// from.
package revision

import (
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

const (
	// LabelConfig marks the ControllerRevisions that hold configs, for the sidecars' watch.
	LabelConfig = "fleet.ampora.io/config"
	// ShortLen is the length of a revision: the first hex digits of the config hash.
	ShortLen   = 10
	namePrefix = "ampora-config-"
)

// Short is the revision of a config hash, as status and kubectl show it.
func Short(configHash string) string {
	if len(configHash) <= ShortLen {
		return configHash
	}
	return configHash[:ShortLen]
}

// Name is the name of the ControllerRevision that holds the config of a revision. Names are
// content-addressed: one config is stored once per namespace whoever rolls it out.
func Name(revision string) string { return namePrefix + Short(revision) }

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

// Read returns the config hash and body a ControllerRevision holds.
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
	if d.ConfigHash == "" {
		return d, fmt.Errorf("controllerrevision %s/%s holds no config hash", cr.Namespace, cr.Name)
	}
	return d, nil
}
