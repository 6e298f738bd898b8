// Package wiring builds the parts that several binaries share from their
// flags: the Badger store, the intake (queue; OTLP, Jaeger HTTP, Jaeger UDP
// and Zipkin receivers; sampling strategies) and the query HTTP server. cmd/ packages only choose which parts to run.
package wiring

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"

	"github.com/scrytrace/scry/collector"
	"github.com/scrytrace/scry/collector/jaegerhttp"
	"github.com/scrytrace/scry/collector/jaegerudp"
	"github.com/scrytrace/scry/collector/otlpgrpc"
	"github.com/scrytrace/scry/collector/otlphttp"
	"github.com/scrytrace/scry/collector/queue"
	"github.com/scrytrace/scry/collector/sampling"
	"github.com/scrytrace/scry/collector/zipkin"
	"github.com/scrytrace/scry/internal/app"
	"github.com/scrytrace/scry/internal/auth"
	"github.com/scrytrace/scry/internal/bytesize"
	"github.com/scrytrace/scry/internal/grpcserver"
	"github.com/scrytrace/scry/internal/httpserver"
	"github.com/scrytrace/scry/internal/limits"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/tlsconf"
	"github.com/scrytrace/scry/query"
	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/badger"
	"github.com/scrytrace/scry/storage/remote"
	"github.com/scrytrace/scry/ui"
)

// DefaultDataDir is the folder of the embedded Badger store unless
// --data-dir says otherwise.
const DefaultDataDir = "scry-data"

// StoreFlags configure the embedded Badger store. Its Config starts as
// badger.DefaultConfig in DefaultDataDir (DefaultStoreFlags) and the flags
// write into it.
type StoreFlags struct {
	Badger badger.Config
	// Limits, if set (LimitsFlags.Build), give tenants retentions of their own.
	Limits *limits.Overrides
}

// DefaultStoreFlags returns badger.DefaultConfig with Dir DefaultDataDir.
func DefaultStoreFlags() StoreFlags {
	c := badger.DefaultConfig()
	c.Dir = DefaultDataDir
	return StoreFlags{Badger: c}
}

// Add registers the flags on fs, with f's values as their defaults.
func (f *StoreFlags) Add(fs *pflag.FlagSet) {
	fs.StringVar(&f.Badger.Dir, "data-dir", f.Badger.Dir, "folder for the Badger store (created if missing)")
	fs.DurationVar(&f.Badger.Retention, "retention", f.Badger.Retention, "how long spans are kept; older data is deleted from disk")
	fs.Var(bytesize.NewValue(&f.Badger.RetentionSize), "retention-size",
		"most disk space the data folder may take, e.g. 20GB or 500MiB (KB, MB, GB are powers of 1000; KiB, MiB, GiB of 1024); "+
			"past it the oldest spans are deleted whatever their age, in whole buckets of retention/12, the current one never (0: no limit)")
	fs.DurationVar(&f.Badger.RetentionErrors, "retention-errors", f.Badger.RetentionErrors,
		"how long traces with an error span (status code error) are kept, if longer than --retention (0: like the rest)")
	fs.DurationVar(&f.Badger.RetentionSlow, "retention-slow", f.Badger.RetentionSlow,
		"how long traces whose root span lasts longer than --slow-threshold are kept, if longer than --retention (0: like the rest)")
	fs.DurationVar(&f.Badger.SlowThreshold, "slow-threshold", f.Badger.SlowThreshold,
		"root span duration past which a trace is slow, for --retention-slow (0: none is)")
	fs.Var(bytesize.NewValue(&f.Badger.MinFreeDisk), "min-free-disk",
		"space kept free (e.g. 1GiB) on the data folder's filesystem: below it writes are refused with 'retry later' (reads go on) until space is freed; "+
			"the default is 16 memtables, what the store may still write once it refuses spans (0: no margin, a full disk may crash the store)")
}

