// Package webhooks holds the operator's admission webhook: it records who wrote each Rollout
// config and GatePolicy spec, and who approved it, from the user Kubernetes authenticated for
// the request, never from what the request carries.
package webhooks

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/approval"
	"github.com/ampora-io/ampora/internal/collectorconfig"
	"github.com/ampora-io/ampora/internal/revision"
)

// Path is where the webhook is served; config/webhook and the chart point at it.
const Path = "/approvals"

// +kubebuilder:webhook:path=/approvals,mutating=true,failurePolicy=fail,sideEffects=None,groups=fleet.ampora.io,resources=rollouts,verbs=create;update,versions=v1alpha1,name=rollouts.approvals.fleet.ampora.io,admissionReviewVersions=v1,timeoutSeconds=10
// +kubebuilder:webhook:path=/approvals,mutating=true,failurePolicy=fail,sideEffects=None,groups=fleet.ampora.io,resources=gatepolicies,verbs=create;update;delete,versions=v1alpha1,name=gatepolicies.approvals.fleet.ampora.io,admissionReviewVersions=v1,timeoutSeconds=10
// +kubebuilder:webhook:path=/approvals,mutating=true,failurePolicy=fail,sideEffects=None,groups=fleet.ampora.io,resources=agentgroups,verbs=create;update,versions=v1alpha1,name=agentgroups.approvals.fleet.ampora.io,admissionReviewVersions=v1,timeoutSeconds=10

// Approvals is the admission handler for Rollouts and GatePolicies.
type Approvals struct {
	// Reader reads ConfigMaps (a Rollout's config), AgentGroups, GatePolicies and Namespaces;
	// a live reader, so that an approval is checked against the objects as they are now.
	Reader client.Reader
	// Reviews creates SubjectAccessReviews: may an approver impersonate the author?
	Reviews client.Writer
	Clock   clock.Clock
	Decoder admission.Decoder
	// OperatorNamespace holds the operator's default GatePolicy.
	OperatorNamespace string
	// Key seals what the webhook records; a record it did not seal is not read.
	Key approval.Key
}

// New returns the handler for a scheme that knows Ampora's kinds.
func New(c client.Client, scheme *runtime.Scheme, clk clock.Clock, operatorNamespace string, key approval.Key) *Approvals {
	return &Approvals{Reader: c, Reviews: c, Clock: clk, Decoder: admission.NewDecoder(scheme), OperatorNamespace: operatorNamespace, Key: key}
}

// Handle records the author of a changed config or spec and the approver of an approval, or
// refuses an approval that the rules forbid.
func (a *Approvals) Handle(ctx context.Context, req admission.Request) admission.Response {
	switch req.Kind.Kind {
	case "Rollout":
		return a.rollout(ctx, req)
	case "GatePolicy":
		if req.Operation == admissionv1.Delete {
			return a.deletePolicy(ctx, req)
		}
		return a.policy(ctx, req)
	case "AgentGroup":
		return a.agentGroup(ctx, req)
	}
	return admission.Allowed("")
}

// agentGroup records who last changed a group's spec: its selector decides which agents a
// Rollout's approval covers, so its author may not approve a Rollout that the change moved.
// Nothing approves a group itself; an approve annotation on one is dropped.
func (a *Approvals) agentGroup(ctx context.Context, req admission.Request) admission.Response {
	g, old := &fleetv1alpha1.AgentGroup{}, &fleetv1alpha1.AgentGroup{}
	if err := a.decode(req, g, old); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	changed := req.Operation == admissionv1.Create || !equality.Semantic.DeepEqual(old.Spec, g.Spec)
	subject := approval.GroupSubject(g)
	rec, sealed := a.Key.ReadSealed(old.Annotations, approval.GroupSubject(old))
	return a.record(ctx, req, g.Annotations, rec, sealed, subject, approval.Change{
		User: req.UserInfo.Username, Groups: req.UserInfo.Groups, Changed: changed, Hash: subject.Spec,
		Kind: "AgentGroup", Name: g.Name, KeepAuthors: true,
	})
}

