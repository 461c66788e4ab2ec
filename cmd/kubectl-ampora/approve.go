package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/approval"
)

func newApproveCmd(o *globalOptions) *cobra.Command {
	var revision string
	cmd := &cobra.Command{
		Use:   "approve ROLLOUT | gatepolicy/NAME",
		Short: "Approve a rollout's revision, or a change that loosens a GatePolicy",
		Long: `Approve the current revision of a rollout whose GatePolicy requires approvals, or a change
that loosens a GatePolicy which itself requires approvals.

The approval is bound to what you approve: the rollout's config hash (its revision) or the
policy's spec. A later change voids it. Kubernetes tells the operator's admission webhook who you
are; the author of the config (or of the policy change) cannot approve it.

By default the revision the engine last reported (status.revision) is approved; --revision
names the one you reviewed, so that a config changed in the meantime is refused.`,
		Example: `  kubectl ampora approve gateways-batching -n demo
  kubectl ampora approve gateways-batching --revision 3f2a9c41be -n demo
  kubectl ampora approve gatepolicy/production -n demo`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.rolloutArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name, ok := strings.CutPrefix(args[0], "gatepolicy/"); ok {
				return approvePolicy(cmd.Context(), o, name)
			}
			return approveRollout(cmd.Context(), o, strings.TrimPrefix(args[0], "rollout/"), revision)
		},
	}
	cmd.Flags().StringVar(&revision, "revision", "", "the revision (config hash or its first 7+ digits) you reviewed; default: status.revision")
	return cmd
}

func approveRollout(ctx context.Context, o *globalOptions, name, rev string) error {
	ro, err := o.getRollout(ctx, name)
	if err != nil {
		return err
	}
	if rev == "" {
		rev = ro.Status.ConfigHash
	}
	if rev == "" {
		return fmt.Errorf("rollout %s/%s has no revision yet: wait for the engine to evaluate it, or give --revision", ro.Namespace, ro.Name)
	}
	if a := ro.Status.Approvals; a == nil {
		fmt.Fprintf(o.streams.ErrOut, "note: no GatePolicy asks rollout %s for approvals; the approval is recorded anyway\n", ro.Name)
	}
	ask := rev
	if a := ro.Status.Approvals; a != nil && a.Decision != "" && approval.Names(rev, ro.Status.ConfigHash) {
		// The whole decision as status showed it: the webhook refuses the approval if the
		// group, the gates or a policy moved it since.
		ask += "@" + a.Decision
	}
	after := &fleetv1alpha1.Rollout{}
	if err := o.requestApproval(ctx, ro, after, ask); err != nil {
		return err
	}
	rec := approval.Read(after.Annotations)
	by := rec.ApprovedBy(rec.ApprovedHash())
	msg := fmt.Sprintf("rollout %s/%s: revision %s approved; approvals: %s", ro.Namespace, ro.Name, approval.Short(rev), cmp.Or(strings.Join(by, ", "), "none"))
	if a := ro.Status.Approvals; a != nil {
		msg += fmt.Sprintf(" (%d of %d required by GatePolicy %s)", len(by), a.Required, a.Policy)
	}
	fmt.Fprintln(o.streams.Out, msg)
	if ro.Status.Diff != nil && ro.Status.Diff.Summary != "" {
		fmt.Fprintf(o.streams.Out, "what it changes: %s\n", ro.Status.Diff.Summary)
	}
	fmt.Fprintf(o.streams.Out, "follow with: %s --watch\n", hint(ro, "status"))
	return nil
}

func approvePolicy(ctx context.Context, o *globalOptions, name string) error {
	ns, err := o.namespace()
	if err != nil {
		return err
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	p := &fleetv1alpha1.GatePolicy{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, p); err != nil {
		return err
	}
	if p.Status.PendingChange == nil {
		fmt.Fprintf(o.streams.ErrOut, "note: GatePolicy %s has no change waiting for approval; the approval is recorded anyway\n", name)
	}
	after := &fleetv1alpha1.GatePolicy{}
	if err := o.requestApproval(ctx, p, after, approval.SpecHash(&p.Spec)); err != nil {
		return err
	}
	by := approval.Read(after.Annotations).ApprovedBy(approval.SpecHash(&p.Spec))
	fmt.Fprintf(o.streams.Out, "gatepolicy %s/%s: generation %d approved; approvals: %s\n", ns, name, p.Generation, cmp.Or(strings.Join(by, ", "), "none"))
	if c := p.Status.PendingChange; c != nil {
		fmt.Fprintf(o.streams.Out, "the change loosens: %s\n", strings.Join(c.Loosens, "; "))
	}
	return nil
}

// requestApproval asks the approvals webhook to record an approval of hash by the user
// Kubernetes authenticates, and reads the object back into after.
func (o *globalOptions) requestApproval(ctx context.Context, obj, after client.Object, hash string) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	// The resourceVersion makes the patch conditional: what is approved is the object as it
	// was read and shown, not a spec someone changed since.
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"resourceVersion": obj.GetResourceVersion(),
		"annotations":     map[string]string{fleetv1alpha1.AnnotationApprove: hash},
	}})
	if err := c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch)); apierrors.IsConflict(err) {
		return fmt.Errorf("%s %s changed since it was read: review it again and approve again", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName())
	} else if err != nil {
		return fmt.Errorf("approving: %w", err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(obj), after); err != nil {
		return err
	}
	if _, left := after.GetAnnotations()[fleetv1alpha1.AnnotationApprove]; left {
		// Nobody consumed the request: without the webhook, an approval cannot be trusted.
		undo := []byte(`{"metadata":{"annotations":{"` + fleetv1alpha1.AnnotationApprove + `":null}}}`)
		_ = c.Patch(ctx, after, client.RawPatch(types.MergePatchType, undo))
		return fmt.Errorf("no approvals webhook recorded the approval: is the Ampora manager's admission webhook installed (MutatingWebhookConfiguration ampora-approvals)?")
	}
	return nil
}
