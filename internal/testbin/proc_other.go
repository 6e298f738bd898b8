//go:build !linux

package testbin

import "os/exec"

// SetChildAttrs does nothing outside Linux, which has no parent-death
// signal: the tests stop every child they start.
func SetChildAttrs(*exec.Cmd) {}