// NewStore constructs the Badger store, a part that Start opens, with its
// metrics on tel's registry. The caller makes the process's readiness
// depend on s.DiskFull (admin.Server.AddCheck).
func (f *StoreFlags) NewStore(tel telemetry.Settings) (*badger.Store, error) {
	cfg := f.Badger
	if f.Limits != nil {
		cfg.TenantRetention = f.Limits.Retention
	}
	return badger.New(cfg, tel.For("store"))
}

// LimitsFlags configure the per-tenant limits (--limits-file).
type LimitsFlags struct {
	Limits limits.Config
}

// DefaultLimitsFlags returns limits.DefaultConfig.
func DefaultLimitsFlags() LimitsFlags { return LimitsFlags{Limits: limits.DefaultConfig()} }

// Add registers the flags on fs.
func (f *LimitsFlags) Add(fs *pflag.FlagSet) { f.Limits.AddFlags(fs) }

// Build reads the limits file, or returns nil without one. The caller
// hands the result to the parts that apply limits: StoreFlags.Limits
// (retention), IntakeFlags.Limits and QueryFlags.Limits.
func (f *LimitsFlags) Build(tel telemetry.Settings) (*limits.Overrides, error) {
	return limits.New(f.Limits, tel.For("limits"))
}

// IntakeFlags configure the queue, the receivers (OTLP, Jaeger HTTP,
// Jaeger UDP, Zipkin) and the sampling strategies served on the Jaeger HTTP
// port. Each part's Config starts as its DefaultConfig (DefaultIntakeFlags)
// and the flags write into it; an empty address turns a receiver off.
type IntakeFlags struct {
	Queue      queue.Config
	OTLPGRPC   otlpgrpc.Config
	OTLPHTTP   otlphttp.Config
	JaegerHTTP jaegerhttp.Config
	Zipkin     zipkin.Config
	UDP        jaegerudp.Config
	Sampling   sampling.Config
	// MaxRequestBytes and MaxSpansPerRequest are the limits of every
	// receiver, copied into each one's Config by BuildIntake.
	MaxRequestBytes, MaxSpansPerRequest int
	// Limits, if set (LimitsFlags.Build), are the per-tenant limits every
	// request passes before the queue.
	Limits *limits.Overrides
}

// DefaultIntakeFlags returns every part's DefaultConfig.
func DefaultIntakeFlags() IntakeFlags {
	return IntakeFlags{
		Queue:              queue.DefaultConfig(),
		OTLPGRPC:           otlpgrpc.DefaultConfig(),
		OTLPHTTP:           otlphttp.DefaultConfig(),
		JaegerHTTP:         jaegerhttp.DefaultConfig(),
		Zipkin:             zipkin.DefaultConfig(),
		UDP:                jaegerudp.DefaultConfig(),
		Sampling:           sampling.DefaultConfig(),
		MaxRequestBytes:    otlpgrpc.DefaultMaxRequestBytes,
		MaxSpansPerRequest: otlpgrpc.DefaultMaxSpansPerRequest,
	}
}

