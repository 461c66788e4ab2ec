//go:build !unix

package opampserver

// openFilesLimit is unknown here: no default cap.
func openFilesLimit() int { return 0 }
