package sampling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/model/jaegersampling"
)

// Defaults of Config.
const (
	DefaultAddr        = "127.0.0.1:5778"
	DefaultURL         = "http://127.0.0.1:14268/api/sampling"
	DefaultTimeout     = 2 * time.Second
	DefaultMaxServices = 10_000
)

// maxBody bounds a collector's answer.
const maxBody = 1 << 20

// Config sets up a Proxy.
type Config struct {
	// URL is the collector's sampling endpoint; ?service=NAME is added.
	URL string
	// Timeout bounds one fetch from the collector.
	Timeout time.Duration
	// MaxServices bounds the services whose strategy is cached.
	MaxServices int
	// Client makes the requests; nil: a client of its own.
	Client *http.Client
}

// DefaultConfig returns the defaults: the collector's sampling endpoint on
// 127.0.0.1, a 2-second timeout, 10,000 services cached.
func DefaultConfig() Config {
	return Config{URL: DefaultURL, Timeout: DefaultTimeout, MaxServices: DefaultMaxServices}
}

// Validate reports what is wrong with c, if anything.
func (c Config) Validate() error {
	var errs []error
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("url %q must be an http(s) URL", c.URL))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout must be positive, got %s", c.Timeout))
	}
	if c.MaxServices <= 0 {
		errs = append(errs, fmt.Errorf("max services must be positive, got %d", c.MaxServices))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid sampling proxy config: %w", err)
	}
	return nil
}

// Proxy serves sampling strategies fetched from the collector. It is an
// http.Handler, safe for concurrent use.
type Proxy struct {
	cfg    Config
	upURL  *url.URL
	client *http.Client
	logger *slog.Logger
	served *prometheus.CounterVec

	mu     sync.Mutex
	cache  map[string]jaegersampling.Response
	failed bool // the last fetch failed: log only changes
}

// New returns a proxy for cfg.URL, its metrics registered on
// tel.Registerer.
func New(cfg Config, tel telemetry.Settings) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.URL) // checked by Validate
	tel = tel.Complete()
	logger := tel.Logger
	client := cfg.Client
	if client == nil {
		client = &http.Client{}
	}
	p := &Proxy{cfg: cfg, upURL: u, client: client, logger: logger, cache: map[string]jaegersampling.Response{},
		served: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scry_agent_sampling_requests_total",
			Help: "Sampling strategy requests, by where the answer came from: collector, cache (collector unreachable), default (nothing fetched yet), bad_request.",
		}, []string{"source"})}
	if err := tel.Registerer.Register(p.served); err != nil {
		return nil, fmt.Errorf("cannot register sampling metrics: %w", err)
	}
	return p, nil
}

// ServeHTTP answers GET /sampling?service=NAME (strategy type as a name)
// and GET /?service=NAME (as a number).
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var legacy bool
	switch r.URL.Path {
	case "/sampling":
	case "/":
		legacy = true
	default:
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed, use GET", http.StatusMethodNotAllowed)
		return
	}
	services := r.URL.Query()["service"]
	if len(services) != 1 || services[0] == "" {
		p.served.WithLabelValues("bad_request").Inc()
		http.Error(w, "'service' parameter must be provided once", http.StatusBadRequest)
		return
	}
	s, source := p.Strategy(r.Context(), services[0])
	p.served.WithLabelValues(source).Inc()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(encode(s, legacy))
}

// encode returns the JSON a client gets: the strategy type as its name, or
// with legacy as its number (Thrift 0.9.2 clients on "/").
func encode(s jaegersampling.Response, legacy bool) []byte {
	var b []byte
	var err error
	if legacy {
		b, err = s.LegacyJSON()
	} else {
		b, err = json.Marshal(s)
	}
	if err != nil { // only NaN or Inf can do this, and Parse rejects those in rates
		return encode(jaegersampling.DefaultResponse(), legacy)
	}
	return b
}

// Strategy returns the strategy of service: fetched from the collector,
// else the last one fetched, else the default. source says which
// ("collector", "cache" or "default").
func (p *Proxy) Strategy(ctx context.Context, service string) (s jaegersampling.Response, source string) {
	s, err := p.fetch(ctx, service)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil {
		if p.failed {
			p.logger.Info("sampling strategies come from the collector again", "url", p.cfg.URL)
			p.failed = false
		}
		if _, ok := p.cache[service]; ok || len(p.cache) < p.cfg.MaxServices {
			p.cache[service] = s
		}
		return s, "collector"
	}
	if !p.failed && ctx.Err() == nil {
		p.logger.Warn("cannot fetch sampling strategy from the collector; serving the last one fetched, or the default",
			"url", p.cfg.URL, "service", service, "err", err)
		p.failed = true
	}
	if c, ok := p.cache[service]; ok {
		return c, "cache"
	}
	return jaegersampling.DefaultResponse(), "default"
}

func (p *Proxy) fetch(ctx context.Context, service string) (jaegersampling.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	u := *p.upURL
	q := u.Query()
	q.Set("service", service)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return jaegersampling.Response{}, fmt.Errorf("cannot build request: %w", err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return jaegersampling.Response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return jaegersampling.Response{}, fmt.Errorf("cannot read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return jaegersampling.Response{}, fmt.Errorf("collector answered %s: %.200s", resp.Status, body)
	}
	if len(body) > maxBody {
		return jaegersampling.Response{}, errors.New("collector's answer is larger than 1 MiB")
	}
	return jaegersampling.Parse(body)
}
