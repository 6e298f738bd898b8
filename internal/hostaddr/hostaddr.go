// Package hostaddr turns a "host:port" whose host is a DNS name into the
// ip:port addresses to connect to, and diffs those against the connections
// a caller has. The agent (collectors) and scry-query (storage endpoints)
// share it.
package hostaddr

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"time"
)

// Lookup resolves host with lookupHost, within timeout, and returns the
// addresses to connect to (see PickAddrs). keep is true when the lookup
// failed for another reason than the name not existing (NXDOMAIN, as for a
// headless Service with no ready pod): the caller then keeps the addresses
// it has. err is the lookup's error, also when the name does not exist.
func Lookup(ctx context.Context, timeout time.Duration, lookupHost func(context.Context, string) ([]string, error), host, port string) (want []string, keep bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	found, err := lookupHost(ctx, host)
	var dnsErr *net.DNSError
	if err != nil && !(errors.As(err, &dnsErr) && dnsErr.IsNotFound) {
		return nil, true, err
	}
	return PickAddrs(found, port), false, err
}

// PickAddrs turns resolved IP addresses into sorted, distinct ip:port
// addresses: the IPv4 ones if there are any, else the IPv6 ones, so that a
// dual-stack host (localhost, a dual-stack pod) is one address, not two.
// IPv4-mapped IPv6 addresses count as IPv4; strings that are not IP
// addresses are skipped.
func PickAddrs(ips []string, port string) []string {
	var v4, v6 []string
	for _, s := range ips {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			continue
		}
		ip = ip.Unmap()
		if ip.Is4() {
			v4 = append(v4, net.JoinHostPort(ip.String(), port))
		} else {
			v6 = append(v6, net.JoinHostPort(ip.String(), port))
		}
	}
	out := v4
	if len(out) == 0 {
		out = v6
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Diff splits cur, whose addresses addr returns, into those whose address is
// in want (keep) and the others (gone), both in cur's order, and returns the
// addresses of want that no element of keep has (add), in want's order.
func Diff[T any](cur []T, addr func(T) string, want []string) (keep, gone []T, add []string) {
	for _, c := range cur {
		if slices.Contains(want, addr(c)) {
			keep = append(keep, c)
		} else {
			gone = append(gone, c)
		}
	}
	for _, a := range want {
		if !slices.ContainsFunc(keep, func(c T) bool { return addr(c) == a }) {
			add = append(add, a)
		}
	}
	return keep, gone, add
}
