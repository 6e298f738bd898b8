// Package tracegen sends synthetic traces (internal/workload) to an OTLP
// endpoint and measures what the server accepted and how fast it answered.
// cmd/scry-tracegen and `make bench` use it.
package tracegen

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/scrytrace/scry/internal/workload"
	"github.com/scrytrace/scry/model"
)

// Config says what to send.
type Config struct {
	Endpoint        string
	Protocol        string // grpc or http
	Rate            float64
	Duration        time.Duration
	Workers         int
	BatchSpans      int
	Services        int
	SpansPerTrace   int
	ExtraAttributes int
	WatchPID        int
	// TLS, when set, is the client TLS of the exports (and of an https
	// query URL); an HTTP endpoint given as host:port then gets https.
	TLS *tls.Config
	// Authorization, when set, gives the Authorization header (gRPC
	// metadata) of every export: "Bearer <token>".
	Authorization func() string
	// Tenant, when set, is sent as the x-tenant header (gRPC metadata) of
	// every export, for a server with multi-tenancy on.
	Tenant string
}

// Validate reports what is wrong with c.
func (c *Config) Validate() error {
	var errs []error
	if c.Protocol != "grpc" && c.Protocol != "http" {
		errs = append(errs, fmt.Errorf("protocol %q is not grpc or http", c.Protocol))
	}
	if c.Workers <= 0 || c.BatchSpans <= 0 || c.Services <= 0 || c.SpansPerTrace <= 0 {
		errs = append(errs, errors.New("workers, batch, services and spans per trace must be positive"))
	}
	if c.Duration < 0 {
		errs = append(errs, errors.New("duration must not be negative"))
	}
	if c.Rate < 0 {
		errs = append(errs, errors.New("rate must not be negative"))
	}
	return errors.Join(errs...)
}

// Result is what a run measured.
type Result struct {
	Elapsed          time.Duration
	Accepted, Failed int64 // spans
	FailedExports    int64
	Latencies        []time.Duration // per successful export, sorted
	PeakRSSBytes     int64           // of WatchPID, 0 if not watched
	FirstError       string
}

// SpansPerSecond is the accepted throughput.
func (r Result) SpansPerSecond() float64 { return float64(r.Accepted) / r.Elapsed.Seconds() }

// Percentile returns the p-th percentile export latency (0 < p <= 100).
func (r Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(float64(len(r.Latencies)-1) * p / 100)
	return r.Latencies[i]
}

func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "accepted %d spans in %v: %.0f spans/s\n", r.Accepted, r.Elapsed.Round(time.Millisecond), r.SpansPerSecond())
	fmt.Fprintf(&b, "export latency p50 %v p90 %v p99 %v max %v\n",
		r.Percentile(50).Round(time.Microsecond), r.Percentile(90).Round(time.Microsecond),
		r.Percentile(99).Round(time.Microsecond), r.Percentile(100).Round(time.Microsecond))
	fmt.Fprintf(&b, "refused or failed: %d spans in %d exports", r.Failed, r.FailedExports)
	if r.FirstError != "" {
		fmt.Fprintf(&b, " (first: %s)", r.FirstError)
	}
	if r.PeakRSSBytes > 0 {
		fmt.Fprintf(&b, "\nserver peak RSS %.0f MB", float64(r.PeakRSSBytes)/(1<<20))
	}
	return b.String()
}

type exporter func(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) error