// Add registers the flags on fs, with f's values as their defaults.
func (f *IntakeFlags) Add(fs *pflag.FlagSet) {
	fs.StringVar(&f.OTLPGRPC.Addr, "otlp-grpc-addr", f.OTLPGRPC.Addr, "OTLP/gRPC listen address (empty: off)")
	fs.StringVar(&f.OTLPHTTP.Addr, "otlp-http-addr", f.OTLPHTTP.Addr, "OTLP/HTTP listen address, POST /v1/traces (empty: off)")
	fs.StringVar(&f.JaegerHTTP.Addr, "jaeger-http-addr", f.JaegerHTTP.Addr,
		"Jaeger HTTP listen address: Thrift spans at POST /api/traces, remote sampling at GET /api/sampling (empty: off)")
	fs.StringVar(&f.Zipkin.Addr, "zipkin-addr", f.Zipkin.Addr, "Zipkin listen address, POST /api/v2/spans in JSON or protobuf (empty: off)")
	fs.StringVar(&f.UDP.CompactAddr, "udp-compact-addr", f.UDP.CompactAddr,
		"UDP listen address for Jaeger Thrift emitBatch, compact protocol, as Jaeger clients send to an agent (empty: off)")
	fs.StringVar(&f.UDP.BinaryAddr, "udp-binary-addr", f.UDP.BinaryAddr,
		"UDP listen address for Jaeger Thrift emitBatch, binary protocol (empty: off)")
	fs.IntVar(&f.UDP.BufferBytes, "udp-buffer-bytes", f.UDP.BufferBytes,
		"UDP socket receive buffer asked of the kernel (a smaller one given is logged)")
	fs.StringVar(&f.Sampling.File, "sampling-strategies-file", f.Sampling.File,
		"JSON file of sampling strategies in Jaeger's --sampling.strategies-file format, served at /api/sampling (empty: every service probabilistic 0.001)")
	fs.DurationVar(&f.Sampling.ReloadInterval, "sampling-reload-interval", f.Sampling.ReloadInterval,
		"how often the sampling strategies file is read again, applied if changed (0: never)")
	fs.Int64Var(&f.Queue.MaxBytes, "queue-bytes", f.Queue.MaxBytes, "bytes of requests the intake queue holds before it answers 'retry later'")
	fs.IntVar(&f.Queue.Writers, "queue-writers", f.Queue.Writers, "goroutines committing batches to the store")
	fs.IntVar(&f.MaxRequestBytes, "max-message-bytes", f.MaxRequestBytes, "largest request accepted, after decompression")
	fs.IntVar(&f.MaxSpansPerRequest, "max-spans-per-request", f.MaxSpansPerRequest, "most spans accepted in one request")
}

// Intake is the queue and the receivers in front of a storage.Writer.
type Intake struct {
	Queue      *queue.Queue
	GRPC       *otlpgrpc.Receiver   // nil when turned off
	HTTP       *otlphttp.Receiver   // nil when turned off
	JaegerHTTP *jaegerhttp.Receiver // nil when turned off
	UDP        *jaegerudp.Server    // nil when both UDP listeners are off
	Zipkin     *zipkin.Receiver     // nil when turned off
	Sampling   *sampling.Provider   // served by JaegerHTTP
	// Consumer is what the receivers hand requests to: the queue, behind
	// the tenants' limits when there are some.
	Consumer collector.Consumer
	Parts    []app.Named // in start order
}

