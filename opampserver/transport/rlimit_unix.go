//go:build unix

package transport

import (
	"math"
	"syscall"
)

// openFilesLimit is the process's open-files limit, or 0 when it cannot be read.
func openFilesLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return int(min(rl.Cur, math.MaxInt32))
}
