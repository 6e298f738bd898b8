//go:build unix

package spool

import (
	"os"
	"syscall"
)

// lockDir takes an exclusive lock on the file at path (created if missing)
// for as long as the process holds it; a second process fails at once.
func lockDir(path string) (func() error, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f.Close, nil
}
