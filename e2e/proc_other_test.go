//go:build !linux

package e2e

import "os/exec"

// setChildAttrs does nothing outside Linux, which has no parent-death
// signal: Cleanup stops every child the tests start.
func setChildAttrs(*exec.Cmd) {}
