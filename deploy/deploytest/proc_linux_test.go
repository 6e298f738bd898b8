package deploytest

import (
	"os/exec"
	"syscall"
)

// setChildAttrs makes the kernel kill the child if the test process dies
// (a timeout panic, say), so no server outlives its test.
func setChildAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
