package jaegerhttp

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/scrytrace/scry/collector"
	"github.com/scrytrace/scry/collector/internal/httpintake"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/model/jaegerthrift"
)

// Defaults of Config.
const (
	DefaultAddr               = "127.0.0.1:14268"
	DefaultMaxRequestBytes    = 16 << 20 // after decompression
	DefaultMaxSpansPerRequest = 100_000
	DefaultRetryAfter         = time.Second
)

// URL paths served.
const (
	TracesPath   = "/api/traces"
	SamplingPath = "/api/sampling"
)

// Content types of a Thrift Batch in the binary protocol.
const (
	ContentTypeThrift       = "application/x-thrift"
	ContentTypeThriftBinary = "application/vnd.apache.thrift.binary"
)

// Transport is the receiver's transport label in collector.Metrics.
const Transport = "jaeger_http"

// receiverName names the receiver in errors and logs.
const receiverName = "jaeger http receiver"

// Config sets up a Receiver: its listen address and request limits.
type Config struct {
	httpintake.Settings
}

// DefaultConfig returns the defaults: 127.0.0.1:14268, 16 MiB bodies,
// 100,000 spans per request, Retry-After of one second.
func DefaultConfig() Config {
	return Config{Settings: httpintake.Settings{
		Addr:               DefaultAddr,
		MaxRequestBytes:    DefaultMaxRequestBytes,
		MaxSpansPerRequest: DefaultMaxSpansPerRequest,
		RetryAfter:         DefaultRetryAfter,
	}}
}

// Validate reports what is wrong with c, if anything.
func (c Config) Validate() error {
	return c.Settings.Validate(receiverName)
}

// Receiver is the Jaeger HTTP receiver. Its methods are safe for concurrent
// use.
type Receiver struct {
	base *httpintake.Base
}

// New returns a receiver handing spans to consumer and, if sampling is not
// nil, serving it at SamplingPath (otherwise that path is 404). logger may be
// nil (nothing is logged).
func New(cfg Config, consumer collector.Consumer, m *collector.Metrics, sampling http.Handler, tel telemetry.Settings) (*Receiver, error) {
	r := &Receiver{}
	mux := http.NewServeMux()
	mux.HandleFunc(TracesPath, r.handleTraces)
	if sampling != nil {
		mux.Handle(SamplingPath, sampling)
	}
	var err error
	if r.base, err = httpintake.NewBase(receiverName, Transport, cfg.Settings, consumer, m, mux, tel); err != nil {
		return nil, err
	}
	return r, nil
}

// Handler returns the receiver's HTTP handler, for mounting on another
// server; Start is not needed to use it.
func (r *Receiver) Handler() http.Handler { return r.base.Handler() }

// Start binds Config.Addr and serves in the background until Shutdown.
func (r *Receiver) Start(ctx context.Context) error { return r.base.Start(ctx) }

// Addr returns the address the receiver listens on, or nil before Start.
func (r *Receiver) Addr() net.Addr { return r.base.Addr() }

// Shutdown stops accepting connections and waits for requests in flight to
// be answered. If ctx ends first it closes every connection and returns an
// error wrapping ctx's. It is safe to call more than once, and before Start.
func (r *Receiver) Shutdown(ctx context.Context) error { return r.base.Shutdown(ctx) }

func (r *Receiver) handleTraces(w http.ResponseWriter, req *http.Request) {
	if !httpintake.RequirePost(w, req) {
		return
	}
	if mt, _ := httpintake.MediaType(req.Header.Get("Content-Type")); mt != ContentTypeThrift && mt != ContentTypeThriftBinary {
		httpintake.WriteText(w, http.StatusUnsupportedMediaType, fmt.Sprintf(
			"unsupported content type %q, use %s (a jaeger.Batch in thrift's binary protocol)", req.Header.Get("Content-Type"), ContentTypeThrift))
		return
	}
	body, herr := httpintake.ReadBody(w, req, r.base.Settings.MaxRequestBytes)
	if herr != nil {
		httpintake.WriteText(w, herr.Code, herr.Msg)
		return
	}
	batch, err := jaegerthrift.DecodeBatch(body)
	if err != nil {
		httpintake.WriteText(w, http.StatusBadRequest, fmt.Sprintf("cannot decode jaeger batch: %v", err))
		return
	}
	spans, rejected := jaegerthrift.SpansFromBatch(batch)
	res, err := r.base.Deliver(req.Context(), spans, rejected, len(body))
	if err != nil {
		httpintake.WriteError(w, err, r.base.Settings.RetryAfter, r.base.Logger)
		return
	}
	if res.Rejected > 0 {
		r.base.Logger.Debug("jaeger batch partially rejected", "spans", res.Spans, "rejected", res.Rejected, "reason", res.Message)
	}
	httpintake.WriteText(w, http.StatusAccepted, res.Message)
}
