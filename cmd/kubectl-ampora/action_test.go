package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

func TestActionPatch(t *testing.T) {
	tests := []struct {
		name    string
		action  fleetv1alpha1.RolloutAction
		unpause bool
		want    string
	}{
		{"abort", fleetv1alpha1.ActionAbort, false,
			`{"metadata":{"annotations":{"fleet.ampora.io/action":"abort","fleet.ampora.io/action-requested-by":"system:serviceaccount:ops:ci"}}}`},
		{"retry", fleetv1alpha1.ActionRetry, false,
			`{"metadata":{"annotations":{"fleet.ampora.io/action":"retry","fleet.ampora.io/action-requested-by":"system:serviceaccount:ops:ci"}}}`},
		{"rollback", fleetv1alpha1.ActionRollback, false,
			`{"metadata":{"annotations":{"fleet.ampora.io/action":"rollback","fleet.ampora.io/action-requested-by":"system:serviceaccount:ops:ci"}}}`},
		{"resume of a rollout a gate paused", fleetv1alpha1.ActionResume, false,
			`{"metadata":{"annotations":{"fleet.ampora.io/action":"resume","fleet.ampora.io/action-requested-by":"system:serviceaccount:ops:ci"}}}`},
		{"resume of a rollout spec.paused holds", fleetv1alpha1.ActionResume, true,
			`{"metadata":{"annotations":{"fleet.ampora.io/action":"resume","fleet.ampora.io/action-requested-by":"system:serviceaccount:ops:ci"}},"spec":{"paused":null}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := actionPatch(tt.action, "system:serviceaccount:ops:ci", tt.unpause)
			var a, b any
			if err := json.Unmarshal(got, &a); err != nil {
				t.Fatal(err)
			}
			_ = json.Unmarshal([]byte(tt.want), &b)
			if !equality.Semantic.DeepEqual(a, b) {
				t.Errorf("actionPatch = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestActionNote(t *testing.T) {
	tests := []struct {
		name   string
		action fleetv1alpha1.RolloutAction
		mutate func(*fleetv1alpha1.Rollout)
		want   string
	}{
		{"resume a paused rollout", fleetv1alpha1.ActionResume, nil, ""},
		{"resume a progressing one", fleetv1alpha1.ActionResume,
			func(r *fleetv1alpha1.Rollout) { r.Status.Phase = fleetv1alpha1.RolloutProgressing },
			"the rollout is Progressing, not paused: nothing to resume"},
		{"resume one spec.paused holds, not yet seen", fleetv1alpha1.ActionResume,
			func(r *fleetv1alpha1.Rollout) { r.Spec.Paused, r.Status.Phase = true, fleetv1alpha1.RolloutProgressing }, ""},
		{"abort an active one", fleetv1alpha1.ActionAbort, nil, ""},
		{"abort a completed one", fleetv1alpha1.ActionAbort,
			func(r *fleetv1alpha1.Rollout) { r.Status.Phase = fleetv1alpha1.RolloutCompleted },
			"the rollout is already Completed: abort changes nothing"},
		{"roll back before any batch", fleetv1alpha1.ActionRollback,
			func(r *fleetv1alpha1.Rollout) {
				r.Status.Phase, r.Status.CurrentBatch = fleetv1alpha1.RolloutPending, nil
			},
			"the rollout is Pending: there is nothing to roll back"},
		{"roll back a completed one", fleetv1alpha1.ActionRollback,
			func(r *fleetv1alpha1.Rollout) { r.Status.Phase = fleetv1alpha1.RolloutCompleted }, ""},
		{"retry a paused batch", fleetv1alpha1.ActionRetry, nil, ""},
		{"retry an aborted one", fleetv1alpha1.ActionRetry,
			func(r *fleetv1alpha1.Rollout) { r.Status.Phase = fleetv1alpha1.RolloutAborted },
			"the rollout is Aborted: there is no batch to retry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ro := pausedRollout()
			if tt.mutate != nil {
				tt.mutate(ro)
			}
			if got := actionNote(ro, tt.action); got != tt.want {
				t.Errorf("actionNote = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHandled(t *testing.T) {
	before := &fleetv1alpha1.ActionRecord{Action: fleetv1alpha1.ActionRetry, RequestedBy: "alice", HandledAt: *at(-time.Minute)}
	tests := []struct {
		name  string
		prior *fleetv1alpha1.ActionRecord
		ann   string
		last  *fleetv1alpha1.ActionRecord
		want  bool
	}{
		{"annotation still there", nil, "resume", &fleetv1alpha1.ActionRecord{Action: fleetv1alpha1.ActionResume, HandledAt: *at(0)}, false},
		{"annotation gone, status not written yet", before, "", before, false},
		{"annotation gone, no action recorded yet", nil, "", nil, false},
		{"first action recorded", nil, "", &fleetv1alpha1.ActionRecord{Action: fleetv1alpha1.ActionResume, RequestedBy: "bob", HandledAt: *at(0)}, true},
		{"a new action recorded", before, "", &fleetv1alpha1.ActionRecord{Action: fleetv1alpha1.ActionResume, RequestedBy: "bob", HandledAt: *at(0)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ro := pausedRollout()
			if tt.ann != "" {
				ro.Annotations = map[string]string{fleetv1alpha1.AnnotationAction: tt.ann}
			}
			ro.Status.LastAction = tt.last
			if got := handled(ro, tt.prior); got != tt.want {
				t.Errorf("handled = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWhoAmIFallsBackToTheKubeconfigUser(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: alice
  user: {token: t0k}
- name: bob
  user: {token: t0k}
contexts:
- name: as-alice
  context: {cluster: c, user: alice}
- name: as-bob
  context: {cluster: c, user: bob}
current-context: as-alice
`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		context string
		user    string
		want    string
	}{
		{"current context", "", "", "alice"},
		{"--context", "as-bob", "", "bob"},
		{"--user", "", "carol", "carol"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The fake API server answers a SelfSubjectReview without a user.
			o := optionsWith()
			o.flags.KubeConfig = &kc
			o.flags.Context = &tt.context
			o.flags.AuthInfoName = &tt.user
			got, err := o.whoAmI(context.Background())
			if err != nil || got != tt.want {
				t.Errorf("whoAmI = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
