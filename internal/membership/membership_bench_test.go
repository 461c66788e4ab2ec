package membership

import "testing"

// BenchmarkRank measures ranking one agent, which the sidecars do for every agent of a group
// at each new revision.
func BenchmarkRank(b *testing.B) {
	const (
		configHash  = "3f2a9c0d5be1e7a46c18d0f4b2a97e5c1d3b8f60a4e2c9d7b15f08e6a3c4d2b1"
		instanceUID = "0192a4f0-7c3e-7b1a-9f00-3d6c1e2a4b5c"
	)
	b.ReportAllocs()
	for b.Loop() {
		_ = Rank(configHash, instanceUID)
	}
}
