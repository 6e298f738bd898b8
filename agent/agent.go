package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scrytrace/scry/agent/sampling"
	"github.com/scrytrace/scry/agent/spool"
	"github.com/scrytrace/scry/collector"
	"github.com/scrytrace/scry/collector/jaegerudp"
	"github.com/scrytrace/scry/collector/otlpgrpc"
	"github.com/scrytrace/scry/collector/otlphttp"
	"github.com/scrytrace/scry/internal/httpserver"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/tlsconf"
)

// Agent is the sidecar: intake over UDP and OTLP into a bounded buffer,
// batches forwarded to collectors, an optional spool, and the sampling
// endpoint. Its methods are safe for concurrent use.
type Agent struct {
	cfg    Config
	tel    telemetry.Settings
	logger *slog.Logger
	m      *metrics
	intake map[string]*collector.TransportMetrics // by transport
	buf    *buffer
	eps    *endpoints

	udp      *jaegerudp.Server
	grpcRecv *otlpgrpc.Receiver // nil when off
	httpRecv *otlphttp.Receiver // nil when off
	httpSrv  *httpserver.Server // serves httpRecv's handler with its tenant headers; nil when off
	sampling *httpserver.Server // nil when off

	tenantHeaders []string // Config.TenantHeader, then X-Scope-OrgID; lower case

	throttled *telemetry.Throttle
	stopping  atomic.Bool // intake refuses new spans

	mu         sync.Mutex
	state      int // 0 new, 1 started, 2 shut down
	samplingUp bool
	spool      *spool.Spool
	fwdCancel  context.CancelFunc
	forwards   sync.WaitGroup
	bgCancel   context.CancelFunc // resolver and spool replay
	bg         sync.WaitGroup

	lifeMu       sync.Mutex // held by Start: Shutdown waits for it
	shutdownOnce sync.Once
	shutdownErr  error
}

// Addrs are the addresses an agent listens on; nil for those turned off.
type Addrs struct {
	UDPCompact, UDPBinary net.Addr
	OTLPGRPC, OTLPHTTP    net.Addr
	Sampling              net.Addr
}

