package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// clockTicksPerSecond is USER_HZ, the unit of utime and stime in /proc/<pid>/stat. Linux
// exposes it as 100 on every architecture, whatever the kernel's own tick rate.
const clockTicksPerSecond = 100

// parseVmRSS reads the VmRSS line of /proc/<pid>/status, in bytes.
func parseVmRSS(status string) (uint64, error) {
	return parseKBLine(status, "VmRSS:")
}

// parseMemTotal reads the MemTotal line of /proc/meminfo, in bytes.
func parseMemTotal(meminfo string) (uint64, error) {
	return parseKBLine(meminfo, "MemTotal:")
}

// parseKBLine finds the line that starts with key and reads its value, given in kB.
func parseKBLine(text, key string) (uint64, error) {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), key)
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%s %q: want a number of kB", key, strings.TrimSpace(rest))
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s %q: %w", key, f[0], err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("no %s line", key)
}

// parseCPUTicks reads utime + stime, in clock ticks, from /proc/<pid>/stat. The second
// field, the command name, is in parentheses and may hold spaces and parentheses itself, so
// the fields are counted from the last ')'.
func parseCPUTicks(stat string) (uint64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("no command name in %q", stat)
	}
	// After ")": field 3 (state) onwards; utime is field 14, stime field 15.
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 13", len(f))
	}
	utime, err := strconv.ParseUint(f[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("utime %q: %w", f[11], err)
	}
	stime, err := strconv.ParseUint(f[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stime %q: %w", f[12], err)
	}
	return utime + stime, nil
}

// parseParent reads the parent's pid and the process group from /proc/<pid>/stat (fields 4
// and 5).
func parseParent(stat string) (ppid, pgrp int, err error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("no command name in %q", stat)
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 3 {
		return 0, 0, fmt.Errorf("%d fields after the command name, want at least 3", len(f))
	}
	if ppid, err = strconv.Atoi(f[1]); err != nil {
		return 0, 0, err
	}
	pgrp, err = strconv.Atoi(f[2])
	return ppid, pgrp, err
}

// killChildrenNow sends SIGKILL to every process whose parent is this one (the operator's
// processes, the fleet, and the control plane that envtest started in process groups of
// their own), and to the group of each that leads one.
func killChildrenNow() {
	self := os.Getpid()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		ppid, pgrp, err := parseParent(string(b))
		if err != nil || ppid != self {
			continue
		}
		if pgrp == pid {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// readRSS is the resident set size of process pid, in bytes.
func readRSS(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseVmRSS(string(b))
}

// readCPUSeconds is the CPU time process pid has used so far, user and system.
func readCPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	t, err := parseCPUTicks(string(b))
	return float64(t) / clockTicksPerSecond, err
}

// memTotal is the machine's memory in bytes, 0 when /proc/meminfo cannot be read.
func memTotal() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	n, _ := parseMemTotal(string(b))
	return n
}

// raiseOpenFilesLimit raises the soft limit on open files to the hard limit, which the
// processes started afterwards inherit, and returns the new limit.
func raiseOpenFilesLimit() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return l.Cur, err
		}
	}
	return l.Cur, nil
}
