package collectorconfig

import (
	"os"
	"testing"
	"time"
)

func TestZZInput(t *testing.T) {
	data, err := os.ReadFile(os.Getenv("ZZ_INPUT"))
	if err != nil {
		t.Skip()
	}
	start := time.Now()
	cfg, err := Parse(data)
	t.Logf("parse %v err=%v", time.Since(start), err)
	if err == nil {
		start = time.Now()
		err = cfg.Check()
		t.Logf("check %v err=%.200v", time.Since(start), err)
	}
}
