//go:build !linux

package uitest

import "os/exec"

// setChildAttrs does nothing outside Linux, which has no parent-death
// signal: TestMain stops the server when the tests end.
func setChildAttrs(*exec.Cmd) {}