// Run sends for cfg.Duration, writing a progress line to progress each
// second, and returns what it measured.
func Run(ctx context.Context, cfg Config, progress io.Writer) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, fmt.Errorf("invalid tracegen config: %w", err)
	}
	export, closeFn, err := newExporter(cfg)
	if err != nil {
		return Result{}, err
	}
	defer closeFn()

	var accepted, failed, failedExports atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr string
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	var wg sync.WaitGroup
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(cfg.BatchSpans) * float64(cfg.Workers) / cfg.Rate)
	}
	for w := range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := workload.New(workload.Config{Services: cfg.Services, SpansPerTrace: cfg.SpansPerTrace,
				ExtraAttributes: cfg.ExtraAttributes, Seed: uint64(start.UnixNano()) + uint64(w)})
			next := time.Now().Add(time.Duration(w) * interval / time.Duration(cfg.Workers))
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if interval > 0 {
					if d := time.Until(next); d > 0 {
						time.Sleep(d)
					}
					next = next.Add(interval)
				}
				spans := g.Batch(cfg.BatchSpans, time.Now(), time.Microsecond)
				req := &coltracepb.ExportTraceServiceRequest{ResourceSpans: model.SpansToOTLP(spans)}
				t := time.Now()
				err := export(ctx, req)
				d := time.Since(t)
				if err != nil {
					failed.Add(int64(len(spans)))
					failedExports.Add(1)
					mu.Lock()
					if firstErr == "" {
						firstErr = err.Error()
					}
					mu.Unlock()
					continue
				}
				accepted.Add(int64(len(spans)))
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	done := make(chan struct{})
	var peak atomic.Int64
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var last int64
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				if cfg.WatchPID > 0 {
					peak.Store(max(peak.Load(), rss(cfg.WatchPID)))
				}
				a := accepted.Load()
				fmt.Fprintf(progress, "\r%4.0fs  accepted %d spans  %.0f spans/s  refused %d      ",
					now.Sub(start).Seconds(), a, float64(a-last), failed.Load())
				last = a
			}
		}
	}()
	wg.Wait()
	close(done)
	fmt.Fprintln(progress)
	if cfg.WatchPID > 0 {
		peak.Store(max(peak.Load(), hwm(cfg.WatchPID)))
	}
	slices.Sort(lat)
	return Result{Elapsed: time.Since(start), Accepted: accepted.Load(), Failed: failed.Load(),
		FailedExports: failedExports.Load(), Latencies: lat, PeakRSSBytes: peak.Load(), FirstError: firstErr}, nil
}

func newExporter(cfg Config) (exporter, func(), error) {
	if cfg.Protocol == "grpc" {
		creds := insecure.NewCredentials()
		if cfg.TLS != nil {
			creds = credentials.NewTLS(cfg.TLS)
		}
		opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
		if cfg.Authorization != nil || cfg.Tenant != "" {
			opts = append(opts, grpc.WithPerRPCCredentials(perRPC{authz: cfg.Authorization, tenant: cfg.Tenant}))
		}
		conn, err := grpc.NewClient(cfg.Endpoint, opts...)
		if err != nil {
			return nil, nil, fmt.Errorf("cannot connect to %s: %w", cfg.Endpoint, err)
		}
		c := coltracepb.NewTraceServiceClient(conn)
		return func(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) error {
			_, err := c.Export(ctx, req)
			return err
		}, func() { conn.Close() }, nil
	}
	url := cfg.Endpoint
	if !strings.Contains(url, "://") {
		scheme := "http://"
		if cfg.TLS != nil {
			scheme = "https://"
		}
		url = scheme + url + "/v1/traces"
	}
	client := NewHTTPClient(cfg.TLS)
	return func(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) error {
		body, err := proto.Marshal(req)
		if err != nil {
			return err
		}
		hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		hr.Header.Set("Content-Type", "application/x-protobuf")
		if cfg.Authorization != nil {
			hr.Header.Set("Authorization", cfg.Authorization())
		}
		if cfg.Tenant != "" {
			hr.Header.Set(TenantHeader, cfg.Tenant)
		}
		resp, err := client.Do(hr)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return nil
	}, func() {}, nil
}

// TenantHeader is the header that carries --tenant, Jaeger's and Scry's
// default tenant header.
const TenantHeader = "x-tenant"

// perRPC sends an Authorization value and a tenant with every gRPC call.
type perRPC struct {
	authz  func() string // nil: none
	tenant string        // "": none
}

func (p perRPC) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	md := map[string]string{}
	if p.authz != nil {
		md["authorization"] = p.authz()
	}
	if p.tenant != "" {
		md[TenantHeader] = p.tenant
	}
	return md, nil
}

// RequireTransportSecurity says no: the command refuses a token in plain
// text to an address that is not loopback before it gets here.
func (perRPC) RequireTransportSecurity() bool { return false }

// NewHTTPClient returns the client of HTTP exports and queries, with the
// client TLS tc (nil: the system's CAs for https).
func NewHTTPClient(tc *tls.Config) *http.Client {
	c := &http.Client{Timeout: 30 * time.Second}
	if tc != nil {
		c.Transport = &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true, Proxy: http.ProxyFromEnvironment}
	}
	return c
}

// rss and hwm read a process's resident and peak resident memory in bytes.
func rss(pid int) int64 { return procStatus(pid, "VmRSS:") }
func hwm(pid int) int64 { return procStatus(pid, "VmHWM:") }

func procStatus(pid int, field string) int64 {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
