package v1alpha1

import (
	"cmp"
	"slices"
)

// MaxVersions is how many versions status.versions (and each replica's entry) keeps: the
// list's MaxItems.
const MaxVersions = 50

// TopVersions lists the counted versions, most agents first (then by version), at most
// MaxVersions of them: what status.versions holds.
func TopVersions(counts map[string]int32) []VersionCount {
	var out []VersionCount // none stays nil, as status omits it
	for v, n := range counts {
		out = append(out, VersionCount{Version: v, Count: n})
	}
	slices.SortFunc(out, func(a, b VersionCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Version, b.Version))
	})
	if len(out) > MaxVersions {
		out = out[:MaxVersions]
	}
	return out
}