// New validates cfg and builds an agent; nothing listens before Start. Its
// metrics are registered on tel.Registerer.
func New(cfg Config, tel telemetry.Settings) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tel = tel.Complete()
	cfg.TenantHeader = strings.ToLower(cfg.TenantHeader)
	reg := tel.Registerer
	a := &Agent{cfg: cfg, tel: tel, logger: tel.Logger, throttled: telemetry.NewThrottle(tel, 10*time.Second)}
	a.tenantHeaders = []string{cfg.TenantHeader}
	if cfg.TenantHeader != orgIDHeader {
		a.tenantHeaders = append(a.tenantHeaders, orgIDHeader)
	}
	a.buf = newBuffer(cfg.BufferBytes, cfg.BatchSpans, cfg.BatchTimeout, a.releaseSpool)
	m, err := newMetrics(reg, a)
	if err != nil {
		return nil, err
	}
	a.m = m
	intake, err := collector.NewMetrics(reg, "scry_agent", "taken into the buffer (and the spool, if any) and acknowledged")
	if err != nil {
		return nil, fmt.Errorf("cannot register agent metrics: %w", err)
	}
	a.intake = map[string]*collector.TransportMetrics{}
	for _, tr := range []string{transportUDPCompact, transportUDPBinary, transportSpool} {
		a.intake[tr] = intake.Transport(tr)
	}
	uc := jaegerudp.Config{
		CompactAddr: cfg.UDPCompactAddr, BinaryAddr: cfg.UDPBinaryAddr,
		BufferBytes: cfg.UDPBufferBytes, QueueBytes: cfg.UDPQueueBytes, Workers: cfg.UDPWorkers,
		MetricPrefix: "scry_agent",
	}
	if err := tlsconf.CheckUDP(cfg.ListenTLS.Policy(), cfg.UDPCompactAddr, cfg.UDPBinaryAddr); err != nil {
		return nil, err
	}
	cfg.ListenTLS.WarnUDP(cfg.UDPCompactAddr, cfg.UDPBinaryAddr)
	if a.udp, err = jaegerudp.New(uc, udpSink{a: a}, tel.For("jaeger-udp")); err != nil {
		return nil, err
	}
	um := a.udp.Metrics()
	m.packets, m.packetsDropped = um.PacketsReceived, um.PacketsDropped
	if cfg.OTLPGRPCAddr != "" {
		c := otlpgrpc.DefaultConfig()
		c.Addr, c.MaxRequestBytes, c.MaxSpansPerRequest, c.RetryAfter = cfg.OTLPGRPCAddr, cfg.MaxRequestBytes, cfg.MaxSpansPerRequest, cfg.RetryAfter
		c.TLS = cfg.ListenTLS.For(tlsconf.OTLPGRPC)
		if a.grpcRecv, err = otlpgrpc.New(c, otlpConsumer{a: a}, intake, tel.For("otlp-grpc")); err != nil {
			return nil, err
		}
	}
	if cfg.OTLPHTTPAddr != "" {
		c := otlphttp.DefaultConfig()
		c.Addr, c.MaxRequestBytes, c.MaxSpansPerRequest, c.RetryAfter = cfg.OTLPHTTPAddr, cfg.MaxRequestBytes, cfg.MaxSpansPerRequest, cfg.RetryAfter
		c.TLS = cfg.ListenTLS.For(tlsconf.OTLPHTTP)
		if a.httpRecv, err = otlphttp.New(c, otlpConsumer{a: a}, intake, tel.For("otlp-http")); err != nil {
			return nil, err
		}
		// The receiver's handler on a server of the agent's, which decides
		// the tenant from the headers (the receiver's context has none).
		a.httpSrv = httpserver.New("otlp http receiver", c.Addr, a.withTenant(a.httpRecv.Handler()), c.TLS, tel.For("otlp-http"))
	}
	if cfg.SamplingAddr != "" {
		sc := sampling.DefaultConfig()
		sc.URL = cfg.SamplingURL
		if cfg.SamplingTLS != nil || cfg.SamplingAuthorization != nil {
			var rt http.RoundTripper = http.DefaultTransport
			if cfg.SamplingTLS != nil {
				rt = &http.Transport{TLSClientConfig: cfg.SamplingTLS, Proxy: http.ProxyFromEnvironment}
			}
			if cfg.SamplingAuthorization != nil {
				rt = authorizing{base: rt, value: cfg.SamplingAuthorization}
			}
			sc.Client = &http.Client{Transport: rt}
		}
		p, err := sampling.New(sc, tel.For("sampling"))
		if err != nil {
			return nil, err
		}
		a.sampling = httpserver.New("sampling", cfg.SamplingAddr, p, cfg.ListenTLS.For(tlsconf.Sampling), tel.For("sampling"))
	}
	if a.eps, err = newEndpoints(cfg, tel.For("forwarder")); err != nil {
		return nil, err
	}
	for _, state := range []string{"healthy", "failing"} {
		err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "scry_agent_collector_addresses", Help: "Collector addresses known, by state: healthy, or failing (backing off).",
			ConstLabels: prometheus.Labels{"state": state},
		}, func() float64 {
			h, f := a.eps.counts()
			if state == "healthy" {
				return float64(h)
			}
			return float64(f)
		}))
		if err != nil {
			a.eps.close()
			return nil, fmt.Errorf("cannot register agent metrics: %w", err)
		}
	}
	return a, nil
}

// Start opens the spool, resolves the collectors, starts forwarding and
// binds every listener. If any step fails, what was started is stopped
// again. The context bounds the start only.
func (a *Agent) Start(ctx context.Context) error {
	a.lifeMu.Lock()
	defer a.lifeMu.Unlock()
	a.mu.Lock()
	if a.state != 0 {
		a.mu.Unlock()
		return errors.New("cannot start agent: already started or shut down")
	}
	a.state = 1
	a.mu.Unlock()
	if err := a.start(ctx); err != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a.shutdownOnce.Do(func() { a.shutdownErr = a.shutdown(sctx) })
		return err
	}
	return nil
}

func (a *Agent) start(ctx context.Context) error {
	if a.cfg.SpoolDir != "" {
		sp, err := spool.Open(spool.Config{Dir: a.cfg.SpoolDir, MaxBytes: a.cfg.SpoolBytes}, a.tel.For("spool"))
		if err != nil {
			return err
		}
		a.mu.Lock()
		a.spool = sp
		a.mu.Unlock()
	}
	bgCtx, bgCancel := context.WithCancel(context.Background())
	fwdCtx, fwdCancel := context.WithCancel(context.Background())
	context.AfterFunc(fwdCtx, a.buf.wakeAll)
	a.mu.Lock()
	a.bgCancel, a.fwdCancel = bgCancel, fwdCancel
	a.mu.Unlock()

	rctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	a.eps.resolveAll(rctx)
	cancel()
	a.bg.Go(func() { a.eps.resolveLoop(bgCtx, a.cfg.ResolveInterval) })
	for range a.cfg.Forwarders {
		a.forwards.Go(func() { a.forwardLoop(fwdCtx) })
	}
	if a.spool != nil && a.spool.HasOld() {
		a.bg.Go(func() { a.replaySpool(bgCtx) })
	}

	if a.grpcRecv != nil {
		if err := a.grpcRecv.Start(ctx); err != nil {
			return err
		}
	}
	if a.httpSrv != nil {
		if err := a.httpSrv.Start(ctx); err != nil {
			return err
		}
	}
	if err := a.udp.Start(ctx); err != nil {
		return err
	}
	if a.sampling != nil {
		if err := a.sampling.Start(ctx); err != nil {
			return err
		}
		a.mu.Lock()
		a.samplingUp = true
		a.mu.Unlock()
	}
	a.logger.Info("agent started", "collectors", a.cfg.Collectors, "spool", a.cfg.SpoolDir, "tenant", a.cfg.Tenant)
	return nil
}

