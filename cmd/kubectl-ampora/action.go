package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/present"
)

// whoAmI names the user the API server sees, by a SelfSubjectReview; when that cannot be
// made, the kubeconfig's user name.
func (o *globalOptions) whoAmI(ctx context.Context) (string, error) {
	c, err := o.client()
	if err != nil {
		return "", err
	}
	review := &authenticationv1.SelfSubjectReview{}
	if err := c.Create(ctx, review); err == nil && review.Status.UserInfo.Username != "" {
		return review.Status.UserInfo.Username, nil
	}
	if o.flags.AuthInfoName != nil && *o.flags.AuthInfoName != "" {
		return *o.flags.AuthInfoName, nil
	}
	raw, err := o.flags.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return "", err
	}
	name := raw.CurrentContext
	if o.flags.Context != nil && *o.flags.Context != "" {
		name = *o.flags.Context
	}
	if kc, ok := raw.Contexts[name]; ok && kc.AuthInfo != "" {
		return kc.AuthInfo, nil
	}
	return "", fmt.Errorf("cannot tell who you are: the SelfSubjectReview failed and the kubeconfig context %q names no user", name)
}

// actionPatch is the merge patch that asks the engine for an action, naming who asked; for
// resume it also clears spec.paused when it is set.
func actionPatch(action fleetv1alpha1.RolloutAction, user string, unpause bool) []byte {
	patch := map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{
			fleetv1alpha1.AnnotationAction:            string(action),
			fleetv1alpha1.AnnotationActionRequestedBy: user,
		}},
	}
	if unpause {
		patch["spec"] = map[string]any{"paused": nil}
	}
	b, _ := json.Marshal(patch)
	return b
}

// actionNote warns when the rollout is not in a state the action changes; the engine records
// the request anyway.
func actionNote(ro *fleetv1alpha1.Rollout, action fleetv1alpha1.RolloutAction) string {
	st := &ro.Status
	switch action {
	case fleetv1alpha1.ActionResume:
		if st.Phase != fleetv1alpha1.RolloutPaused && !ro.Spec.Paused {
			return fmt.Sprintf("the rollout is %s, not paused: nothing to resume", present.Phase(st.Phase))
		}
	case fleetv1alpha1.ActionAbort:
		if !activePhase(st.Phase) {
			return fmt.Sprintf("the rollout is already %s: abort changes nothing", st.Phase)
		}
	case fleetv1alpha1.ActionRollback:
		if st.CurrentBatch == nil || st.Phase == fleetv1alpha1.RolloutRolledBack {
			return fmt.Sprintf("the rollout is %s: there is nothing to roll back", present.Phase(st.Phase))
		}
	case fleetv1alpha1.ActionRetry:
		if st.CurrentBatch == nil || !activePhase(st.Phase) {
			return fmt.Sprintf("the rollout is %s: there is no batch to retry", present.Phase(st.Phase))
		}
	}
	return ""
}

// waitHelp ends the help of the action commands.
const waitHelp = `

The command then waits, up to --wait, until the engine has carried the request out, and shows
the rollout's phase at that point.`

// defaultWait is how long the action commands wait for the engine to carry the request out.
const defaultWait = 30 * time.Second

func addWaitFlag(cmd *cobra.Command, wait *time.Duration) {
	cmd.Flags().DurationVar(wait, "wait", defaultWait, "wait this long for the engine to carry the request out; 0 returns at once")
}

