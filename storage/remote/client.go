package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
	storagepb "github.com/scrytrace/scry/storage/remote/proto"
)

// Config configures a Client. Start from DefaultConfig and set Endpoints.
type Config struct {
	// Endpoints are the storage read APIs to query, each "host:port". A host
	// that is a DNS name (a Kubernetes headless Service, say) stands for
	// every address it resolves to, re-resolved every ResolveInterval; when
	// it resolves to IPv4 addresses only those are used (a dual-stack host or
	// pod has one of each), else its IPv6 addresses.
	Endpoints []string
	// ResolveInterval is how often DNS names are resolved again. Default 30s.
	ResolveInterval time.Duration
	// DialTimeout bounds connecting to one address, and each resolution.
	// Default 5s.
	DialTimeout time.Duration
	// CallTimeout, if set, bounds each call to one address, so that an
	// endpoint that hangs is reported as failed while the others answer.
	// Zero (the default) leaves only the caller's context.
	CallTimeout time.Duration
	// LookupHost resolves a host name to addresses, as net.Resolver's method
	// of that name does. nil: net.DefaultResolver.LookupHost.
	LookupHost func(ctx context.Context, host string) ([]string, error)
	// Router, instead of Endpoints, makes a partitioned Client: each call
	// asks one address per partition, chosen by the Router (route.go).
	Router Router
	// DialOptions are added to those of every connection, after the
	// defaults: for example grpc.WithTransportCredentials for TLS, where the
	// default is plain text.
	DialOptions []grpc.DialOption
}

// Defaults of Config (see DefaultConfig).
const (
	DefaultResolveInterval = 30 * time.Second
	DefaultDialTimeout     = 5 * time.Second
)

// DefaultConfig returns the defaults named on Config's fields, with no
// endpoint.
func DefaultConfig() Config {
	return Config{ResolveInterval: DefaultResolveInterval, DialTimeout: DefaultDialTimeout}
}

// Validate reports what is wrong with the config, if anything.
func (cfg *Config) Validate() error {
	var errs []error
	switch {
	case len(cfg.Endpoints) == 0 && cfg.Router == nil:
		errs = append(errs, errors.New("no storage endpoint given"))
	case len(cfg.Endpoints) > 0 && cfg.Router != nil:
		errs = append(errs, errors.New("storage endpoints and a partition router are given: one or the other"))
	}
	for _, ep := range cfg.Endpoints {
		host, port, err := net.SplitHostPort(ep)
		if err != nil {
			errs = append(errs, fmt.Errorf("endpoint %q is not host:port: %w", ep, err))
			continue
		}
		if host == "" {
			errs = append(errs, fmt.Errorf("endpoint %q has no host", ep))
		}
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			errs = append(errs, fmt.Errorf("endpoint %q: port %q is not a number from 1 to 65535", ep, port))
		}
	}
	if cfg.ResolveInterval <= 0 {
		errs = append(errs, fmt.Errorf("resolve interval %s is not positive", cfg.ResolveInterval))
	}
	if cfg.DialTimeout <= 0 {
		errs = append(errs, fmt.Errorf("dial timeout %s is not positive", cfg.DialTimeout))
	}
	if cfg.CallTimeout < 0 {
		errs = append(errs, fmt.Errorf("call timeout %s is negative", cfg.CallTimeout))
	}
	return errors.Join(errs...)
}

