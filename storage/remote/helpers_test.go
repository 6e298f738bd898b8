package remote_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/memory"
	"github.com/scrytrace/scry/storage/remote"
)

// testServer is a real gRPC server on a loopback port serving a reader.
type testServer struct {
	addr string
	g    *grpc.Server
	done chan struct{}
}

// serve starts a server for r on addr ("127.0.0.1:0" for any free port); it
// stops when t ends.
func serve(t *testing.T, r storage.Reader, addr string) *testServer {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	return serveOn(t, r, lis)
}

func serveOn(t *testing.T, r storage.Reader, lis net.Listener) *testServer {
	t.Helper()
	s := &testServer{addr: lis.Addr().String(), g: grpc.NewServer(), done: make(chan struct{})}
	remote.NewServer(r, telemetry.Settings{Logger: testLogger(t)}).Register(s.g)
	go func() {
		defer close(s.done)
		_ = s.g.Serve(lis)
	}()
	t.Cleanup(s.stop)
	return s
}

// stop stops the server and waits until it has; it is safe to call twice.
func (s *testServer) stop() {
	s.g.Stop()
	<-s.done
}

// newClient returns a started client of endpoints, with the default
// configuration changed by mod (if not nil), that logs through t and is
// shut down when t ends.
func newClient(t *testing.T, endpoints []string, mod func(*remote.Config)) *remote.Client {
	t.Helper()
	cfg := remote.DefaultConfig()
	cfg.Endpoints = endpoints
	if mod != nil {
		mod(&cfg)
	}
	c, err := remote.New(cfg, telemetry.Settings{Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return testkit.Start(t, c)
}

// testLogger logs through t, at debug level, until t's cleanup.
func testLogger(t *testing.T) *slog.Logger {
	w := &tWriter{t: t}
	t.Cleanup(func() { w.off.Store(true) })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct {
	t   *testing.T
	off atomic.Bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	if !w.off.Load() {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

// Fixtures: small hand-made spans.

var base = uint64(time.Now().Add(-10 * time.Minute).UnixNano())

func tid(n byte) model.TraceID { return model.TraceID{0xab, 15: n} }

func sid(tr, n byte) model.SpanID { return model.SpanID{0xcd, 6: tr, 7: n} }

func resource(service string) *model.Resource {
	return &model.Resource{Attributes: []model.KeyValue{{Key: model.ServiceNameKey, Value: model.StringValue(service)}}}
}

// span returns span n of trace tr, of service, starting at base+start ms,
// child of span parent (0 for a root).
func span(tr, n byte, service string, start uint64, parent byte) *model.Span {
	s := &model.Span{
		Resource:  resource(service),
		Scope:     &model.Scope{Name: "test"},
		TraceID:   tid(tr),
		SpanID:    sid(tr, n),
		Name:      fmt.Sprintf("%s-op-%d", service, n),
		Kind:      model.SpanKindServer,
		StartTime: base + start*1e6,
		EndTime:   base + start*1e6 + 5e6,
		Attributes: []model.KeyValue{
			{Key: "n", Value: model.IntValue(int64(n))},
		},
	}
	if parent != 0 {
		s.ParentSpanID = sid(tr, parent)
	}
	return s
}

func write(t *testing.T, s storage.Writer, spans ...*model.Span) {
	t.Helper()
	if err := s.WriteSpans(t.Context(), spans); err != nil {
		t.Fatalf("WriteSpans: %v", err)
	}
}

// stores returns n empty memory stores and a server for each.
func stores(t *testing.T, n int) ([]*memory.Store, []*testServer) {
	var ss []*memory.Store
	var srvs []*testServer
	for range n {
		s := testkit.Start(t, memory.New())
		ss = append(ss, s)
		srvs = append(srvs, serve(t, s, "127.0.0.1:0"))
	}
	return ss, srvs
}

func addrs(srvs []*testServer) []string {
	out := make([]string, len(srvs))
	for i, s := range srvs {
		out[i] = s.addr
	}
	return out
}

// fakeDNS is a LookupHost whose answers the test changes.
type fakeDNS struct {
	mu      sync.Mutex
	answers map[string][]string
	err     error
	lookups int
}

func (d *fakeDNS) set(host string, ips ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.answers == nil {
		d.answers = make(map[string][]string)
	}
	d.answers[host] = ips
}

func (d *fakeDNS) fail(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.err = err
}

func (d *fakeDNS) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lookups
}

func (d *fakeDNS) LookupHost(ctx context.Context, host string) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lookups++
	if d.err != nil {
		return nil, d.err
	}
	ips, ok := d.answers[host]
	if !ok || len(ips) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return append([]string(nil), ips...), nil
}

var errDNSDown = errors.New("dns server unreachable")
