package remote

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/scrytrace/scry/internal/hostaddr"
	"github.com/scrytrace/scry/internal/tenant"
	"github.com/scrytrace/scry/storage"
	storagepb "github.com/scrytrace/scry/storage/remote/proto"
)

// This file keeps the set of backends (one connection per address) that each
// configured endpoint stands for, and fans calls out to them.

// endpoint is one entry of Config.Endpoints.
type endpoint struct {
	spec       string // as configured
	host, port string
	fixed      bool // the host is an IP address: never resolved

	// Guarded by Client.mu.
	backends []*backend // sorted by address
	err      error      // why there are no backends, when there are none
	resolved bool       // a lookup has answered
}

// backend is one address of an endpoint, with its connection.
type backend struct {
	addr string // ip:port
	name string // how warnings name it: the address and, if different, the endpoint
	conn *grpc.ClientConn
	rpc  storagepb.ReaderClient

	failing atomic.Bool // the last call failed: for logging changes only

	// For an address that does not serve GetTraces (see batch.go).
	batchless atomic.Bool  // its last answer to GetTraces was UNIMPLEMENTED
	batchSkip atomic.Int32 // GetTraces calls left to make trace by trace
}

func (c *Client) newEndpoint(spec string) (*endpoint, error) {
	host, port, _ := net.SplitHostPort(spec) // checked by Validate
	e := &endpoint{spec: spec, host: host, port: port, err: fmt.Errorf("%s is not resolved yet", host)}
	if ip, err := netip.ParseAddr(host); err == nil {
		e.fixed = true
		b, err := c.dial(e, net.JoinHostPort(ip.String(), port))
		if err != nil {
			return nil, err
		}
		e.backends = []*backend{b}
	}
	return e, nil
}

func (c *Client) dial(e *endpoint, addr string) (*backend, error) {
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			// Reconnect to a restarted collector within seconds.
			Backoff:           backoff.Config{BaseDelay: 500 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
			MinConnectTimeout: c.cfg.DialTimeout,
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvBytes)),
	}
	if !e.fixed {
		// TLS checks the certificate for the name given, not the
		// address it resolved to.
		opts = append(opts, grpc.WithAuthority(net.JoinHostPort(e.host, e.port)))
	}
	// Every call carries the tenant of its context (internal/tenant), which
	// the storage API's resolver puts on the context of its reads.
	opts = append(opts, tenant.DialOptions()...)
	opts = append(opts, c.cfg.DialOptions...)
	// passthrough: the address is resolved already.
	conn, err := grpc.NewClient("passthrough:///"+addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot set up a connection to storage endpoint %s: %w", addr, err)
	}
	name := addr
	if addr != e.spec {
		name = fmt.Sprintf("%s (%s)", addr, e.spec)
	}
	return &backend{addr: addr, name: name, conn: conn, rpc: storagepb.NewReaderClient(conn)}, nil
}

func (c *Client) resolveLoop() {
	defer close(c.done)
	t := time.NewTicker(c.cfg.ResolveInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			c.resolveAll()
		}
	}
}

// resolveAll resolves every DNS name, concurrently, each within DialTimeout.
func (c *Client) resolveAll() {
	var wg sync.WaitGroup
	for _, e := range c.endpoints {
		if !e.fixed {
			wg.Go(func() { c.resolve(e) })
		}
	}
	wg.Wait()
}

// resolve updates an endpoint's backends to the addresses its name resolves
// to now. A failed lookup keeps the backends it had, unless the name is
// gone (NXDOMAIN, as for a headless Service with no ready pod).
func (c *Client) resolve(e *endpoint) {
	want, keepOld, err := hostaddr.Lookup(c.ctx, c.cfg.DialTimeout, c.cfg.LookupHost, e.host, e.port)
	if keepOld {
		if c.ctx.Err() != nil {
			return // closing
		}
		c.logger.Warn("cannot resolve storage endpoint; keeping its addresses", "endpoint", e.spec, "err", err)
		c.mu.Lock()
		if len(e.backends) == 0 {
			e.err = fmt.Errorf("cannot resolve %s: %w", e.host, err)
		}
		c.mu.Unlock()
		return
	}

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	keep, gone, add := hostaddr.Diff(e.backends, func(b *backend) string { return b.addr }, want)
	var added []string
	for _, addr := range add {
		b, err := c.dial(e, addr) // no I/O: connections are made on first use
		if err != nil {
			c.logger.Error("cannot add storage address", "endpoint", e.spec, "err", err)
			continue
		}
		keep = append(keep, b)
		added = append(added, addr)
	}
	slices.SortFunc(keep, func(a, b *backend) int { return cmp.Compare(a.addr, b.addr) })
	e.backends = keep
	switch {
	case len(keep) > 0:
		e.err = nil
	case err != nil:
		e.err = fmt.Errorf("cannot resolve %s: %w", e.host, err)
	default:
		e.err = fmt.Errorf("%s resolves to no address", e.host)
	}
	first := !e.resolved
	e.resolved = true
	c.mu.Unlock()

	if len(keep) == 0 && (first || len(gone) > 0) {
		c.logger.Warn("storage endpoint resolves to no address; asking again every resolve interval",
			"endpoint", e.spec, "err", err, "interval", c.cfg.ResolveInterval)
	}
	for _, b := range gone {
		_ = b.conn.Close()
	}
	if len(added) > 0 || len(gone) > 0 {
		removed := make([]string, len(gone))
		for i, b := range gone {
			removed[i] = b.addr
		}
		c.logger.Info("storage endpoint addresses changed", "endpoint", e.spec, "added", added, "removed", removed, "now", len(keep))
	}
}