// Addrs returns the addresses the agent listens on (after Start).
func (a *Agent) Addrs() Addrs {
	var ad Addrs
	if a.grpcRecv != nil {
		ad.OTLPGRPC = a.grpcRecv.Addr()
	}
	if a.httpSrv != nil {
		ad.OTLPHTTP = a.httpSrv.Addr()
	}
	u := a.udp.Addrs()
	ad.UDPCompact, ad.UDPBinary = u.Compact, u.Binary
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sampling != nil && a.samplingUp {
		ad.Sampling = a.sampling.Addr()
	}
	return ad
}

// Shutdown stops intake (the OTLP receivers answer the exports in flight
// first), forwards what the buffer holds within ctx's deadline, less a
// moment kept to spool the rest when there is a spool, and stops. Spans
// neither forwarded nor spooled are counted dropped (reason shutdown) and
// make the error. Safe to call twice, before Start, and while Start runs
// (it waits for it).
func (a *Agent) Shutdown(ctx context.Context) error {
	a.lifeMu.Lock()
	defer a.lifeMu.Unlock()
	a.shutdownOnce.Do(func() { a.shutdownErr = a.shutdown(ctx) })
	return a.shutdownErr
}

func (a *Agent) shutdown(ctx context.Context) error {
	a.mu.Lock()
	started := a.state == 1
	a.state = 2
	a.mu.Unlock()
	a.stopping.Store(true)
	if !started {
		a.eps.close()
		return nil
	}
	var errs []error
	// Stop intake.
	if a.grpcRecv != nil {
		if err := a.grpcRecv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if a.httpSrv != nil {
		if err := a.httpSrv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if a.sampling != nil {
		if err := a.sampling.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("cannot shut down sampling server: %w", err))
		}
	}
	if err := a.udp.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	if a.bgCancel != nil {
		a.bgCancel() // stops spool replay and resolution
	}
	a.bg.Wait()

	// Flush, keeping a moment to spool what is left.
	a.buf.close()
	flushed := make(chan struct{})
	go func() { a.forwards.Wait(); close(flushed) }()
	var deadline <-chan time.Time
	if d, ok := ctx.Deadline(); ok {
		left := time.Until(d)
		if a.spool != nil {
			left -= min(time.Second, left/5)
		}
		t := time.NewTimer(left)
		defer t.Stop()
		deadline = t.C
	}
	select {
	case <-flushed:
	case <-deadline:
	case <-ctx.Done():
	}
	if a.fwdCancel != nil {
		a.fwdCancel()
	}
	<-flushed
	if n := a.spoolLeftovers(); n > 0 {
		errs = append(errs, fmt.Errorf("cannot forward %d spans before the shutdown deadline; they are dropped", n))
	}
	a.eps.close()
	if a.spool != nil {
		if err := a.spool.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	a.logger.Info("agent stopped")
	return errors.Join(errs...)
}

// releaseSpool releases a spool record whose spans are all forwarded.
func (a *Agent) releaseSpool(r *spool.Ref) {
	if a.spool != nil {
		a.spool.Release(r)
	}
}

func (a *Agent) spoolBytes() int64 {
	a.mu.Lock()
	sp := a.spool
	a.mu.Unlock()
	if sp == nil {
		return 0
	}
	return sp.Bytes()
}

// dropped counts n spans dropped for reason.
func (a *Agent) dropped(reason string, n int) {
	a.m.dropped.WithLabelValues(reason).Add(float64(n))
}

// authorizing sends the Authorization header value gives with every
// request.
type authorizing struct {
	base  http.RoundTripper
	value func() string
}

func (a authorizing) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", a.value())
	return a.base.RoundTrip(r)
}