func (a *Approvals) rollout(ctx context.Context, req admission.Request) admission.Response {
	ro, old := &fleetv1alpha1.Rollout{}, &fleetv1alpha1.Rollout{}
	if err := a.decode(req, ro, old); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	// The approval covers the whole push decision: a change of any of it has a new author and
	// voids the approvals of what was there before.
	changed := req.Operation == admissionv1.Create || !equality.Semantic.DeepEqual(old.Spec.Config, ro.Spec.Config) ||
		!equality.Semantic.DeepEqual(approval.DecisionSpec(&old.Spec), approval.DecisionSpec(&ro.Spec))
	c := approval.Change{
		User: req.UserInfo.Username, Groups: req.UserInfo.Groups, Changed: changed,
		Ask: ro.Annotations[fleetv1alpha1.AnnotationApprove], Kind: "Rollout", Name: ro.Name,
	}
	rec, sealed := a.Key.ReadSealed(old.Annotations, approval.RolloutSubject(old))
	if !changed && c.Ask == "" {
		// Nothing to decide (a GitOps sync, the engine clearing an action): the record stays as
		// it is, without reading what the digest is made of.
		c.Hash = rec.ApprovedHash()
	} else if err := a.decision(ctx, ro, rec, &c); err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	if ref := ro.Spec.Config.ConfigMapRef; ref != nil && c.Ask != "" {
		if err := a.notConfigMapWriter(ctx, req, ro.Namespace, ref.Name, c); err != nil {
			return admission.Denied(err.Error())
		}
	}
	return a.record(ctx, req, ro.Annotations, rec, sealed, approval.RolloutSubject(ro), c, func(want map[string]string) {
		requestedBy(want, ro.Annotations, old.Annotations, req.UserInfo.Username)
	})
}

// notConfigMapWriter refuses an approval by a user who may change the ConfigMap that holds
// the config: the webhook does not see who edited it, so whoever may could have written what
// they approve.
func (a *Approvals) notConfigMapWriter(ctx context.Context, req admission.Request, ns, name string, c approval.Change) error {
	attr := func(verb, name string) authorizationv1.ResourceAttributes {
		return authorizationv1.ResourceAttributes{Namespace: ns, Verb: verb, Resource: "configmaps", Name: name}
	}
	// Each way to change it: in place, or deleted and created anew.
	for _, how := range []struct {
		what  string
		needs []authorizationv1.ResourceAttributes
	}{
		{"update", []authorizationv1.ResourceAttributes{attr("update", name)}},
		{"patch", []authorizationv1.ResourceAttributes{attr("patch", name)}},
		{"delete and create", []authorizationv1.ResourceAttributes{attr("delete", name), attr("create", "")}},
		{"delete and create", []authorizationv1.ResourceAttributes{attr("deletecollection", ""), attr("create", "")}},
	} {
		all := true
		for _, need := range how.needs {
			ok, err := a.may(ctx, req, need)
			if err != nil {
				return fmt.Errorf("cannot check whether %s may change ConfigMap %s: %w", c.User, name, err)
			}
			all = all && ok
		}
		if all {
			return fmt.Errorf("%s may %s ConfigMap %s, which holds revision %s of %s %s, and nothing records who last changed it: an approval must come from someone who could not have written it (keep the config inline in the Rollout, or approve as a user who may not change the ConfigMap)",
				c.User, how.what, name, approval.Short(c.Named()), c.Kind, c.Name)
		}
	}
	return nil
}

// may asks the API server whether the user of req may do attr (SubjectAccessReview, with the
// user's groups and extra as the API server authenticated them).
func (a *Approvals) may(ctx context.Context, req admission.Request, attr authorizationv1.ResourceAttributes) (bool, error) {
	extra := map[string]authorizationv1.ExtraValue{}
	for k, v := range req.UserInfo.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: req.UserInfo.Username, Groups: req.UserInfo.Groups, UID: req.UserInfo.UID, Extra: extra,
		ResourceAttributes: &attr,
	}}
	if err := a.Reviews.Create(ctx, sar); err != nil {
		return false, err
	}
	return sar.Status.Allowed, nil
}

// decision fills in what c decides about: the config's hash, the digest of the push decision,
// the rules of the policies that apply now and, for an approval, who moved the decision from
// outside the Rollout since its last approval (rec, the stored record) or creation.
func (a *Approvals) decision(ctx context.Context, ro *fleetv1alpha1.Rollout, rec approval.Record, c *approval.Change) error {
	hash, err := a.configHash(ctx, ro)
	if err != nil {
		return err
	}
	ps, err := approval.ReadPolicies(ctx, a.Reader, ro, a.OperatorNamespace)
	if err != nil {
		return err
	}
	g, err := a.group(ctx, ro)
	if err != nil {
		return err
	}
	c.Hash, c.Revision = approval.RolloutDigest(&ro.Spec, hash, ps, g), hash
	c.Requirements = approval.Requirements(ps.All(), g)
	if c.Ask != "" {
		c.Contributors = approval.Contributors(a.Key, approval.Since(ro, rec), g, ps)
	}
	return nil
}

