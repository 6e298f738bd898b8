package agent

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/encoding/gzip" // lets collectors answer compressed

	"github.com/scrytrace/scry/internal/hostaddr"
	"github.com/scrytrace/scry/internal/telemetry"
)

// maxRetryInfo caps a delay a collector asks for in RetryInfo.
const maxRetryInfo = time.Minute

// resolveTimeout bounds one DNS lookup.
const resolveTimeout = 5 * time.Second

// target is one collector address with its connection and health.
type target struct {
	addr   string // ip:port, or the spec as given when it is an IP
	conn   *grpc.ClientConn
	client coltracepb.TraceServiceClient

	// Guarded by endpoints.mu.
	failures int
	retryAt  time.Time // not tried before then; zero when healthy
}

// hostSpec is one entry of Config.Collectors.
type hostSpec struct {
	spec, host, port string
	fixed            bool // an IP address: never resolved
	targets          []*target
}

// endpoints keeps the collector addresses, picks one per export (round
// robin over the healthy ones) and backs off from failing ones. Safe for
// concurrent use.
type endpoints struct {
	cfg    Config
	logger *slog.Logger
	clock  telemetry.Clock

	mu     sync.Mutex
	specs  []*hostSpec
	all    []*target // every target of every spec
	next   int       // round robin position in all
	closed bool
}

func newEndpoints(cfg Config, tel telemetry.Settings) (*endpoints, error) {
	if cfg.LookupHost == nil {
		cfg.LookupHost = net.DefaultResolver.LookupHost
	}
	tel = tel.Complete()
	e := &endpoints{cfg: cfg, logger: tel.Logger, clock: tel.Clock}
	for _, spec := range cfg.Collectors {
		host, port, _ := net.SplitHostPort(spec) // checked by Validate
		hs := &hostSpec{spec: spec, host: host, port: port}
		if ip, err := netip.ParseAddr(host); err == nil {
			hs.fixed = true
			t, err := e.dial(hs, net.JoinHostPort(ip.String(), port))
			if err != nil {
				e.close()
				return nil, err
			}
			hs.targets = []*target{t}
		}
		e.specs = append(e.specs, hs)
	}
	e.rebuild()
	return e, nil
}

// dial sets up the connection to addr, one of hs's addresses. Its
// authority is hs's host name, so that TLS checks the collector's
// certificate for the name it was given, not for the address it resolved
// to.
func (e *endpoints) dial(hs *hostSpec, addr string) (*target, error) {
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			// Reconnect to a collector that is back within the agent's own
			// backoff, not gRPC's default of up to two minutes.
			Backoff:           backoff.Config{BaseDelay: e.cfg.RetryInitialBackoff, Multiplier: 1.6, Jitter: 0.2, MaxDelay: e.cfg.RetryMaxBackoff},
			MinConnectTimeout: min(5*time.Second, e.cfg.ExportTimeout),
		}),
	}
	if !hs.fixed {
		opts = append(opts, grpc.WithAuthority(net.JoinHostPort(hs.host, hs.port)))
	}
	opts = append(opts, e.cfg.DialOptions...)
	conn, err := grpc.NewClient("passthrough:///"+addr, opts...) // resolved already
	if err != nil {
		return nil, fmt.Errorf("cannot set up a connection to collector %s: %w", addr, err)
	}
	return &target{addr: addr, conn: conn, client: coltracepb.NewTraceServiceClient(conn)}, nil
}

// rebuild lists every target in a stable order. e.mu is held (or the
// endpoints are not shared yet).
func (e *endpoints) rebuild() {
	e.all = e.all[:0]
	for _, hs := range e.specs {
		e.all = append(e.all, hs.targets...)
	}
	if len(e.all) > 0 {
		e.next %= len(e.all)
	}
}

// pick returns the target for the next export and how long to wait before
// using it: the next healthy target in round robin order, else the failing
// one that may be tried soonest. With no address at all it returns nil and
// a wait.
func (e *endpoints) pick(now time.Time) (*target, time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := len(e.all)
	if n == 0 {
		return nil, e.cfg.RetryMaxBackoff
	}
	var soonest *target
	for i := range n {
		t := e.all[(e.next+i)%n]
		if !t.retryAt.After(now) {
			e.next = (e.next + i + 1) % n
			return t, 0
		}
		if soonest == nil || t.retryAt.Before(soonest.retryAt) {
			soonest = t
		}
	}
	return soonest, soonest.retryAt.Sub(now)
}