// requestAction annotates the rollout with the action and who asks for it, says so, and waits
// for the engine to carry it out.
func requestAction(ctx context.Context, o *globalOptions, name string, action fleetv1alpha1.RolloutAction, wait time.Duration) error {
	ro, err := o.getRollout(ctx, name)
	if err != nil {
		return err
	}
	user, err := o.whoAmI(ctx)
	if err != nil {
		return err
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	unpause := action == fleetv1alpha1.ActionResume && ro.Spec.Paused
	note := actionNote(ro, action)
	prior := ro.Status.LastAction.DeepCopy()
	if err := c.Patch(ctx, ro, client.RawPatch(types.MergePatchType, actionPatch(action, user, unpause))); err != nil {
		return fmt.Errorf("asking for %s: %w", action, err)
	}
	msg := fmt.Sprintf("rollout %s/%s: %s requested by %s", ro.Namespace, ro.Name, action, user)
	if unpause {
		msg += " (spec.paused cleared)"
	}
	fmt.Fprintln(o.streams.Out, msg)
	if note != "" {
		fmt.Fprintln(o.streams.ErrOut, "note: "+note+"; the engine records the request")
	}
	if wait > 0 {
		done, err := waitFor(ctx, c, ro, wait, func(r *fleetv1alpha1.Rollout) bool { return handled(r, prior) })
		if err != nil {
			return err
		}
		if done == nil {
			fmt.Fprintf(o.streams.ErrOut, "warning: the engine has not carried the request out within %s; see why: %s\n", wait, hint(ro, "why"))
		} else {
			fmt.Fprintf(o.streams.Out, "handled at %s: the rollout is %s\n", clock(o.now(), done.Status.LastAction.HandledAt.Time), done.Status.Phase)
		}
	}
	fmt.Fprintf(o.streams.Out, "follow with: %s --watch\n", hint(ro, "status"))
	return nil
}

// handled says whether the engine carried out the action the rollout was annotated with: the
// annotation is gone and status.lastAction differs from what it was before.
func handled(ro *fleetv1alpha1.Rollout, prior *fleetv1alpha1.ActionRecord) bool {
	if ro.Annotations[fleetv1alpha1.AnnotationAction] != "" || ro.Status.LastAction == nil {
		return false
	}
	return prior == nil || !equality.Semantic.DeepEqual(*prior, *ro.Status.LastAction)
}

// waitFor reads the rollout every half second until done holds, and returns it then; nil when
// wait ran out first.
func waitFor(ctx context.Context, c client.Client, ro *fleetv1alpha1.Rollout, wait time.Duration, done func(*fleetv1alpha1.Rollout) bool) (*fleetv1alpha1.Rollout, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, nil
		case <-t.C:
		}
		var cur fleetv1alpha1.Rollout
		if err := c.Get(ctx, client.ObjectKeyFromObject(ro), &cur); err != nil {
			if ctx.Err() != nil {
				return nil, nil
			}
			return nil, err
		}
		if done(&cur) {
			return &cur, nil
		}
	}
}

// setPaused sets spec.paused, the user's own pause, and waits for the engine to see it.
func setPaused(ctx context.Context, o *globalOptions, name string, wait time.Duration) error {
	ro, err := o.getRollout(ctx, name)
	if err != nil {
		return err
	}
	if ro.Spec.Paused {
		fmt.Fprintf(o.streams.Out, "rollout %s/%s: already paused (spec.paused=true)\n", ro.Namespace, ro.Name)
		return nil
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	if err := c.Patch(ctx, ro, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"paused":true}}`))); err != nil {
		return fmt.Errorf("pausing: %w", err)
	}
	fmt.Fprintf(o.streams.Out, "rollout %s/%s: pause requested (spec.paused=true); no new batch starts and no further agent is offered the config\n",
		ro.Namespace, ro.Name)
	if wait > 0 {
		gen := ro.Generation
		done, err := waitFor(ctx, c, ro, wait, func(r *fleetv1alpha1.Rollout) bool { return r.Status.ObservedGeneration >= gen })
		if err != nil {
			return err
		}
		if done == nil {
			fmt.Fprintf(o.streams.ErrOut, "warning: the engine has not seen the pause within %s; see why: %s\n", wait, hint(ro, "why"))
		} else {
			fmt.Fprintf(o.streams.Out, "the engine saw it: the rollout is %s\n", done.Status.Phase)
		}
	}
	fmt.Fprintf(o.streams.Out, "resume with: %s\n", hint(ro, "resume"))
	return nil
}