// group is ro's AgentGroup as it is now, or nil when it does not exist.
func (a *Approvals) group(ctx context.Context, ro *fleetv1alpha1.Rollout) (*fleetv1alpha1.AgentGroup, error) {
	var g fleetv1alpha1.AgentGroup
	err := a.Reader.Get(ctx, client.ObjectKey{Namespace: ro.Namespace, Name: ro.Spec.AgentGroup}, &g)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &g, nil
}

// requestedBy records who asked for the action in the action annotation: the user the API
// server authenticated for the request that set or changed it, whatever the request says.
// Without an action, nobody asked; an unchanged action keeps who asked for it.
func requestedBy(want, annotations, oldAnnotations map[string]string, user string) {
	action, ok := annotations[fleetv1alpha1.AnnotationAction]
	switch {
	case !ok:
		delete(want, fleetv1alpha1.AnnotationActionRequestedBy)
	case oldAnnotations[fleetv1alpha1.AnnotationAction] != action || oldAnnotations[fleetv1alpha1.AnnotationActionRequestedBy] == "":
		want[fleetv1alpha1.AnnotationActionRequestedBy] = user
	default:
		want[fleetv1alpha1.AnnotationActionRequestedBy] = oldAnnotations[fleetv1alpha1.AnnotationActionRequestedBy]
	}
}

func (a *Approvals) policy(ctx context.Context, req admission.Request) admission.Response {
	p, old := &fleetv1alpha1.GatePolicy{}, &fleetv1alpha1.GatePolicy{}
	if err := a.decode(req, p, old); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	changed := req.Operation == admissionv1.Create || !equality.Semantic.DeepEqual(old.Spec, p.Spec)
	// A change is approved under the rule in force: the stored policy's.
	in := old
	if req.Operation == admissionv1.Create {
		in = p
	}
	subject := approval.PolicySubject(p)
	rec, sealed := a.Key.ReadSealed(old.Annotations, approval.PolicySubject(old))
	return a.record(ctx, req, p.Annotations, rec, sealed, subject, approval.Change{
		User: req.UserInfo.Username, Groups: req.UserInfo.Groups, Changed: changed, Hash: subject.Spec,
		Ask: p.Annotations[fleetv1alpha1.AnnotationApprove], Kind: "GatePolicy", Name: p.Name,
		Requirements: approval.PolicyRequirements(in),
		// Without approvals of its own, its authors count against each Rollout under it.
		KeepAuthors: in.InForce().RequiredApprovals == nil,
	})
}

// decode reads the request's object into obj and, on an update, the stored one into old.
func (a *Approvals) decode(req admission.Request, obj, old runtime.Object) error {
	if err := a.Decoder.DecodeRaw(req.Object, obj); err != nil {
		return err
	}
	if req.Operation == admissionv1.Update {
		return a.Decoder.DecodeRaw(req.OldObject, old)
	}
	return nil
}