// Client is a storage.Reader over the storage read APIs of one or more
// endpoints, typically collectors that each own a store.
//
// Every call goes to every address concurrently and the answers are merged,
// so that what any of them stores is found: GetTrace joins the spans of a
// trace split across collectors (dropping spans stored twice), GetTraces
// does so per trace with one call per address, FindTraceIDs merges by newest
// start and cuts to the limit, Services and Operations are unions and
// Dependencies sums the counts. Results keep the order the storage.Reader
// contract gives. When some addresses fail but at least one answers, the
// call returns the merged answer of those that did and records each failure
// as a warning on the context (storage.Warn) and in the log; when none
// answers it returns an error wrapping the first failure.
//
// A query whose conditions hold only across spans kept by different
// collectors is not found, and a call from a span on one collector to a span
// on another is not counted by Dependencies: each collector answers for what
// it stores.
//
// With Config.Router instead of endpoints (the scale-out topology, where
// each store holds some partitions and each partition is held by several
// stores), a call asks one address per partition, naming the partition in
// its metadata (PartitionHeader), and merges as above; a trace by ID asks
// only its partition's address. When that address fails, the partition's
// next one is asked; a partition with no address left is a warning
// ("partition 3 has no ready owner"), never a wrong answer passed as whole.
//
// A Client has the life of every long-lived part (internal/app.Part): New
// checks the configuration, Start sets up the connections and starts
// resolving DNS names, Shutdown closes them. Calls before Start or after
// Shutdown fail with storage.ErrClosed. All methods are safe for concurrent
// use.
type Client struct {
	cfg    Config
	logger *slog.Logger

	startMu sync.Mutex // serialises Start and Shutdown
	shut    bool       // Shutdown was called; guarded by startMu

	ctx    context.Context // set by Start, cancelled by Shutdown: stops resolution
	cancel context.CancelFunc
	done   chan struct{} // closed when the resolution loop has stopped

	mu        sync.RWMutex
	closed    bool                // calls fail: true before Start and after Shutdown
	endpoints []*endpoint         // one per cfg.Endpoints, in order
	routed    map[string]*backend // by address, with a Router
}

var _ storage.Reader = (*Client)(nil)

// New validates cfg and returns a Client that logs failed endpoints and
// changes of resolved addresses to tel.Logger. It connects to nothing:
// Start does.
func New(cfg Config, tel telemetry.Settings) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid storage client config: %w", err)
	}
	if cfg.LookupHost == nil {
		cfg.LookupHost = net.DefaultResolver.LookupHost
	}
	return &Client{cfg: cfg, logger: tel.Complete().Logger, closed: true}, nil
}

// Start sets up a connection to each endpoint given by address and resolves
// DNS names once before it returns, each for at most cfg.DialTimeout; a name
// that does not resolve yet is logged and tried again every
// ResolveInterval, and until then counts as a failed endpoint. Connections
// are made on first use. A second Start fails; after Shutdown Start fails
// with storage.ErrClosed.
func (c *Client) Start(context.Context) error {
	c.startMu.Lock()
	defer c.startMu.Unlock()
	if c.shut {
		return storage.ErrClosed
	}
	if c.cancel != nil {
		return errors.New("cannot start storage client: already started")
	}
	var endpoints []*endpoint
	names := false
	for _, spec := range c.cfg.Endpoints {
		e, err := c.newEndpoint(spec)
		if err != nil {
			for _, e := range endpoints {
				for _, b := range e.backends {
					_ = b.conn.Close()
				}
			}
			return err
		}
		endpoints = append(endpoints, e)
		names = names || !e.fixed
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.done = make(chan struct{})
	c.mu.Lock()
	c.endpoints, c.closed = endpoints, false
	c.mu.Unlock()
	if !names {
		close(c.done)
		return nil
	}
	c.resolveAll()
	go c.resolveLoop()
	return nil
}

// Shutdown stops resolution and closes every connection; calls under way
// fail. Calls made after it fail with storage.ErrClosed. It is safe to call
// twice and before Start.
func (c *Client) Shutdown(ctx context.Context) error {
	c.startMu.Lock()
	defer c.startMu.Unlock()
	if c.shut {
		return nil
	}
	c.shut = true
	if c.cancel == nil {
		return nil
	}
	c.mu.Lock()
	c.closed = true
	var conns []*grpc.ClientConn
	for _, e := range c.endpoints {
		for _, b := range e.backends {
			conns = append(conns, b.conn)
		}
		e.backends = nil
	}
	for _, b := range c.routed {
		conns = append(conns, b.conn)
	}
	c.routed = nil
	c.mu.Unlock()
	c.cancel()
	var errs []error
	for _, conn := range conns {
		if err := conn.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cannot close storage connections: %w", err)
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		select {
		case <-c.done:
		default:
			return fmt.Errorf("cannot shut down storage client: DNS resolution has not stopped: %w", ctx.Err())
		}
	}
	return nil
}

// GetTrace returns the spans of the trace from every address that has any.
// It returns storage.ErrTraceNotFound when none has; when some addresses
// failed, the error says so and still wraps storage.ErrTraceNotFound.
func (c *Client) GetTrace(ctx context.Context, id model.TraceID, hint storage.TimeHint) ([]*model.Span, error) {
	if c.isClosed() {
		return nil, storage.ErrClosed
	}
	if id.IsZero() {
		return nil, storage.ErrTraceNotFound
	}
	req := &storagepb.GetTraceRequest{TraceId: id[:], StartTimeUnixNano: hint.Start, EndTimeUnixNano: hint.End}
	answers, failed, err := gatherBackends(ctx, c, c.partitionsOf(id), "get trace "+id.String(), func(ctx context.Context, b *backend) ([]*model.Span, error) {
		return getTrace(ctx, b.rpc, req, id)
	})
	if err != nil {
		return nil, err
	}
	spans := mergeSpans(answers)
	if len(spans) == 0 {
		if len(failed) > 0 {
			return nil, fmt.Errorf("%w on the storage endpoints that answered; %d did not", storage.ErrTraceNotFound, len(failed))
		}
		return nil, storage.ErrTraceNotFound
	}
	return spans, nil
}

// getTrace reads one address's spans of a trace: none when it answers
// NOT_FOUND.
func getTrace(ctx context.Context, rpc storagepb.ReaderClient, req *storagepb.GetTraceRequest, id model.TraceID) ([]*model.Span, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream early on a malformed chunk
	stream, err := rpc.GetTrace(ctx, req)
	if err != nil {
		return nil, err
	}
	var spans []*model.Span
	for {
		msg, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return spans, nil
			}
			if status.Code(err) == codes.NotFound {
				return nil, nil
			}
			return nil, err
		}
		chunk, err := decodeChunk(msg, id)
		if err != nil {
			return nil, err
		}
		spans = append(spans, chunk...)
	}
}

