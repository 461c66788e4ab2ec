package collectorconfig

import (
	"crypto/sha256"
	"encoding/hex"
)

// Hash returns the lowercase hex SHA-256 of a config's bytes, the hash agents
// receive with it and report back once applied. It hashes the bytes, not the
// decoded config, because that is what the agent is given.
func Hash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
