// Package membership decides which agents belong to which batch, the same way on every
// replica and in every new leader: agents are ordered by a rank, a hash of the rollout's
// config hash and the agent's instance UID, and a batch holds the agents whose rank lies in
// (fromRank, toRank]. Ranks are fixed-width lowercase hex, so they compare as strings.
package membership

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// RankLen is the length of a rank: 16 hex digits, 64 bits.
const RankLen = 16

// Rank is the position of one agent in a revision's order. A new revision (a new config hash)
// shuffles the order, so the same agents are not always first.
func Rank(configHash, instanceUID string) string {
	h := sha256.New()
	h.Write([]byte(configHash))
	h.Write([]byte{0})
	h.Write([]byte(instanceUID))
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:8])
}

// RankValue parses a rank into its 64-bit value.
func RankValue(rank string) (uint64, error) {
	if len(rank) != RankLen {
		return 0, fmt.Errorf("rank %q: want %d hex digits", rank, RankLen)
	}
	b, err := hex.DecodeString(rank)
	if err != nil {
		return 0, fmt.Errorf("rank %q: %w", rank, err)
	}
	return binary.BigEndian.Uint64(b), nil
}

// InBatch says whether a rank falls in the batch (fromRank, toRank]. An empty fromRank is
// below every rank; an empty toRank admits nobody.
func InBatch(rank, fromRank, toRank string) bool {
	return toRank != "" && rank > fromRank && rank <= toRank
}

// Admitted says whether a rank is admitted to the rollout: at or below the cutoff of the
// current batch, so in this batch or an earlier one.
func Admitted(rank, toRank string) bool {
	return toRank != "" && rank <= toRank
}
