//go:build !unix

package main

import "math"

// raiseOpenFilesLimit has nothing to raise here.
func raiseOpenFilesLimit() (uint64, error) { return math.MaxUint64, nil }