// record decides and answers with a patch that sets the recorded annotations, sealed,
// whatever the request put there, and removes the approve request. old is the stored record
// as Key.ReadSealed read it, subject the object's after the request. A stored record the
// webhook did not seal (written while it was bypassed, or copied from another object) reads as
// empty, and nothing can be approved until a change of the spec records an author again.
func (a *Approvals) record(ctx context.Context, req admission.Request, annotations map[string]string, old approval.Record, sealed bool, subject approval.Subject, c approval.Change, fix ...func(want map[string]string)) admission.Response {
	c.Now = a.Clock.Now()
	if c.Ask != "" && !sealed && req.Operation == admissionv1.Update && !c.Changed {
		return admission.Denied(fmt.Sprintf("%s %s has no author recorded by the approvals webhook (it was created or changed while the webhook was bypassed, or its record was written by hand): change its spec to record one, then approve", c.Kind, c.Name))
	}
	if c.Ask != "" {
		// Neither the author nor whoever moved the decision from outside may have been the
		// approver under a ServiceAccount's name.
		writers := old.Authors()
		for _, w := range c.Contributors {
			if w.User != "" && !slices.Contains(writers, w.User) {
				writers = append(writers, w.User)
			}
		}
		for _, w := range writers {
			if err := a.notImpersonating(ctx, req, w, c); err != nil {
				return admission.Denied(err.Error())
			}
		}
	}
	rec, err := approval.Decide(old, c)
	if err != nil {
		return admission.Denied(err.Error())
	}
	want := make(map[string]string, len(annotations)+2)
	for k, v := range annotations {
		want[k] = v
	}
	delete(want, fleetv1alpha1.AnnotationApprove)
	want = a.Key.Seal(rec.Write(want), subject)
	for _, f := range fix {
		f(want)
	}
	if equality.Semantic.DeepEqual(want, annotations) || (len(want) == 0 && len(annotations) == 0) {
		return admission.Allowed("")
	}
	msg := ""
	if c.Ask != "" {
		msg = fmt.Sprintf("approval by %s recorded", c.User)
	}
	return admission.Patched(msg, jsonpatch.JsonPatchOperation{Operation: "add", Path: "/metadata/annotations", Value: want})
}

// notImpersonating refuses an approval by a user who could act as the author of what they
// approve: impersonate a user author; impersonate a ServiceAccount author, request or read a
// token of it, or run code as it in its namespace (a Pod or a workload that runs as it, exec,
// attach or an ephemeral container in one that does); Kubernetes' edit role may do all of
// these. They could have written the change themselves under its name.
func (a *Approvals) notImpersonating(ctx context.Context, req admission.Request, author string, c approval.Change) error {
	if author == "" || author == c.User {
		return nil
	}
	type way struct {
		what string
		attr authorizationv1.ResourceAttributes
	}
	// A user author: only impersonating them would have let the approver write as them.
	ways := []way{{"impersonate", authorizationv1.ResourceAttributes{Verb: "impersonate", Resource: "users", Name: author}}}
	kind := "user"
	if ns, name, ok := approval.ServiceAccount(author); ok {
		kind = "ServiceAccount"
		ways = []way{
			{"impersonate", authorizationv1.ResourceAttributes{Namespace: ns, Verb: "impersonate", Resource: "serviceaccounts", Name: name}},
			{"request a token for", authorizationv1.ResourceAttributes{Namespace: ns, Verb: "create", Resource: "serviceaccounts", Subresource: "token", Name: name}},
			{"read the token Secrets of", authorizationv1.ResourceAttributes{Namespace: ns, Verb: "get", Resource: "secrets"}},
			{"read the token Secrets of", authorizationv1.ResourceAttributes{Namespace: ns, Verb: "list", Resource: "secrets"}},
			{"read the token Secrets of", authorizationv1.ResourceAttributes{Namespace: ns, Verb: "watch", Resource: "secrets"}},
			{"run a Pod as", authorizationv1.ResourceAttributes{Namespace: ns, Verb: "create", Resource: "pods"}},
			// A Pod's image can be swapped in place: whoever may update one runs their code as it.
			{"change the image of a Pod running as", authorizationv1.ResourceAttributes{Namespace: ns, Verb: "update", Resource: "pods"}},
			{"change the image of a Pod running as", authorizationv1.ResourceAttributes{Namespace: ns, Verb: "patch", Resource: "pods"}},
			{"exec into a Pod running as", authorizationv1.ResourceAttributes{Namespace: ns, Verb: "create", Resource: "pods", Subresource: "exec"}},
			{"attach to a Pod running as", authorizationv1.ResourceAttributes{Namespace: ns, Verb: "create", Resource: "pods", Subresource: "attach"}},
			{"add a container to a Pod running as", authorizationv1.ResourceAttributes{Namespace: ns, Verb: "patch", Resource: "pods", Subresource: "ephemeralcontainers"}},
			{"add a container to a Pod running as", authorizationv1.ResourceAttributes{Namespace: ns, Verb: "update", Resource: "pods", Subresource: "ephemeralcontainers"}},
		}
		// A workload controller runs Pods as whatever account its template names.
		for _, w := range workloads {
			for _, verb := range []string{"create", "update", "patch"} {
				ways = append(ways, way{verb + " " + w.Resource + " that run as",
					authorizationv1.ResourceAttributes{Namespace: ns, Verb: verb, Group: w.Group, Resource: w.Resource}})
			}
		}
	}
	for _, how := range ways {
		ok, err := a.may(ctx, req, how.attr)
		if err != nil {
			return fmt.Errorf("cannot check whether %s may act as %s: %w", c.User, author, err)
		}
		if ok {
			return fmt.Errorf("%s may %s %s %s, who wrote (part of) revision %s of %s %s: an approval must come from someone who could not have written it",
				c.User, how.what, kind, author, approval.Short(c.Named()), c.Kind, c.Name)
		}
	}
	return nil
}