// BuildIntake constructs the queue and the receivers (nothing is started),
// each with its listener's TLS in srvTLS (nil: all plain text). A sampling
// strategies file that cannot be read or parsed is an error.
func (f *IntakeFlags) BuildIntake(w storage.Writer, srvTLS *tlsconf.Servers, tel telemetry.Settings) (*Intake, error) {
	if f.Sampling.File != "" && f.JaegerHTTP.Addr == "" {
		return nil, errors.New("--sampling-strategies-file is set but --jaeger-http-addr is empty: the strategies would be served nowhere")
	}
	q, err := queue.New(f.Queue, w, tel.For("queue"))
	if err != nil {
		return nil, err
	}
	m, err := collector.NewMetrics(tel.Complete().Registerer, "scry_receiver", "committed to storage and acknowledged")
	if err != nil {
		return nil, fmt.Errorf("cannot register intake metrics: %w", err)
	}
	in := &Intake{Queue: q, Parts: []app.Named{{Name: "queue", Part: q}}}
	in.Consumer = q
	if f.Limits != nil {
		if in.Consumer, err = collector.NewLimited(q, f.Limits, tel.For("limits")); err != nil {
			return nil, err
		}
	}
	if c := f.OTLPGRPC; c.Addr != "" {
		c.MaxRequestBytes, c.MaxSpansPerRequest, c.TLS = f.MaxRequestBytes, f.MaxSpansPerRequest, srvTLS.For(tlsconf.OTLPGRPC)
		if in.GRPC, err = otlpgrpc.New(c, in.Consumer, m, tel.For("otlp-grpc")); err != nil {
			return nil, err
		}
		in.Parts = append(in.Parts, app.Named{Name: "OTLP/gRPC receiver", Part: in.GRPC})
	}
	if c := f.OTLPHTTP; c.Addr != "" {
		c.MaxRequestBytes, c.MaxSpansPerRequest, c.TLS = f.MaxRequestBytes, f.MaxSpansPerRequest, srvTLS.For(tlsconf.OTLPHTTP)
		if in.HTTP, err = otlphttp.New(c, in.Consumer, m, tel.For("otlp-http")); err != nil {
			return nil, err
		}
		in.Parts = append(in.Parts, app.Named{Name: "OTLP/HTTP receiver", Part: in.HTTP})
	}
	if in.Sampling, err = sampling.New(f.Sampling, tel.For("sampling")); err != nil {
		return nil, err
	}
	in.Parts = append(in.Parts, app.Named{Name: "sampling strategies", Part: in.Sampling})
	if c := f.JaegerHTTP; c.Addr != "" {
		c.MaxRequestBytes, c.MaxSpansPerRequest, c.TLS = f.MaxRequestBytes, f.MaxSpansPerRequest, srvTLS.For(tlsconf.JaegerHTTP)
		if in.JaegerHTTP, err = jaegerhttp.New(c, in.Consumer, m, in.Sampling.Handler(), tel.For("jaeger-http")); err != nil {
			return nil, err
		}
		in.Parts = append(in.Parts, app.Named{Name: "Jaeger HTTP receiver", Part: in.JaegerHTTP})
	}
	if f.UDP.CompactAddr != "" || f.UDP.BinaryAddr != "" {
		if err := tlsconf.CheckUDP(srvTLS.Policy(), f.UDP.CompactAddr, f.UDP.BinaryAddr); err != nil {
			return nil, err
		}
		srvTLS.WarnUDP(f.UDP.CompactAddr, f.UDP.BinaryAddr)
		if srvTLS.TenancyEnabled() {
			tel.Logger.Warn("Jaeger Thrift over UDP carries no tenant: with --multi-tenancy.enabled its spans are stored for the default tenant, which no tenant reads; " +
				"send through scry-agent --tenant instead, or turn UDP off with --udp-compact-addr= --udp-binary-addr=")
		}
		if err := f.buildUDP(in, m, tel.For("jaeger-udp")); err != nil {
			return nil, err
		}
	}
	if c := f.Zipkin; c.Addr != "" {
		c.MaxRequestBytes, c.MaxSpansPerRequest, c.TLS = f.MaxRequestBytes, f.MaxSpansPerRequest, srvTLS.For(tlsconf.Zipkin)
		if in.Zipkin, err = zipkin.New(c, in.Consumer, m, tel.For("zipkin")); err != nil {
			return nil, err
		}
		in.Parts = append(in.Parts, app.Named{Name: "Zipkin receiver", Part: in.Zipkin})
	}
	return in, nil
}

// udpMaxInFlight bounds the UDP packets whose spans wait for a commit at
// once; past it, packets are dropped (counted, reason buffer_full).
const udpMaxInFlight = jaegerudp.DefaultMaxInFlight

// buildUDP adds the Jaeger UDP receiver: UDP has no answer, so its spans go
// to the queue through a ConsumerSink, which never makes the UDP workers
// wait for a commit.
func (f *IntakeFlags) buildUDP(in *Intake, m *collector.Metrics, tel telemetry.Settings) error {
	sink, err := jaegerudp.NewConsumerSink(in.Consumer, m, udpMaxInFlight, tel)
	if err != nil {
		return err
	}
	if in.UDP, err = jaegerudp.New(f.UDP, sink, tel); err != nil {
		return err
	}
	srv := in.UDP
	in.Parts = append(in.Parts, app.Named{Name: "Jaeger UDP receiver", Part: app.Funcs{
		StartFunc: srv.Start,
		// The server first, so that nothing new reaches the sink; then
		// the sink, which waits for the commits under way (the queue is
		// shut down after this part).
		ShutdownFunc: func(ctx context.Context) error { return errors.Join(srv.Shutdown(ctx), sink.Shutdown(ctx)) },
	}})
	return nil
}