// FindTraceIDs returns the newest q.Limit traces matching q on any address.
// An invalid query fails before any call.
func (c *Client) FindTraceIDs(ctx context.Context, q storage.Query) ([]storage.TraceRef, error) {
	if c.isClosed() {
		return nil, storage.ErrClosed
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	req := queryToProto(q)
	answers, _, err := gather(ctx, c, "find traces", func(ctx context.Context, rpc storagepb.ReaderClient) ([]storage.TraceRef, error) {
		resp, err := rpc.FindTraceIDs(ctx, req)
		if err != nil {
			return nil, err
		}
		return refsFromProto(resp)
	})
	if err != nil {
		return nil, err
	}
	return mergeRefs(answers, q.Limit), nil
}

// Services returns the sorted union of every address's services.
func (c *Client) Services(ctx context.Context) ([]string, error) {
	answers, _, err := gather(ctx, c, "list services", func(ctx context.Context, rpc storagepb.ReaderClient) ([]string, error) {
		resp, err := rpc.Services(ctx, &storagepb.ServicesRequest{})
		return resp.GetServices(), err
	})
	if err != nil {
		return nil, err
	}
	return mergeStrings(answers), nil
}

// Operations returns the union of every address's operations of a service,
// sorted by name then kind.
func (c *Client) Operations(ctx context.Context, service string, kind model.SpanKind) ([]storage.Operation, error) {
	req := &storagepb.OperationsRequest{ServiceName: service, Kind: kindToProto(kind)}
	answers, _, err := gather(ctx, c, fmt.Sprintf("list operations of service %q", service), func(ctx context.Context, rpc storagepb.ReaderClient) ([]storage.Operation, error) {
		resp, err := rpc.Operations(ctx, req)
		if err != nil {
			return nil, err
		}
		return opsFromProto(resp), nil
	})
	if err != nil {
		return nil, err
	}
	return mergeOps(answers), nil
}

// Dependencies returns every address's call counts, summed per parent and
// child.
func (c *Client) Dependencies(ctx context.Context, start, end uint64) ([]storage.DependencyLink, error) {
	req := &storagepb.DependenciesRequest{StartTimeUnixNano: start, EndTimeUnixNano: end}
	answers, _, err := gather(ctx, c, "list dependencies", func(ctx context.Context, rpc storagepb.ReaderClient) ([]storage.DependencyLink, error) {
		resp, err := rpc.Dependencies(ctx, req)
		if err != nil {
			return nil, err
		}
		return depsFromProto(resp), nil
	})
	if err != nil {
		return nil, err
	}
	return mergeDeps(answers), nil
}

func (c *Client) isClosed() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.closed
}