// Backends returns the addresses calls go to now, endpoint by endpoint.
func (c *Client) Backends() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []string
	for _, e := range c.endpoints {
		for _, b := range e.backends {
			out = append(out, b.addr)
		}
	}
	return out
}

// target is a backend to call, or an endpoint that has none (err says why).
// In the partitioned mode (Config.Router) it reads one partition, and alts
// are the partition's other addresses, tried in order when b fails.
type target struct {
	b         *backend
	name      string
	err       error
	partition int        // -1: not partitioned
	alts      []*backend // other addresses of the partition
	missing   bool       // the partition has no address
}

// targets returns what a call goes to: each distinct address once, and each
// endpoint without addresses as a failure; with a Router, one target per
// partition of parts (nil: every partition).
func (c *Client) targets(parts []int) ([]target, error) {
	if c.cfg.Router != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed {
			return nil, storage.ErrClosed
		}
		return c.routedTargets(parts), nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, storage.ErrClosed
	}
	var out []target
	seen := make(map[string]bool)
	for _, e := range c.endpoints {
		if len(e.backends) == 0 {
			out = append(out, target{name: e.spec, err: e.err, partition: -1})
		}
		for _, b := range e.backends {
			if !seen[b.addr] {
				seen[b.addr] = true
				out = append(out, target{b: b, name: b.name, partition: -1})
			}
		}
	}
	return out, nil
}

// failure is a target that did not answer a call.
type failure struct {
	name    string
	err     error
	missing bool // a partition with no address (Config.Router)
}

// gather makes call on every target concurrently. It returns the answers of
// those that answered, in target order, and the failures, which it records as
// warnings on ctx and logs. When none answered it returns an error instead,
// wrapping the first failure (or ctx's error, or storage.ErrClosed).
func gather[T any](ctx context.Context, c *Client, what string, call func(context.Context, storagepb.ReaderClient) (T, error)) ([]T, []failure, error) {
	return gatherBackends(ctx, c, nil, what, func(ctx context.Context, b *backend) (T, error) { return call(ctx, b.rpc) })
}

// gatherBackends is gather with a call that is given the backend, over the
// partitions parts of a routed Client (nil: all of them; ignored otherwise).
func gatherBackends[T any](ctx context.Context, c *Client, parts []int, what string, call func(context.Context, *backend) (T, error)) ([]T, []failure, error) {
	if t := storage.TenantFrom(ctx); t != "" {
		if err := storage.ValidateTenant(t); err != nil {
			return nil, nil, fmt.Errorf("cannot %s: %w", what, err) // nothing is sent
		}
	}
	targets, err := c.targets(parts)
	if err != nil {
		return nil, nil, err
	}
	type result struct {
		val T
		err error
	}
	results := make([]result, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		if t.b == nil {
			results[i].err = t.err
			continue
		}
		wg.Go(func() {
			pctx := withPartition(ctx, t)
			for _, b := range append([]*backend{t.b}, t.alts...) {
				cctx := pctx
				if c.cfg.CallTimeout > 0 {
					var cancel context.CancelFunc
					cctx, cancel = context.WithTimeout(pctx, c.cfg.CallTimeout)
					defer cancel()
				}
				results[i].val, results[i].err = call(cctx, b)
				if results[i].err == nil || ctx.Err() != nil {
					return
				}
			}
		})
	}
	wg.Wait()

	var answers []T
	var failed []failure
	for i, r := range results {
		if r.err != nil {
			failed = append(failed, failure{name: targets[i].name, err: r.err, missing: targets[i].missing})
		} else {
			answers = append(answers, r.val)
		}
	}
	if len(answers) == 0 {
		switch {
		case ctx.Err() != nil:
			return nil, nil, fmt.Errorf("cannot %s: %w", what, ctx.Err())
		case c.isClosed():
			return nil, nil, storage.ErrClosed
		case len(failed) == 0:
			return nil, nil, fmt.Errorf("cannot %s: no storage endpoint", what)
		}
		f := failed[0]
		if len(failed) == 1 {
			return nil, nil, fmt.Errorf("cannot %s: storage endpoint %s: %w", what, f.name, f.err)
		}
		return nil, nil, fmt.Errorf("cannot %s: none of %d storage endpoints answered; %s: %w", what, len(failed), f.name, f.err)
	}
	for _, f := range failed {
		if f.missing {
			storage.Warn(ctx, fmt.Sprintf("%s has no ready owner, results may be incomplete", f.name))
			continue
		}
		storage.Warn(ctx, fmt.Sprintf("storage endpoint %s did not answer, results may be incomplete: %s", f.name, errText(f.err)))
	}
	if ctx.Err() == nil { // else failures are the caller's doing
		for i, t := range targets {
			c.logState(t, what, results[i].err)
		}
	}
	return answers, failed, nil
}

// logState logs a call's failure at warning level when the target was fine
// before, so that an endpoint that stays down does not flood the log, and
// logs when it answers again.
func (c *Client) logState(t target, what string, err error) {
	switch {
	case t.b == nil:
		c.logger.Debug("storage endpoint has no address; answering without it", "op", what, "endpoint", t.name, "err", err)
	case err == nil:
		if t.b.failing.Swap(false) {
			c.logger.Info("storage endpoint answers again", "endpoint", t.name)
		}
	case !t.b.failing.Swap(true):
		c.logger.Warn("storage endpoint did not answer; answering without it until it does", "op", what, "endpoint", t.name, "err", err)
	default:
		c.logger.Debug("storage endpoint did not answer", "op", what, "endpoint", t.name, "err", err)
	}
}

// errText is an error's text without gRPC's "rpc error: code = ... desc ="
// framing.
func errText(err error) string {
	if st, ok := status.FromError(err); ok {
		return fmt.Sprintf("%s: %s", st.Code(), st.Message())
	}
	return err.Error()
}
