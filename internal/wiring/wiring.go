// Package wiring builds the parts that several binaries share from their
// flags: the Badger store, the intake (queue; OTLP, Jaeger HTTP, Jaeger UDP
// and Zipkin receivers; sampling strategies) and the query HTTP server. cmd/ packages only choose which parts to run.
package wiring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

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
	"github.com/scrytrace/scry/internal/grpcserver"
	"github.com/scrytrace/scry/internal/httpserver"
	"github.com/scrytrace/scry/query"
	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/badger"
	"github.com/scrytrace/scry/storage/remote"
	"github.com/scrytrace/scry/ui"
)

// StoreFlags configure the embedded Badger store.
type StoreFlags struct {
	DataDir   string
	Retention time.Duration
}

// Add registers the flags on fs.
func (f *StoreFlags) Add(fs *pflag.FlagSet, defaultDir string) {
	fs.StringVar(&f.DataDir, "data-dir", defaultDir, "folder for the Badger store (created if missing)")
	fs.DurationVar(&f.Retention, "retention", 72*time.Hour, "how long spans are kept; older data is deleted from disk")
}

// OpenStore opens the Badger store and registers its size gauge.
func (f *StoreFlags) OpenStore(reg prometheus.Registerer, log *slog.Logger) (*badger.Store, error) {
	s, err := badger.Open(badger.Config{Dir: f.DataDir, Retention: f.Retention, Logger: log.With("part", "store")})
	if err != nil {
		return nil, err
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "scry_store_disk_bytes", Help: "Bytes the store's files take on disk.",
	}, func() float64 { return float64(s.DiskSize()) }))
	return s, nil
}

// IntakeFlags configure the queue, the receivers (OTLP, Jaeger HTTP,
// Jaeger UDP, Zipkin) and the sampling strategies served on the Jaeger HTTP
// port.
type IntakeFlags struct {
	OTLPGRPCAddr, OTLPHTTPAddr    string
	JaegerHTTPAddr, ZipkinAddr    string
	UDPCompactAddr, UDPBinaryAddr string
	UDPBufferBytes                int
	QueueBytes                    int64
	Writers                       int
	MaxMessageBytes               int
	MaxSpansPerRequest            int
	SamplingStrategiesFile        string
	SamplingReloadInterval        time.Duration
}

// Add registers the flags on fs.
func (f *IntakeFlags) Add(fs *pflag.FlagSet) {
	fs.StringVar(&f.OTLPGRPCAddr, "otlp-grpc-addr", otlpgrpc.DefaultAddr, "OTLP/gRPC listen address (empty: off)")
	fs.StringVar(&f.OTLPHTTPAddr, "otlp-http-addr", otlphttp.DefaultAddr, "OTLP/HTTP listen address, POST /v1/traces (empty: off)")
	fs.StringVar(&f.JaegerHTTPAddr, "jaeger-http-addr", jaegerhttp.DefaultAddr,
		"Jaeger HTTP listen address: Thrift spans at POST /api/traces, remote sampling at GET /api/sampling (empty: off)")
	fs.StringVar(&f.ZipkinAddr, "zipkin-addr", zipkin.DefaultAddr, "Zipkin listen address, POST /api/v2/spans in JSON or protobuf (empty: off)")
	fs.StringVar(&f.UDPCompactAddr, "udp-compact-addr", jaegerudp.DefaultCompactAddr,
		"UDP listen address for Jaeger Thrift emitBatch, compact protocol, as Jaeger clients send to an agent (empty: off)")
	fs.StringVar(&f.UDPBinaryAddr, "udp-binary-addr", jaegerudp.DefaultBinaryAddr,
		"UDP listen address for Jaeger Thrift emitBatch, binary protocol (empty: off)")
	fs.IntVar(&f.UDPBufferBytes, "udp-buffer-bytes", jaegerudp.DefaultBufferBytes,
		"UDP socket receive buffer asked of the kernel (a smaller one given is logged)")
	fs.StringVar(&f.SamplingStrategiesFile, "sampling-strategies-file", "",
		"JSON file of sampling strategies in Jaeger's --sampling.strategies-file format, served at /api/sampling (empty: every service probabilistic 0.001)")
	fs.DurationVar(&f.SamplingReloadInterval, "sampling-reload-interval", sampling.DefaultReloadInterval,
		"how often the sampling strategies file is read again, applied if changed (0: never)")
	fs.Int64Var(&f.QueueBytes, "queue-bytes", queue.DefaultMaxBytes, "bytes of requests the intake queue holds before it answers 'retry later'")
	fs.IntVar(&f.Writers, "queue-writers", queue.DefaultWriters, "goroutines committing batches to the store")
	fs.IntVar(&f.MaxMessageBytes, "max-message-bytes", otlpgrpc.DefaultMaxRecvMsgSize, "largest request accepted, after decompression")
	fs.IntVar(&f.MaxSpansPerRequest, "max-spans-per-request", otlpgrpc.DefaultMaxSpansPerRequest, "most spans accepted in one request")
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
	Parts      []app.Named          // in start order
}

