//go:build !linux

package jaegerudp

import "net"

// setReadBuffer asks for a receive buffer of n bytes; what the kernel gave
// is not known here (0).
func setReadBuffer(conn *net.UDPConn, n int) (int, error) {
	return 0, conn.SetReadBuffer(n)
}
