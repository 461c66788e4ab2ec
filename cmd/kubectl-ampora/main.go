// Command kubectl-ampora is the kubectl plugin for Ampora rollouts (kubectl ampora ...).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "kubectl ampora: no commands yet")
	os.Exit(2)
}