// BuildIntake constructs the queue and the receivers (nothing is started).
// A sampling strategies file that cannot be read or parsed is an error.
func (f *IntakeFlags) BuildIntake(w storage.Writer, reg prometheus.Registerer, log *slog.Logger) (*Intake, error) {
	if f.SamplingStrategiesFile != "" && f.JaegerHTTPAddr == "" {
		return nil, errors.New("--sampling-strategies-file is set but --jaeger-http-addr is empty: the strategies would be served nowhere")
	}
	qc := queue.DefaultConfig()
	qc.MaxBytes, qc.Writers = f.QueueBytes, f.Writers
	q, err := queue.New(qc, w, log.With("part", "queue"), reg)
	if err != nil {
		return nil, err
	}
	m, err := collector.NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("cannot register intake metrics: %w", err)
	}
	in := &Intake{Queue: q, Parts: []app.Named{{Name: "queue", Part: q}}}
	if f.OTLPGRPCAddr != "" {
		c := otlpgrpc.DefaultConfig()
		c.Addr, c.MaxRecvMsgSize, c.MaxSpansPerRequest = f.OTLPGRPCAddr, f.MaxMessageBytes, f.MaxSpansPerRequest
		in.GRPC, err = otlpgrpc.New(c, m.Wrap("otlp_grpc", q), log.With("part", "otlp-grpc"))
		if err != nil {
			return nil, err
		}
		in.Parts = append(in.Parts, app.Named{Name: "OTLP/gRPC receiver", Part: in.GRPC})
	}
	if f.OTLPHTTPAddr != "" {
		c := otlphttp.DefaultConfig()
		c.Addr, c.MaxRequestBytes, c.MaxSpansPerRequest = f.OTLPHTTPAddr, int64(f.MaxMessageBytes), f.MaxSpansPerRequest
		in.HTTP, err = otlphttp.New(c, m.Wrap("otlp_http", q), log.With("part", "otlp-http"))
		if err != nil {
			return nil, err
		}
		in.Parts = append(in.Parts, app.Named{Name: "OTLP/HTTP receiver", Part: in.HTTP})
	}
	in.Sampling, err = sampling.New(sampling.Config{File: f.SamplingStrategiesFile, ReloadInterval: f.SamplingReloadInterval},
		log.With("part", "sampling"), reg)
	if err != nil {
		return nil, err
	}
	in.Parts = append(in.Parts, app.Named{Name: "sampling strategies", Part: in.Sampling})
	if f.JaegerHTTPAddr != "" {
		c := jaegerhttp.DefaultConfig()
		c.Addr, c.MaxRequestBytes, c.MaxSpansPerRequest = f.JaegerHTTPAddr, int64(f.MaxMessageBytes), f.MaxSpansPerRequest
		in.JaegerHTTP, err = jaegerhttp.New(c, m.Wrap("jaeger_http", q), in.Sampling.Handler(), log.With("part", "jaeger-http"))
		if err != nil {
			return nil, err
		}
		in.Parts = append(in.Parts, app.Named{Name: "Jaeger HTTP receiver", Part: in.JaegerHTTP})
	}
	if f.UDPCompactAddr != "" || f.UDPBinaryAddr != "" {
		if err := f.buildUDP(in, m, reg, log); err != nil {
			return nil, err
		}
	}
	if f.ZipkinAddr != "" {
		c := zipkin.DefaultConfig()
		c.Addr, c.MaxRequestBytes, c.MaxSpansPerRequest = f.ZipkinAddr, int64(f.MaxMessageBytes), f.MaxSpansPerRequest
		in.Zipkin, err = zipkin.New(c, m.Wrap("zipkin", q), log.With("part", "zipkin"))
		if err != nil {
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
func (f *IntakeFlags) buildUDP(in *Intake, m *collector.Metrics, reg prometheus.Registerer, log *slog.Logger) error {
	log = log.With("part", "jaeger-udp")
	sink, err := jaegerudp.NewConsumerSink(map[string]collector.Consumer{
		jaegerudp.TransportCompact: m.Wrap(jaegerudp.TransportCompact, in.Queue),
		jaegerudp.TransportBinary:  m.Wrap(jaegerudp.TransportBinary, in.Queue),
	}, udpMaxInFlight, log)
	if err != nil {
		return err
	}
	c := jaegerudp.DefaultConfig()
	c.CompactAddr, c.BinaryAddr, c.BufferBytes = f.UDPCompactAddr, f.UDPBinaryAddr, f.UDPBufferBytes
	if in.UDP, err = jaegerudp.New(c, sink, log, reg); err != nil {
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

// QueryFlags configure the query HTTP server.
type QueryFlags struct {
	HTTPAddr string
	BasePath string
}

// Add registers the flags on fs.
func (f *QueryFlags) Add(fs *pflag.FlagSet) {
	fs.StringVar(&f.HTTPAddr, "http-addr", "127.0.0.1:16686", "query HTTP listen address: Jaeger's /api, /api/v3 and the UI")
	fs.StringVar(&f.BasePath, "base-path", "", "URL prefix to serve the API and UI under (for a reverse proxy), e.g. /scry")
}

// BuildQuery constructs the query HTTP server over r, with the web UI and
// latency metrics.
func (f *QueryFlags) BuildQuery(r storage.Reader, reg prometheus.Registerer, log *slog.Logger) (*httpserver.Server, error) {
	h, err := query.NewHandler(query.Config{BasePath: f.BasePath, UI: ui.Handler(f.BasePath)}, r, log.With("part", "query"))
	if err != nil {
		return nil, err
	}
	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "scry_query_request_duration_seconds",
		Help:    "Query HTTP request latency, by method and status code.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"method", "code"})
	if err := reg.Register(lat); err != nil {
		return nil, fmt.Errorf("cannot register query metrics: %w", err)
	}
	return httpserver.New("query HTTP", f.HTTPAddr, instrument(h, lat), log), nil
}

func instrument(h http.Handler, lat *prometheus.HistogramVec) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		t := time.Now()
		h.ServeHTTP(rec, r)
		lat.WithLabelValues(r.Method, fmt.Sprint(rec.code)).Observe(time.Since(t).Seconds())
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

// StoreCloser makes a store a Part whose Shutdown closes it.
func StoreCloser(s storage.Store) app.Part {
	return app.Funcs{ShutdownFunc: func(context.Context) error { return s.Close() }}
}

// NewStorageServer serves r's read API (storage/remote) on addr.
func NewStorageServer(addr string, r storage.Reader, log *slog.Logger) *grpcserver.Server {
	srv := grpc.NewServer(grpc.MaxSendMsgSize(64 << 20))
	remote.NewServer(r, log.With("part", "storage-api")).Register(srv)
	return grpcserver.New("storage API", addr, srv, log)
}

// RemoteFlags configure scry-query's connection to the collectors' stores.
type RemoteFlags struct {
	Endpoints       []string
	ResolveInterval time.Duration
}

// Add registers the flags on fs.
func (f *RemoteFlags) Add(fs *pflag.FlagSet) {
	fs.StringSliceVar(&f.Endpoints, "storage", []string{"127.0.0.1:17271"},
		"a collector's storage API, host:port; repeat or separate by commas for several. A DNS name that resolves to several addresses (a Kubernetes headless Service) reaches each of them")
	fs.DurationVar(&f.ResolveInterval, "storage-resolve-interval", remote.DefaultResolveInterval, "how often DNS names in --storage are resolved again")
}

// Client connects to the collectors' stores.
func (f *RemoteFlags) Client(log *slog.Logger) (*remote.Client, error) {
	return remote.New(remote.Config{Endpoints: f.Endpoints, ResolveInterval: f.ResolveInterval, Logger: log.With("part", "storage-client")})
}
