package main

import (
	"context"
	"flag"
	"fmt"
	"io"
)

// runOpAMP runs the OpAMP server. The server arrives with the sidecar work; until then the
// command parses its flags and waits for a signal.
func runOpAMP(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("opamp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Fprintln(stderr, "ampora opamp: started (no server yet)")
	<-ctx.Done()
	fmt.Fprintln(stderr, "ampora opamp: stopped")
	return nil
}