// failed records a failed export to t. hint is a delay the collector asked
// for (0 if none). Failures of exports that were in flight together count
// once.
func (e *endpoints) failed(t *target, hint time.Duration, err error) {
	now := e.clock.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if t.retryAt.After(now) {
		if hint > 0 && now.Add(min(hint, maxRetryInfo)).After(t.retryAt) {
			t.retryAt = now.Add(min(hint, maxRetryInfo))
		}
		return
	}
	t.failures++
	d := backoffDelay(e.cfg.RetryInitialBackoff, e.cfg.RetryMaxBackoff, t.failures)
	if hint > d {
		d = min(hint, maxRetryInfo)
	}
	t.retryAt = now.Add(d)
	if t.failures == 1 {
		e.logger.Warn("collector address failing; trying others, and it again later", "addr", t.addr, "retry_in", d.String(), "err", err)
	}
}

// backoffDelay is initial doubled for each failure after the first, capped
// at max, with ±20% jitter (never past max).
func backoffDelay(initial, maxD time.Duration, failures int) time.Duration {
	d := initial
	for i := 1; i < failures && d < maxD; i++ {
		d *= 2
	}
	d = min(d, maxD)
	j := time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	return min(j, maxD)
}

// succeeded records a successful export to t.
func (e *endpoints) succeeded(t *target) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t.failures > 0 {
		e.logger.Info("collector address is healthy again", "addr", t.addr, "failures", t.failures)
	}
	t.failures = 0
	t.retryAt = time.Time{}
}

// counts returns the number of healthy and failing addresses.
func (e *endpoints) counts() (healthy, failing int) {
	now := e.clock.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, t := range e.all {
		if t.retryAt.After(now) {
			failing++
		} else {
			healthy++
		}
	}
	return healthy, failing
}

// resolveLoop resolves DNS names now and then every interval until ctx
// ends.
func (e *endpoints) resolveLoop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.resolveAll(ctx)
		}
	}
}

// resolveAll resolves every DNS name, concurrently.
func (e *endpoints) resolveAll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, hs := range e.specs {
		if !hs.fixed {
			wg.Go(func() { e.resolve(ctx, hs) })
		}
	}
	wg.Wait()
}

// resolve updates a name's targets to the addresses it resolves to now. A
// failed lookup keeps the targets it had, unless the name is gone.
func (e *endpoints) resolve(ctx context.Context, hs *hostSpec) {
	want, keepOld, err := hostaddr.Lookup(ctx, resolveTimeout, e.cfg.LookupHost, hs.host, hs.port)
	if keepOld {
		if ctx.Err() == nil {
			e.logger.Warn("cannot resolve collector; keeping its addresses", "collector", hs.spec, "err", err)
		}
		return
	}

	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	keep, gone, add := hostaddr.Diff(hs.targets, func(t *target) string { return t.addr }, want)
	var added []string
	for _, addr := range add {
		t, err := e.dial(hs, addr) // no I/O: connections are made on first use
		if err != nil {
			e.logger.Error("cannot add collector address", "collector", hs.spec, "err", err)
			continue
		}
		keep = append(keep, t)
		added = append(added, addr)
	}
	slices.SortFunc(keep, func(a, b *target) int { return cmp.Compare(a.addr, b.addr) })
	hs.targets = keep
	e.rebuild()
	e.mu.Unlock()

	for _, t := range gone {
		_ = t.conn.Close() // exports in flight on it fail and go to another address
	}
	if len(added) > 0 || len(gone) > 0 {
		removed := make([]string, len(gone))
		for i, t := range gone {
			removed[i] = t.addr
		}
		e.logger.Info("collector addresses changed", "collector", hs.spec, "added", added, "removed", removed, "now", len(keep))
	}
	if len(keep) == 0 {
		e.logger.Warn("collector resolves to no address; asking again every resolve interval", "collector", hs.spec, "err", err)
	}
}

// close closes every connection.
func (e *endpoints) close() {
	e.mu.Lock()
	e.closed = true
	var conns []*grpc.ClientConn
	for _, hs := range e.specs {
		for _, t := range hs.targets {
			conns = append(conns, t.conn)
		}
	}
	e.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}
