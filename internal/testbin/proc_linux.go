package testbin

import (
	"os/exec"
	"syscall"
)

// SetChildAttrs makes the kernel kill cmd if the test process dies
// (a timeout panic, say), so no server outlives its test.
func SetChildAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
