package main

import (
	"os"
	"strings"
	"testing"
)

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tampora\nUmask:\t0022\nVmPeak:\t 1300000 kB\nVmRSS:\t   43696 kB\nRssAnon:\t   20000 kB\n"
	got, err := parseVmRSS(status)
	if err != nil || got != 43696*1024 {
		t.Fatalf("parseVmRSS = %d, %v; want %d", got, err, 43696*1024)
	}
	for _, bad := range []string{"Name:\tx\n", "VmRSS:\t12 MB\n", "VmRSS:\tlots kB\n"} {
		if _, err := parseVmRSS(bad); err == nil {
			t.Errorf("parseVmRSS(%q): want an error", bad)
		}
	}
}

func TestParseMemTotal(t *testing.T) {
	got, err := parseMemTotal("MemTotal:       24684084 kB\nMemFree:        1000 kB\n")
	if err != nil || got != 24684084*1024 {
		t.Fatalf("parseMemTotal = %d, %v", got, err)
	}
}

func TestParseCPUTicks(t *testing.T) {
	// The command name may hold spaces and parentheses; utime (14) and stime (15) count from
	// the last ')'.
	stat := "4242 (amp ora) (x)) S 1 4242 4242 0 -1 4194560 5000 0 0 0 1234 567 0 0 20 0 12 0 100 1000000 10000 18446744073709551615"
	got, err := parseCPUTicks(stat)
	if err != nil || got != 1234+567 {
		t.Fatalf("parseCPUTicks = %d, %v; want %d", got, err, 1234+567)
	}
	for _, bad := range []string{"4242 ampora S 1", "4242 (ampora) S 1 2 3", "4242 (a) S 1 2 3 4 5 6 7 8 9 10 x 0"} {
		if _, err := parseCPUTicks(bad); err == nil {
			t.Errorf("parseCPUTicks(%q): want an error", bad)
		}
	}
}

func TestParseParent(t *testing.T) {
	ppid, pgrp, err := parseParent("4242 (amp (ora)) S 17 4242 4242 0 -1")
	if err != nil || ppid != 17 || pgrp != 4242 {
		t.Fatalf("parseParent = %d, %d, %v", ppid, pgrp, err)
	}
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	if ppid, _, err := parseParent(string(b)); err != nil || ppid != os.Getppid() {
		t.Errorf("own parent = %d, %v; want %d", ppid, err, os.Getppid())
	}
}

func TestReadOwnProcess(t *testing.T) {
	rss, err := readRSS(os.Getpid())
	if err != nil || rss == 0 {
		t.Fatalf("readRSS(self) = %d, %v", rss, err)
	}
	if _, err := readCPUSeconds(os.Getpid()); err != nil {
		t.Fatalf("readCPUSeconds(self): %v", err)
	}
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), ")") {
		t.Fatalf("unexpected /proc/self/stat: %q", b)
	}
	if memTotal() == 0 {
		t.Error("memTotal() = 0")
	}
}