// DefaultQueryHTTPAddr is the query HTTP listen address unless --http-addr
// says otherwise.
const DefaultQueryHTTPAddr = "127.0.0.1:16686"

// QueryFlags configure the query HTTP server, and the Tempo API server
// when TempoAddr is set. Query starts as query.DefaultConfig
// (DefaultQueryFlags) and the flags write into it.
type QueryFlags struct {
	HTTPAddr  string
	TempoAddr string // "" (the default): no Tempo API listener of its own
	Query     query.Config
	// Limits, if set (LimitsFlags.Build), bound each tenant's searches.
	Limits *limits.Overrides
}

// DefaultQueryFlags returns DefaultQueryHTTPAddr and query.DefaultConfig.
func DefaultQueryFlags() QueryFlags {
	return QueryFlags{HTTPAddr: DefaultQueryHTTPAddr, Query: query.DefaultConfig()}
}

// Add registers the flags on fs, with f's values as their defaults.
func (f *QueryFlags) Add(fs *pflag.FlagSet) {
	fs.StringVar(&f.HTTPAddr, "http-addr", f.HTTPAddr, "query HTTP listen address: Jaeger's /api, /api/v3 and the UI")
	fs.StringVar(&f.Query.BasePath, "base-path", f.Query.BasePath, "URL prefix to serve the API and UI under (for a reverse proxy), e.g. /scry")
	fs.StringVar(&f.TempoAddr, "tempo-http-addr", f.TempoAddr,
		"listen address of Grafana Tempo's HTTP query API in full, for Grafana's Tempo data source, e.g. 127.0.0.1:3200 (empty: off; the query port serves it too, but for /api/traces/{id}, which is Jaeger's there)")
}

// BuildTempo constructs the Tempo API server over r with the TLS of l
// (nil: plain text), or returns nil when --tempo-http-addr is empty.
func (f *QueryFlags) BuildTempo(r storage.Reader, l *tlsconf.Listener, tel telemetry.Settings) (*httpserver.Server, error) {
	if f.TempoAddr == "" {
		return nil, nil
	}
	tel = tel.For("tempo")
	h, err := query.NewTempoHandler(f.Query, limits.NewReader(r, f.Limits, tel.Clock), tel)
	if err != nil {
		return nil, err
	}
	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "scry_tempo_request_duration_seconds",
		Help:    "Tempo API HTTP request latency (--tempo-http-addr), by method and status code.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"method", "code"})
	if err := tel.Registerer.Register(lat); err != nil {
		return nil, fmt.Errorf("cannot register Tempo API metrics: %w", err)
	}
	return httpserver.New("Tempo HTTP", f.TempoAddr, instrument(h, lat, tel.Clock), l, tel), nil
}

// BuildQuery constructs the query HTTP server over r, with the web UI,
// latency metrics and the TLS of l (nil: plain text).
func (f *QueryFlags) BuildQuery(r storage.Reader, l *tlsconf.Listener, tel telemetry.Settings) (*httpserver.Server, error) {
	tel = tel.For("query")
	cfg := f.Query
	cfg.UI = ui.Handler(cfg.BasePath)
	h, err := query.NewHandler(cfg, limits.NewReader(r, f.Limits, tel.Clock), tel)
	if err != nil {
		return nil, err
	}
	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "scry_query_request_duration_seconds",
		Help:    "Query HTTP request latency, by method and status code.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"method", "code"})
	if err := tel.Registerer.Register(lat); err != nil {
		return nil, fmt.Errorf("cannot register query metrics: %w", err)
	}
	return httpserver.New("query HTTP", f.HTTPAddr, instrument(h, lat, tel.Clock), l, tel), nil
}

