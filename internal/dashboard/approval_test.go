package dashboard

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

const waitingMsg = "waiting for approval: revision 3f2a9c41be has 1 of 2 approvals required by GatePolicy production (bob); " +
	"alice wrote it and cannot approve it; approve with: kubectl ampora approve web"

// awaiting is a rollout that GatePolicy production holds before batch 1: bob approved, alice
// wrote the config, one more approval is needed.
func awaiting() fleetv1alpha1.Rollout {
	return fleetv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: "observability", Name: "web", UID: "u-web", Generation: 1, ResourceVersion: "3",
			CreationTimestamp: *at(-time.Minute)},
		Spec: fleetv1alpha1.RolloutSpec{AgentGroup: "gateways"},
		Status: fleetv1alpha1.RolloutStatus{
			ObservedGeneration: 1, Phase: fleetv1alpha1.RolloutPending, Message: waitingMsg,
			Revision: "3f2a9c41be", ConfigHash: "3f2a9c41be00",
			Approvals: &fleetv1alpha1.ApprovalStatus{Policy: "production", Required: 2, Author: "alice", ApprovedBy: []string{"bob"}},
			Conditions: []metav1.Condition{{Type: fleetv1alpha1.ConditionApproved, Status: metav1.ConditionFalse,
				Reason: fleetv1alpha1.ReasonAwaitingApproval, Message: "revision 3f2a9c41be has 1 of 2 approvals required by GatePolicy production (bob)"}},
		},
	}
}

// approvedRollout is awaiting once carol approved too, and batch 1 runs.
func approvedRollout() fleetv1alpha1.Rollout {
	ro := awaiting()
	st := &ro.Status
	st.Phase, st.Message = fleetv1alpha1.RolloutProgressing, "batch 1 of 2"
	st.Approvals.ApprovedBy = []string{"bob", "carol"}
	st.Conditions[0] = metav1.Condition{Type: fleetv1alpha1.ConditionApproved, Status: metav1.ConditionTrue, Reason: fleetv1alpha1.ReasonApproved,
		Message: "revision 3f2a9c41be approved by bob, carol (2 needed by GatePolicy production)"}
	st.Plan, st.GroupSize = []int32{10, 10}, 20
	st.CurrentBatch = &fleetv1alpha1.BatchStatus{Number: 1, Size: 10, Phase: fleetv1alpha1.BatchPushing, StartedAt: at(-10 * time.Second)}
	st.Counts = fleetv1alpha1.AgentCounts{Targeted: 10, Applying: 10}
	return ro
}

