package main

import (
	"context"
	"flag"
	"fmt"
	"io"
)

// runManager runs the rollout engine. The controllers arrive with the engine work; until then
// the command parses its flags and waits for a signal, so the Pod shape can already be tested.
func runManager(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Fprintln(stderr, "ampora manager: started (no controllers yet)")
	<-ctx.Done()
	fmt.Fprintln(stderr, "ampora manager: stopped")
	return nil
}
