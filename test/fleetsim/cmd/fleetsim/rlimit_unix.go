//go:build unix

package main

import "syscall"

// raiseOpenFilesLimit raises the soft limit of open files to the hard limit (each WebSocket
// agent holds a socket), and returns the limit.
func raiseOpenFilesLimit() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return 0, err
		}
	}
	return rl.Cur, nil
}