func TestApprovalView(t *testing.T) {
	tests := []struct {
		name   string
		ro     func() fleetv1alpha1.Rollout
		want   *approvalView
		phase  string // in the rollout list
		detail string // next to the phase on the rollout's page
		msg    string // the status message the page shows
	}{
		{name: "waiting", ro: awaiting, phase: "awaiting approval", detail: "awaiting approval",
			want: &approvalView{Waiting: true,
				Text: "revision 3f2a9c41be has 1 of 2 approvals required by GatePolicy production (approved by bob); alice wrote it and cannot approve it",
				Hint: "Review the config diff, then approve with: kubectl ampora approve web --revision 3f2a9c41be -n observability"}},
		{name: "waiting, no author, no approval yet", ro: func() fleetv1alpha1.Rollout {
			ro := awaiting()
			ro.Status.Approvals = &fleetv1alpha1.ApprovalStatus{Policy: "production", Required: 1}
			return ro
		}, phase: "awaiting approval", detail: "awaiting approval",
			want: &approvalView{Waiting: true,
				Text: "revision 3f2a9c41be has 0 of 1 approvals required by GatePolicy production; " +
					"it has no recorded author (its config changed outside the Rollout), so any user may approve it",
				Hint: "Review the config diff, then approve with: kubectl ampora approve web --revision 3f2a9c41be -n observability"}},
		{name: "waiting mid-rollout, before the condition", ro: func() fleetv1alpha1.Rollout {
			ro := approvedRollout()
			ro.Status.Approvals.ApprovedBy = []string{"bob"}
			ro.Status.Conditions = nil
			ro.Status.Message = "something else"
			return ro
		}, phase: "awaiting approval", detail: "awaiting approval", msg: "something else",
			want: &approvalView{Waiting: true,
				Text: "revision 3f2a9c41be has 1 of 2 approvals required by GatePolicy production (approved by bob); alice wrote it and cannot approve it",
				Hint: "Review the config diff, then approve with: kubectl ampora approve web --revision 3f2a9c41be -n observability"}},
		{name: "approved", ro: approvedRollout, phase: "Progressing", msg: "batch 1 of 2",
			want: &approvalView{Text: "Approved by bob, carol (2 required by GatePolicy production)"}},
		{name: "aborted while waiting", ro: func() fleetv1alpha1.Rollout {
			ro := awaiting()
			ro.Status.Phase, ro.Status.Message = fleetv1alpha1.RolloutAborted, "aborted by alice"
			return ro
		}, phase: "Aborted", msg: "aborted by alice",
			want: &approvalView{Text: "Approvals: 1 of 2 required by GatePolicy production (approved by bob)"}},
		{name: "no policy asks", ro: paused, phase: "Paused", detail: "GateBreach", msg: "failure-ratio: 20 % > 10 % (batch 1: 2 failed)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ro := tt.ro()
			got := approvalOf(&ro)
			if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
				t.Errorf("approvalOf =\n%+v, want\n%+v", got, tt.want)
			}
			list := listView(chrome{}, []fleetv1alpha1.Rollout{ro}, false, now)
			if row := list.Rows[0]; row.Phase != tt.phase {
				t.Errorf("list phase = %q, want %q", row.Phase, tt.phase)
			}
			p := rolloutView(chrome{}, &ro, nil, failedView{}, nil, "", now)
			if p.PhaseDetail != tt.detail || p.Message != tt.msg {
				t.Errorf("page phase detail %q, message %q; want %q, %q", p.PhaseDetail, p.Message, tt.detail, tt.msg)
			}
		})
	}
}

func TestApprovalPages(t *testing.T) {
	waiting := awaiting()
	waiting.Status.Approvals.Author = `<script>alert("alice")</script>`
	approved := approvedRollout()
	approved.Name = "api"
	h := newServer(t, &fakeSource{rollouts: []fleetv1alpha1.Rollout{waiting, approved}}, "").Handler()
	tests := []struct {
		path          string
		want, wantNot []string
	}{
		{"/", []string{
			`<span class="badge paused phase">awaiting approval</span>`,
			`<div class="sub pause-msg">1 of 2 approvals · GatePolicy production</div>`,
			"1 awaiting approval · 1 progressing",
		}, []string{"<script>"}},
		{"/rollouts/observability/web", []string{
			`<section class="card pause approval" id="approval">`, "<h2>Waiting for approval</h2>",
			`<p class="approval-message" id="approval-message">revision 3f2a9c41be has 1 of 2 approvals required by GatePolicy production (approved by bob); ` +
				`&lt;script&gt;alert(&#34;alice&#34;)&lt;/script&gt; wrote it and cannot approve it</p>`,
			"approve with: kubectl ampora approve web --revision 3f2a9c41be -n observability",
			`<span class="muted" id="phase-detail">awaiting approval</span>`,
			`<span class="badge small paused">Approved False</span>`,
		}, []string{"<script>", `id="status-message"`, `id="pause"`}},
		{"/rollouts/observability/api", []string{
			`<p class="meta" id="approval">Approved by bob, carol (2 required by GatePolicy production)</p>`,
			`<span class="badge small ok">Approved True</span>`,
		}, []string{"Waiting for approval", "awaiting approval"}},
	}
	for _, tt := range tests {
		code, body, _ := get(t, h, tt.path)
		if code != 200 {
			t.Fatalf("GET %s = %d\n%s", tt.path, code, body)
		}
		for _, w := range tt.want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s lacks %q\n%s", tt.path, w, body)
			}
		}
		for _, w := range tt.wantNot {
			if strings.Contains(body, w) {
				t.Errorf("GET %s has %q", tt.path, w)
			}
		}
	}
}
