package jaegerudp

import (
	"net"
	"syscall"
)

// setReadBuffer asks for a receive buffer of n bytes, past
// net.core.rmem_max when the process may (SO_RCVBUFFORCE), and returns what
// the kernel gave (Linux reports twice the usable size; half is returned).
func setReadBuffer(conn *net.UDPConn, n int) (int, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, err
	}
	var got int
	var serr error
	err = raw.Control(func(fd uintptr) {
		if syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, n) != nil {
			if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n); serr != nil {
				return
			}
		}
		v, gerr := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
		if gerr == nil {
			got = v / 2
		}
	})
	if err != nil {
		return 0, err
	}
	return got, serr
}