// workloads are the kinds whose controllers create Pods from a template, in a ServiceAccount's
// namespace: whoever may create or patch one may run a Pod as any account of that namespace.
var workloads = []schema.GroupResource{
	{Group: "apps", Resource: "deployments"}, {Group: "apps", Resource: "replicasets"},
	{Group: "apps", Resource: "statefulsets"}, {Group: "apps", Resource: "daemonsets"},
	{Group: "batch", Resource: "jobs"}, {Group: "batch", Resource: "cronjobs"},
	{Group: "", Resource: "replicationcontrollers"},
}

// deletePolicy refuses to delete a policy that requires approvals: removing it loosens every
// rollout it guards, so the requirement must first be removed by an approved change.
func (a *Approvals) deletePolicy(ctx context.Context, req admission.Request) admission.Response {
	p := &fleetv1alpha1.GatePolicy{}
	if err := a.Decoder.DecodeRaw(req.OldObject, p); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	var ns corev1.Namespace
	if err := a.Reader.Get(ctx, client.ObjectKey{Name: p.Namespace}, &ns); err == nil && ns.DeletionTimestamp != nil {
		return admission.Allowed("the namespace is being deleted")
	}
	if p.InForce().RequiredApprovals != nil {
		return admission.Denied(fmt.Sprintf("GatePolicy %s requires approvals: remove spec.requiredApprovals first (a change that another user must approve), then delete it", p.Name))
	}
	// A policy without approvals of its own still decides the push of the Rollouts that run
	// under it: deleting it moves their decision, and nothing would record who did.
	guarded, err := a.guardedBy(ctx, p)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	if len(guarded) > 0 {
		return admission.Denied(fmt.Sprintf("GatePolicy %s decides the push of %s, which need approvals: delete it once they are done, or change it (a recorded change)",
			p.Name, strings.Join(guarded, ", ")))
	}
	return admission.Allowed("")
}

// guardedBy lists (up to three of) the Rollouts that run under p, as their named policy or one
// they fall through to, that are not done and need approvals.
func (a *Approvals) guardedBy(ctx context.Context, p *fleetv1alpha1.GatePolicy) ([]string, error) {
	operatorDefault := p.Namespace == a.OperatorNamespace && p.Name == fleetv1alpha1.DefaultGatePolicyName
	var list fleetv1alpha1.RolloutList
	var opts []client.ListOption
	if !operatorDefault {
		opts = append(opts, client.InNamespace(p.Namespace))
	}
	if err := a.Reader.List(ctx, &list, opts...); err != nil {
		return nil, err
	}
	var out []string
	for i := range list.Items {
		ro := &list.Items[i]
		named := ro.Spec.GatePolicyRef != nil && ro.Spec.GatePolicyRef.Name == p.Name && ro.Namespace == p.Namespace
		under := operatorDefault || named || (p.Name == fleetv1alpha1.DefaultGatePolicyName && ro.Namespace == p.Namespace)
		if !under || ro.Status.Approvals == nil || ro.Status.Phase.Terminal() {
			continue
		}
		if out = append(out, "Rollout "+ro.Namespace+"/"+ro.Name); len(out) == 3 {
			break
		}
	}
	return out, nil
}

// configHash is the hash of the Rollout's config as the engine will compute it, or "" when its
// ConfigMap or key is missing (the engine then stalls and nothing can be approved).
func (a *Approvals) configHash(ctx context.Context, ro *fleetv1alpha1.Rollout) (string, error) {
	body, missing, err := revision.Source(ctx, a.Reader, ro.Namespace, ro.Spec.Config)
	if err != nil || missing != "" {
		return "", err
	}
	return collectorconfig.Hash(body), nil
}
