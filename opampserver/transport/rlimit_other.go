//go:build !unix

package transport

// openFilesLimit is unknown here: no default cap.
func openFilesLimit() int { return 0 }
