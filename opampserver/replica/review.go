package replica

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

// reviewTimeout bounds the TokenReview and SubjectAccessReview of one read-API request.
const reviewTimeout = 10 * time.Second

// bearerToken is the request's bearer token; without one it answers 401 and returns false.
func bearerToken(w http.ResponseWriter, r *http.Request) (string, bool) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		http.Error(w, "a bearer token is required", http.StatusUnauthorized)
		return "", false
	}
	return token, true
}

// authorized checks the bearer token with TokenReview and the caller's right to get rollouts
// in the namespace with SubjectAccessReview.
func (rp *Replica) authorized(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearerToken(w, r)
		if !ok {
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), reviewTimeout)
		defer cancel()
		user, err := rp.reviewToken(ctx, token)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		// The whole user as the token reviewed: RBAC (or a webhook authorizer) may decide on
		// its extra, such as a bound token's Pod or credential ID.
		extra := make(map[string]authorizationv1.ExtraValue, len(user.Extra))
		for k, v := range user.Extra {
			extra[k] = authorizationv1.ExtraValue(v)
		}
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user.Username, Groups: user.Groups, UID: user.UID, Extra: extra,
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: r.PathValue("ns"), Verb: "get",
				Group: fleetv1alpha1.GroupVersion.Group, Resource: "rollouts",
			},
		}}
		if err := rp.opts.Client.Create(ctx, sar); err != nil {
			http.Error(w, "access review failed", http.StatusServiceUnavailable)
			return
		}
		if !sar.Status.Allowed {
			http.Error(w, "forbidden: cannot get rollouts in namespace "+r.PathValue("ns"), http.StatusForbidden)
			return
		}
		next(w, r)
	}
}

// reviewToken authenticates a bearer token: one bound to the read API's audience (the
// manager's, a peer's), else one for the API server's own audiences (a user's).
func (rp *Replica) reviewToken(ctx context.Context, token string) (authenticationv1.UserInfo, error) {
	user, err := rp.reviewFor(ctx, token, []string{rp.opts.ReadAPIAudience})
	if errors.Is(err, errNotAuthenticated) {
		return rp.reviewFor(ctx, token, nil)
	}
	return user, err
}

// errNotAuthenticated is a token the API server does not take for the audiences asked.
var errNotAuthenticated = errors.New("token not authenticated")

// reviewFor asks the API server who a bearer token belongs to (TokenReview), for one of
// audiences (nil: the API server's own).
func (rp *Replica) reviewFor(ctx context.Context, token string, audiences []string) (authenticationv1.UserInfo, error) {
	tr := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: audiences}}
	if err := rp.opts.Client.Create(ctx, tr); err != nil {
		return authenticationv1.UserInfo{}, fmt.Errorf("token review failed: %w", err)
	}
	if !tr.Status.Authenticated {
		return authenticationv1.UserInfo{}, errNotAuthenticated
	}
	for _, a := range audiences {
		if !slices.Contains(tr.Status.Audiences, a) {
			return authenticationv1.UserInfo{}, errNotAuthenticated
		}
	}
	return tr.Status.User, nil
}

// selfIdentity is the user this replica's own peer token reviews to, for the read API's
// audience, looked up once.
func (rp *Replica) selfIdentity(ctx context.Context) (string, error) {
	rp.selfMu.Lock()
	defer rp.selfMu.Unlock()
	if rp.self != "" {
		return rp.self, nil
	}
	token, err := rp.opts.PeerToken()
	if err != nil {
		return "", err
	}
	user, err := rp.reviewFor(ctx, token, []string{rp.opts.ReadAPIAudience})
	if err != nil {
		return "", fmt.Errorf("this replica's peer token (--peer-token-file) for the audience %s: %w", rp.opts.ReadAPIAudience, err)
	}
	rp.self = user.Username
	return rp.self, nil
}
