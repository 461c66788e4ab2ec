package controllers

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/readapi"
)

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		n    int
		want string
	}{
		{"short", "abc", 5, "abc"},
		{"exact", "abcde", 5, "abcde"},
		{"cut", "abcdef", 5, "ab..."},
		{"characters not bytes", strings.Repeat("é", 5), 5, strings.Repeat("é", 5)},
		{"never splits a character", strings.Repeat("é", 6), 5, "éé..."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := truncate(tc.in, tc.n)
			if got != tc.want || !utf8.ValidString(got) || utf8.RuneCountInString(got) > tc.n {
				t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
		})
	}
}

func TestBoundedDiff(t *testing.T) {
	long := "receivers/otlp/" + strings.Repeat("n", 1024)
	many := make([]string, 60)
	for i := range many {
		many[i] = "receivers/r" + strings.Repeat("x", i)
	}
	for _, tc := range []struct {
		name          string
		in            []string
		wantLen       int
		wantTruncated bool
	}{
		{"none", nil, 0, false},
		{"fits", []string{"receivers/otlp", "pipelines/traces"}, 2, false},
		{"a long component name", []string{"receivers/otlp", long}, 2, true},
		{"too many", many, maxDiffEntries, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, truncated := bounded(tc.in, false)
			if len(got) != tc.wantLen || truncated != tc.wantTruncated {
				t.Fatalf("bounded: %d entries, truncated %v; want %d, %v", len(got), truncated, tc.wantLen, tc.wantTruncated)
			}
			for _, e := range got {
				if utf8.RuneCountInString(e) > maxDiffEntryLen {
					t.Errorf("entry of %d characters, the CRD takes %d", utf8.RuneCountInString(e), maxDiffEntryLen)
				}
			}
		})
	}
}

func TestBoundApprovals(t *testing.T) {
	sa := "system:serviceaccount:" + strings.Repeat("n", 63) + ":" + strings.Repeat("s", 253)
	oidc := "https://issuer.example/#" + strings.Repeat("u", 600)
	var many []string
	for i := 0; i < 12; i++ {
		many = append(many, string(rune('a'+i)))
	}
	for _, tc := range []struct {
		name string
		in   fleetv1alpha1.ApprovalStatus
		want fleetv1alpha1.ApprovalStatus
	}{
		{"short names stay", fleetv1alpha1.ApprovalStatus{Author: "alice", ApprovedBy: []string{"bob", sa}},
			fleetv1alpha1.ApprovalStatus{Author: "alice", ApprovedBy: []string{"bob", sa}}},
		{"a long author is cut", fleetv1alpha1.ApprovalStatus{Author: oidc},
			fleetv1alpha1.ApprovalStatus{Author: oidc[:maxUserLen-3] + "..."}},
		{"a long approver is cut", fleetv1alpha1.ApprovalStatus{ApprovedBy: []string{oidc}},
			fleetv1alpha1.ApprovalStatus{ApprovedBy: []string{oidc[:maxUserLen-3] + "..."}}},
		{"at most ten approvers", fleetv1alpha1.ApprovalStatus{ApprovedBy: many},
			fleetv1alpha1.ApprovalStatus{ApprovedBy: many[:maxApprovers]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.in
			boundApprovals(&got)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("boundApprovals = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRequestedByFitsLastAction(t *testing.T) {
	// A ServiceAccount of a namespace editor's making: the webhook records its name as asked.
	sa := "system:serviceaccount:" + strings.Repeat("n", 63) + ":" + strings.Repeat("s", 253)
	if got := utf8.RuneCountInString(truncate(sa, maxRequestedByLen)); got > maxRequestedByLen {
		t.Errorf("requestedBy of %d characters, the CRD takes %d", got, maxRequestedByLen)
	}
}
func TestStaleEntries(t *testing.T) {
	names := func(prefix string, n int) []string {
		var out []string
		for i := 0; i < n; i++ {
			out = append(out, prefix+string(rune('A'+i%26))+string(rune('a'+i/26)))
		}
		return out
	}
	full := append(names("dead-", replicaPruneAt-1), "live-0")
	for _, tc := range []struct {
		name     string
		replicas []string
		live     map[string]readapi.Replica
		want     []int
	}{
		{"few entries are left alone", []string{"dead", "live-0"}, liveReplicas("live-0"), nil},
		{"nearly full: dead ones go, highest index first", full, liveReplicas("live-0"), func() []int {
			var out []int
			for i := replicaPruneAt - 2; i >= 0; i-- {
				out = append(out, i)
			}
			return out
		}()},
		{"nearly full of live ones: nothing goes", names("live-", replicaPruneAt), liveReplicas(names("live-", replicaPruneAt)...), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := staleEntries(tc.replicas, tc.live); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("staleEntries = %v, want %v", got, tc.want)
			}
		})
	}
}
