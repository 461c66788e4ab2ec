package v1alpha1

import (
	"cmp"
	"maps"
	"slices"
)

// MaxVersions is how many versions status.versions (and each replica's entry) keeps: the
// list's MaxItems.
const MaxVersions = 50

// TopVersions lists the counted versions, most agents first (then by version), at most
// MaxVersions of them: what status.versions holds.
func TopVersions(counts map[string]int32) []VersionCount {
	return top(counts, MaxVersions, func(v string, n int32) VersionCount { return VersionCount{Version: v, Count: n} })
}

// TopDenials lists the push policies by the agents they deny, most first (then by name), at
// most MaxDeniedBy of them: what a replica's deniedBy holds.
func TopDenials(counts map[string]int32) []PolicyDenials {
	return top(counts, MaxDeniedBy, func(p string, n int32) PolicyDenials { return PolicyDenials{Policy: p, Count: n} })
}

// top lists counts by count, most first, then by key, at most limit of them; none is nil, as
// status omits it.
func top[T any](counts map[string]int32, limit int, item func(string, int32) T) []T {
	keys := slices.SortedFunc(maps.Keys(counts), func(a, b string) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b))
	})
	var out []T
	for _, k := range keys[:min(len(keys), limit)] {
		out = append(out, item(k, counts[k]))
	}
	return out
}
