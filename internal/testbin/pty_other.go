//go:build !linux

package testbin

import (
	"errors"
	"os"
)

// OpenPTY opens a pseudo-terminal on Linux only; elsewhere it returns
// errors.ErrUnsupported.
func OpenPTY() (ptm, tty *os.File, err error) {
	return nil, nil, errors.ErrUnsupported
}
