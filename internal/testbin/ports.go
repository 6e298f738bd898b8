package testbin

import (
	"errors"
	"fmt"
	"net"
	"testing"
)

// StartRetries is how often WithFreePorts and RetryPorts try a start whose
// picked port was taken meanwhile.
const StartRetries = 3

// ErrPortTaken is the error of a start when the process could not bind a
// port picked for it (another process took it meanwhile).
var ErrPortTaken = errors.New("a picked port was taken before the process bound it")

// Addrs returns n distinct loopback TCP addresses that were free a moment
// ago.
func Addrs(n int) ([]string, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	out := make([]string, n)
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("cannot find a free port: %w", err)
		}
		lns = append(lns, ln)
		out[i] = ln.Addr().String()
	}
	return out, nil
}

// UDPAddrs returns n distinct loopback UDP addresses that were free a
// moment ago.
func UDPAddrs(n int) ([]string, error) {
	var cs []net.PacketConn
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	out := make([]string, n)
	for i := range n {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("cannot find a free udp port: %w", err)
		}
		cs = append(cs, c)
		out[i] = c.LocalAddr().String()
	}
	return out, nil
}

// FreeAddrs is Addrs failing the test on error.
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	a, err := Addrs(n)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// FreeUDPAddrs is UDPAddrs failing the test on error.
func FreeUDPAddrs(t testing.TB, n int) []string {
	t.Helper()
	a, err := UDPAddrs(n)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// RetryPorts calls start with n loopback addresses that were free a moment
// ago, and again with new ones (up to StartRetries tries in all) when it
// fails with ErrPortTaken. logf, if not nil, is told of each retry.
func RetryPorts[T any](n int, logf func(format string, args ...any), start func(addrs []string) (T, error)) (T, error) {
	for attempt := 1; ; attempt++ {
		addrs, err := Addrs(n)
		if err != nil {
			var zero T
			return zero, err
		}
		v, err := start(addrs)
		if err == nil || attempt >= StartRetries || !errors.Is(err, ErrPortTaken) {
			return v, err
		}
		if logf != nil {
			logf("retrying start: %v", err)
		}
	}
}

// WithFreePorts is RetryPorts failing the test on error.
func WithFreePorts[T any](t testing.TB, n int, start func(addrs []string) (T, error)) T {
	t.Helper()
	v, err := RetryPorts(n, t.Logf, start)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