func instrument(h http.Handler, lat *prometheus.HistogramVec, clock telemetry.Clock) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		t := clock.Now()
		h.ServeHTTP(rec, r)
		lat.WithLabelValues(r.Method, fmt.Sprint(rec.code)).Observe(clock.Now().Sub(t).Seconds())
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// DefaultStorageAddr is where a collector serves its store's read API
// (--storage-addr) and where scry-query looks for it (--storage) by default.
const DefaultStorageAddr = "127.0.0.1:17271"

// NewStorageServer serves r's read API (storage/remote) on addr with the
// TLS of l (nil: plain text).
func NewStorageServer(addr string, r storage.Reader, l *tlsconf.Listener, tel telemetry.Settings) *grpcserver.Server {
	tel = tel.For("storage-api")
	s := grpcserver.New("storage API", addr, l, tel, grpc.MaxSendMsgSize(64<<20))
	remote.NewServer(r, tel).Register(s.GRPC())
	return s
}

// NewPartitionedStorageServer serves the read API of the shards of a
// scry-ingester (remote.NewPartitionedServer) on addr with the TLS of l.
func NewPartitionedStorageServer(addr string, shards func(p int) (storage.Reader, error), l *tlsconf.Listener, tel telemetry.Settings) *grpcserver.Server {
	tel = tel.For("storage-api")
	s := grpcserver.New("storage API", addr, l, tel, grpc.MaxSendMsgSize(64<<20))
	remote.NewPartitionedServer(shards, tel).Register(s.GRPC())
	return s
}

// RemoteFlags configure scry-query's connection to the collectors' stores.
// Its Config starts as remote.DefaultConfig with DefaultStorageAddr as the
// one endpoint (DefaultRemoteFlags) and the flags write into it.
type RemoteFlags struct {
	Remote remote.Config
	TLS    tlsconf.ClientFlags
	Auth   auth.ClientFlags
}

// DefaultRemoteFlags returns remote.DefaultConfig with the endpoint
// DefaultStorageAddr.
func DefaultRemoteFlags() RemoteFlags {
	c := remote.DefaultConfig()
	c.Endpoints = []string{DefaultStorageAddr}
	return RemoteFlags{Remote: c}
}

// Add registers the flags on fs, with f's values as their defaults.
func (f *RemoteFlags) Add(fs *pflag.FlagSet) {
	fs.StringSliceVar(&f.Remote.Endpoints, "storage", f.Remote.Endpoints,
		"a collector's storage API, host:port; repeat or separate by commas for several. A DNS name that resolves to several addresses (a Kubernetes headless Service) reaches each of them")
	fs.DurationVar(&f.Remote.ResolveInterval, "storage-resolve-interval", f.Remote.ResolveInterval, "how often DNS names in --storage are resolved again")
	f.TLS.Prefix = "storage"
	f.TLS.Add(fs, "the storage APIs")
	f.Auth.Prefix = "storage"
	f.Auth.Add(fs, "the storage APIs")
}

// NewClient constructs the client of the collectors' stores, a part that
// Start connects, speaking TLS when the --storage-tls-* flags say so and
// sending the token of --storage-auth-token-file.
func (f *RemoteFlags) NewClient(tel telemetry.Settings) (*remote.Client, error) {
	tel = tel.For("storage-client")
	cfg := f.Remote
	opt, err := f.TLS.Config.DialOption(tel.Logger)
	if err != nil {
		return nil, fmt.Errorf("invalid --storage-tls-* settings: %w", err)
	}
	if opt != nil {
		cfg.DialOptions = append(cfg.DialOptions, opt)
	}
	tok, err := f.Auth.Token(context.Background(), opt != nil, cfg.Endpoints, tlsconf.IsLoopback)
	if err != nil {
		return nil, err
	}
	if tok != nil {
		cfg.DialOptions = append(cfg.DialOptions, tok.DialOption())
	}
	return remote.New(cfg, tel)
}
