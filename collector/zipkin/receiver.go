package zipkin

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/scrytrace/scry/collector"
	"github.com/scrytrace/scry/collector/internal/httpintake"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/model"
	zipkinmodel "github.com/scrytrace/scry/model/zipkin"
)

// Defaults of Config.
const (
	DefaultAddr               = "127.0.0.1:9411"
	DefaultMaxRequestBytes    = 16 << 20 // after decompression
	DefaultMaxSpansPerRequest = 100_000
	DefaultRetryAfter         = time.Second
)

// URL paths served.
const (
	SpansPath   = "/api/v2/spans"
	SpansV1Path = "/api/v1/spans" // answered 400: v1 is not supported
)

// Content types of the two v2 encodings.
const (
	ContentTypeJSON     = "application/json"
	ContentTypeProtobuf = "application/x-protobuf"
)

// Transport is the receiver's transport label in collector.Metrics.
const Transport = "zipkin"

// receiverName names the receiver in errors and logs.
const receiverName = "zipkin receiver"

// Config sets up a Receiver: its listen address and request limits.
type Config struct {
	httpintake.Settings
}

// DefaultConfig returns the defaults: 127.0.0.1:9411, 16 MiB bodies, 100,000
// spans per request, Retry-After of one second.
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

// Receiver is the Zipkin receiver. Its methods are safe for concurrent use.
type Receiver struct {
	base *httpintake.Base
}

// New returns a receiver handing spans to consumer. logger may be nil
// and counting them under Transport in m.
func New(cfg Config, consumer collector.Consumer, m *collector.Metrics, tel telemetry.Settings) (*Receiver, error) {
	r := &Receiver{}
	mux := http.NewServeMux()
	mux.HandleFunc(SpansPath, r.handleSpans)
	mux.HandleFunc(SpansV1Path, func(w http.ResponseWriter, _ *http.Request) {
		httpintake.WriteText(w, http.StatusBadRequest,
			"zipkin v1 spans are not supported: send zipkin v2 spans (JSON or protobuf) to "+SpansPath)
	})
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

// decoder converts a request body of one encoding.
type decoder func([]byte) ([]*model.Span, []error, error)

func (r *Receiver) handleSpans(w http.ResponseWriter, req *http.Request) {
	if !httpintake.RequirePost(w, req) {
		return
	}
	var decode decoder
	var what string
	mt, ok := httpintake.MediaType(req.Header.Get("Content-Type"))
	switch {
	case !ok:
	case mt == ContentTypeJSON, mt == "":
		decode, what = zipkinmodel.SpansFromJSON, "json"
	case mt == ContentTypeProtobuf:
		decode, what = zipkinmodel.SpansFromProto, "protobuf"
	}
	if decode == nil {
		httpintake.WriteText(w, http.StatusUnsupportedMediaType, fmt.Sprintf(
			"unsupported content type %q, use %s or %s", req.Header.Get("Content-Type"), ContentTypeJSON, ContentTypeProtobuf))
		return
	}
	body, herr := httpintake.ReadBody(w, req, r.base.Settings.MaxRequestBytes)
	if herr != nil {
		httpintake.WriteText(w, herr.Code, herr.Msg)
		return
	}
	spans, rejected, err := decode(body)
	if err != nil {
		httpintake.WriteText(w, http.StatusBadRequest, fmt.Sprintf("cannot decode zipkin v2 %s spans: %v", what, err))
		return
	}
	res, err := r.base.Deliver(req.Context(), spans, rejected, len(body))
	if err != nil {
		httpintake.WriteError(w, err, r.base.Settings.RetryAfter, r.base.Logger)
		return
	}
	if res.Rejected > 0 {
		r.base.Logger.Debug("zipkin spans partially rejected", "spans", res.Spans, "rejected", res.Rejected, "reason", res.Message)
	}
	httpintake.WriteText(w, http.StatusAccepted, res.Message)
}
