package remote_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/tenant"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/memory"
	"github.com/scrytrace/scry/storage/remote"
	"github.com/scrytrace/scry/storage/storagetest"
)

// remoteStore is a storage.Store whose writes go straight into memory stores
// and whose reads go through a Client and the gRPC servers in front of those
// stores: the conformance suite then checks the read path end to end, every
// field of every span included. With several stores, each trace is written
// whole to one of them (chosen by its ID), so the suite also checks that
// merging the answers of several servers is invisible.
type remoteStore struct {
	shards []*memory.Store
	*remote.Client
}

// openRemote returns a remoteStore of n shards, not started.
func openRemote(t *testing.T, n int) storage.Store {
	var shards []*memory.Store
	var srvs []*testServer
	for range n {
		s := memory.New()
		shards = append(shards, s)
		srvs = append(srvs, serve(t, s, "127.0.0.1:0"))
	}
	cfg := remote.DefaultConfig()
	cfg.Endpoints = addrs(srvs)
	c, err := remote.New(cfg, telemetry.Settings{Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &remoteStore{shards: shards, Client: c}
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return openRemote(t, 1) })
}

func TestConformanceShardedByTrace(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return openRemote(t, 2) })
}

func (s *remoteStore) WriteSpans(ctx context.Context, spans []*model.Span) error {
	parts := make([][]*model.Span, len(s.shards))
	for _, sp := range spans {
		i := 0
		if sp != nil {
			sum := 0
			for _, b := range sp.TraceID {
				sum += int(b)
			}
			i = sum % len(s.shards)
		}
		parts[i] = append(parts[i], sp)
	}
	var rejected []error
	for i, p := range parts {
		if len(p) == 0 {
			continue
		}
		err := s.shards[i].WriteSpans(ctx, p)
		var rej *storage.RejectedError
		switch {
		case errors.As(err, &rej):
			rejected = append(rejected, rej.Errs...)
		case err != nil:
			return err
		}
	}
	if rejected != nil {
		return &storage.RejectedError{Errs: rejected}
	}
	return nil
}

// Start starts the shards, then the client.
func (s *remoteStore) Start(ctx context.Context) error {
	for _, sh := range s.shards {
		if err := sh.Start(ctx); err != nil {
			return err
		}
	}
	return s.Client.Start(ctx)
}

// Shutdown shuts the client and the shards down, so that every call fails
// with storage.ErrClosed, writes included.
func (s *remoteStore) Shutdown(ctx context.Context) error {
	errs := []error{s.Client.Shutdown(ctx)}
	for _, sh := range s.shards {
		errs = append(errs, sh.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// TestConformanceTenants: tenants stay apart through the storage read API,
// the tenant relayed with each call (x-scry-tenant) to servers that read it
// as a collector's storage port does.
func TestConformanceTenants(t *testing.T) {
	storagetest.RunTenants(t, func(t *testing.T) storage.Store {
		set, err := tenant.NewSet(tenant.Config{Enabled: true, Header: tenant.DefaultHeader}, telemetry.Settings{Logger: testLogger(t), Registerer: prometheus.NewRegistry()})
		if err != nil {
			t.Fatal(err)
		}
		relay := set.Relay("storage")
		var shards []*memory.Store
		var srvs []*testServer
		for range 2 {
			s := memory.New()
			shards = append(shards, s)
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &testServer{addr: lis.Addr().String(), g: grpc.NewServer(relay.ServerOptions()...), done: make(chan struct{})}
			remote.NewServer(s, telemetry.Settings{Logger: testLogger(t)}).Register(srv.g)
			go func() {
				defer close(srv.done)
				_ = srv.g.Serve(lis)
			}()
			t.Cleanup(srv.stop)
			srvs = append(srvs, srv)
		}
		cfg := remote.DefaultConfig()
		cfg.Endpoints = addrs(srvs)
		c, err := remote.New(cfg, telemetry.Settings{Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		return &remoteStore{shards: shards, Client: c}
	})
}
