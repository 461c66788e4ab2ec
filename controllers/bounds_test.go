package controllers

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
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
	stamps := func(prefix string, n int, at time.Time) []entryStamp {
		var out []entryStamp
		for i := 0; i < n; i++ {
			out = append(out, entryStamp{fmt.Sprintf("%s%02d", prefix, i), at})
		}
		return out
	}
	fresh, old := t0.Add(-10*time.Second), t0.Add(-2*time.Minute)
	full := append(stamps("dead-", replicaPruneAt-1, fresh), entryStamp{"live-0", old})
	indexes := func(hi, lo int) []int {
		var out []int
		for i := hi; i >= lo; i-- {
			out = append(out, i)
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		entries []entryStamp
		live    map[string]readapi.Replica
		want    []int
	}{
		{"a dead replica's entry within the timeout stays: it may be restarting", []entryStamp{{"dead", fresh}, {"live-0", fresh}}, liveReplicas("live-0"), nil},
		{"a dead replica's entry past the timeout goes", []entryStamp{{"dead", old}, {"live-0", fresh}}, liveReplicas("live-0"), []int{0}},
		{"a live replica's entry stays however old", []entryStamp{{"live-0", old}}, liveReplicas("live-0"), nil},
		{"nearly full: every dead one goes, highest index first", full, liveReplicas("live-0"), indexes(replicaPruneAt-2, 0)},
		{"nearly full of live ones: nothing goes", stamps("live-", replicaPruneAt, old), liveReplicas(func() []string {
			var n []string
			for _, e := range stamps("live-", replicaPruneAt, old) {
				n = append(n, e.replica)
			}
			return n
		}()...), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := staleEntries(tc.entries, tc.live, t0, time.Minute); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("staleEntries = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSilentReplicas(t *testing.T) {
	live := map[string]readapi.Replica{
		"a": {Name: "a", Acquired: t0.Add(-time.Hour)},
		"b": {Name: "b", Acquired: t0.Add(-time.Hour)},
		"c": {Name: "c", Acquired: t0.Add(-10 * time.Second)},
		"d": {Name: "d", Acquired: t0.Add(-5 * time.Minute)},
	}
	entries := []entryStamp{
		{"a", t0.Add(-5 * time.Second)},  // reports
		{"b", t0.Add(-90 * time.Second)}, // silent for 90 s
		{"gone", t0.Add(-time.Hour)},     // no Lease: dead, not silent
	}
	// c has no entry yet but took its Lease 10 s ago; d took it 5 min ago and never wrote.
	got := silentReplicas(entries, live, time.Time{}, t0, time.Minute)
	want := []silence{{"b", t0.Add(-90 * time.Second).UTC()}, {"d", t0.Add(-5 * time.Minute).UTC()}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("silentReplicas = %+v, want %+v", got, want)
	}
	msg := silenceMessage(got)
	if !strings.Contains(msg, "replica b has not reported since "+t0.Add(-90*time.Second).UTC().Format(time.RFC3339)) ||
		!strings.Contains(msg, "replica d has not reported since") {
		t.Errorf("message %q", msg)
	}
	if msg != silenceMessage(silentReplicas(entries, live, time.Time{}, t0.Add(7*time.Second), time.Minute)) {
		t.Error("the message changed with the clock: every pass would write it")
	}
	// A replica owes no entry before the object is one the sidecars report on (a batch that
	// started 10 s ago), however long it has held its Lease.
	if got := silentReplicas(entries, live, t0.Add(-10*time.Second), t0, time.Minute); len(got) != 1 || got[0].replica != "b" {
		t.Errorf("with the batch started 10 s ago: %+v, want only b", got)
	}
	var many []silence
	for i := range 5 {
		many = append(many, silence{fmt.Sprint(i), t0})
	}
	if m := silenceMessage(many); !strings.HasSuffix(m, ", 2 more") {
		t.Errorf("five silent replicas: %q", m)
	}
}
