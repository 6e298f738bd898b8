package remote_test

import (
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/memory"
	"github.com/scrytrace/scry/storage/remote"
)

// listenSamePort listens on one port on each of ips, as the pods behind a
// headless Service do on their own addresses.
func listenSamePort(t *testing.T, ips ...string) (string, []net.Listener) {
	t.Helper()
	for range 20 {
		first, err := net.Listen("tcp", net.JoinHostPort(ips[0], "0"))
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		_, port, _ := net.SplitHostPort(first.Addr().String())
		lis := []net.Listener{first}
		for _, ip := range ips[1:] {
			l, err := net.Listen("tcp", net.JoinHostPort(ip, port))
			if err != nil {
				break
			}
			lis = append(lis, l)
		}
		if len(lis) == len(ips) {
			return port, lis
		}
		for _, l := range lis {
			_ = l.Close()
		}
	}
	t.Skipf("cannot find a port free on all of %v", ips)
	return "", nil
}

// podStores starts a server with its own store for each address, one service
// per store named after the address.
func podStores(t *testing.T, ips ...string) string {
	port, lis := listenSamePort(t, ips...)
	for i, l := range lis {
		s := testkit.Start(t, memory.New())
		write(t, s, span(byte(i+1), 1, "svc-"+ips[i], 0, 0))
		serveOn(t, s, l)
	}
	return port
}

func services(t *testing.T, c *remote.Client) ([]string, []string) {
	t.Helper()
	ctx, w := storage.WithWarnings(t.Context())
	svcs, err := c.Services(ctx)
	if err != nil {
		return nil, []string{err.Error()}
	}
	return svcs, w.List()
}

// A DNS name stands for every address it resolves to; re-resolution adds
// and removes addresses as the Service's pods come and go.
func TestHeadlessServiceMembership(t *testing.T) {
	port := podStores(t, "127.0.0.1", "127.0.0.2", "127.0.0.3")
	dns := &fakeDNS{}
	dns.set("collectors.scry.svc", "127.0.0.1", "127.0.0.2")
	c := newClient(t, []string{"collectors.scry.svc:" + port}, func(c *remote.Config) {
		c.ResolveInterval = 10 * time.Millisecond
		c.LookupHost = dns.LookupHost
	})
	addr := func(ip string) string { return net.JoinHostPort(ip, port) }

	if got, want := c.Backends(), []string{addr("127.0.0.1"), addr("127.0.0.2")}; !slices.Equal(got, want) {
		t.Fatalf("Backends after New: got %v, want %v", got, want)
	}
	svcs, warns := services(t, c)
	if want := []string{"svc-127.0.0.1", "svc-127.0.0.2"}; !slices.Equal(svcs, want) || len(warns) != 0 {
		t.Fatalf("Services: got %q, warnings %q; want %q from both pods", svcs, warns, want)
	}

	// A third pod becomes ready.
	dns.set("collectors.scry.svc", "127.0.0.3", "127.0.0.1", "127.0.0.2")
	testkit.Eventually(t, "the new pod to be asked", func() bool {
		svcs, warns := services(t, c)
		return len(svcs) == 3 && len(warns) == 0
	})
	if got := c.Backends(); len(got) != 3 {
		t.Errorf("Backends: got %v, want three", got)
	}

	// The first pod goes away.
	dns.set("collectors.scry.svc", "127.0.0.2", "127.0.0.3")
	testkit.Eventually(t, "the removed pod to be dropped", func() bool {
		return slices.Equal(c.Backends(), []string{addr("127.0.0.2"), addr("127.0.0.3")})
	})
	svcs, warns = services(t, c)
	if want := []string{"svc-127.0.0.2", "svc-127.0.0.3"}; !slices.Equal(svcs, want) || len(warns) != 0 {
		t.Errorf("Services: got %q, warnings %q; want %q", svcs, warns, want)
	}

	// A failing DNS server keeps the addresses the client has.
	dns.fail(errDNSDown)
	n := dns.count()
	testkit.Eventually(t, "two more lookups", func() bool { return dns.count() >= n+2 })
	if got := c.Backends(); len(got) != 2 {
		t.Errorf("Backends while DNS fails: got %v, want the two it had", got)
	}
	dns.fail(nil)

	// No ready pod: the name is gone, and calls fail saying so.
	dns.set("collectors.scry.svc")
	testkit.Eventually(t, "every address to be dropped", func() bool { return len(c.Backends()) == 0 })
	if _, err := c.Services(t.Context()); err == nil || !strings.Contains(err.Error(), "collectors.scry.svc") {
		t.Errorf("Services with no address: got %v, want an error naming the endpoint", err)
	}
}

// A name that resolves to no address yet counts as a failed endpoint; the
// other endpoints still answer.
func TestUnresolvedNameIsAFailedEndpoint(t *testing.T) {
	ss, srvs := stores(t, 1)
	write(t, ss[0], span(1, 1, "frontend", 0, 0))
	dns := &fakeDNS{}
	c := newClient(t, []string{srvs[0].addr, "collectors.scry.svc:17271"}, func(c *remote.Config) {
		c.ResolveInterval = time.Hour
		c.LookupHost = dns.LookupHost
	})
	svcs, warns := services(t, c)
	if !slices.Equal(svcs, []string{"frontend"}) || len(warns) != 1 || !strings.Contains(warns[0], "collectors.scry.svc:17271") {
		t.Errorf("Services: got %q, warnings %q; want [frontend] and a warning naming the unresolved endpoint", svcs, warns)
	}
	if _, err := c.GetTrace(t.Context(), tid(1), storage.TimeHint{}); err != nil {
		t.Errorf("GetTrace: %v", err)
	}
}

// A name with both IPv4 and IPv6 addresses (localhost, a dual-stack pod) is
// one backend per host: its IPv4 addresses are used.
func TestDualStackNameUsesIPv4(t *testing.T) {
	dns := &fakeDNS{}
	dns.set("localhost", "::1", "127.0.0.1")
	dns.set("v6only", "::1", "fe80::1", "::1")
	c := newClient(t, []string{"localhost:17271", "v6only:17271", "10.0.0.1:17271", "[::2]:17271"}, func(c *remote.Config) {
		c.LookupHost = dns.LookupHost
	})
	want := []string{"127.0.0.1:17271", "[::1]:17271", "[fe80::1]:17271", "10.0.0.1:17271", "[::2]:17271"}
	if got := c.Backends(); !slices.Equal(got, want) {
		t.Errorf("Backends: got %v, want %v", got, want)
	}
}

// The same address reached through two endpoints is asked once, so counts
// are not doubled.
func TestSameAddressTwice(t *testing.T) {
	ss, srvs := stores(t, 1)
	write(t, ss[0], span(1, 1, "frontend", 0, 0), span(1, 2, "checkout", 1, 1))
	_, port, _ := net.SplitHostPort(srvs[0].addr)
	dns := &fakeDNS{}
	dns.set("collector", "127.0.0.1")
	c := newClient(t, []string{srvs[0].addr, "collector:" + port, srvs[0].addr}, func(c *remote.Config) {
		c.LookupHost = dns.LookupHost
	})
	deps, err := c.Dependencies(t.Context(), base, base+uint64(time.Hour))
	if err != nil {
		t.Fatalf("Dependencies: %v", err)
	}
	if want := []storage.DependencyLink{{Parent: "frontend", Child: "checkout", CallCount: 1}}; !slices.Equal(deps, want) {
		t.Errorf("Dependencies: got %v, want %v", deps, want)
	}
}
