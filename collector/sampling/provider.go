package sampling

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/model/jaegersampling"
)

// DefaultReloadInterval is how often the strategies file is read again.
const DefaultReloadInterval = 10 * time.Second

// Config sets up a Provider.
type Config struct {
	// File is the path of a strategies file in Jaeger's format (README.md).
	// Empty: every service gets jaegersampling.DefaultResponse.
	File string
	// ReloadInterval is how often File is read again; when its content
	// changed, the new strategies replace the old. 0 turns reloading off.
	ReloadInterval time.Duration
}

// DefaultConfig returns the defaults: no file (every service samples with
// jaegersampling.DefaultSamplingProbability), a file reloaded every
// DefaultReloadInterval.
func DefaultConfig() Config { return Config{ReloadInterval: DefaultReloadInterval} }

// Validate reports what is wrong with c, if anything.
func (c Config) Validate() error {
	if c.ReloadInterval < 0 {
		return fmt.Errorf("invalid sampling config: reload interval must not be negative, got %s", c.ReloadInterval)
	}
	return nil
}

// Provider holds the current strategies and reloads them from the file.
// Its methods are safe for concurrent use.
type Provider struct {
	cfg     Config
	logger  *slog.Logger
	reloads *prometheus.CounterVec

	current atomic.Pointer[Strategies]

	reloadMu sync.Mutex // serialises Reload
	last     []byte     // the file's content last parsed
	lastErr  string     // the last reload error logged, so as not to repeat it

	mu      sync.Mutex
	started bool
	stop    chan struct{} // closed by Shutdown
	done    chan struct{} // closed when the poller exits
}

// New loads the strategies file, if any: a file that cannot be read or
// parsed is an error. Its reload counter is registered on tel.Registerer.
func New(cfg Config, tel telemetry.Settings) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tel = tel.Complete()
	logger := tel.Logger
	p := &Provider{cfg: cfg, logger: logger, stop: make(chan struct{}), done: make(chan struct{})}
	if cfg.File == "" {
		p.current.Store(DefaultStrategies())
		logger.Info("no sampling strategies file; every service samples with the default", "probability", jaegersampling.DefaultSamplingProbability)
	} else {
		b, err := readFile(cfg.File)
		if err != nil {
			return nil, err
		}
		s, err := Parse(b, logger)
		if err != nil {
			return nil, fmt.Errorf("cannot load sampling strategies from %s: %w", cfg.File, err)
		}
		p.current.Store(s)
		p.last = b
		logger.Info("sampling strategies loaded", "file", cfg.File, "services", s.Services())
	}
	p.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "scry_sampling_strategies_reloads_total",
		Help: "Reloads of the sampling strategies file that found it changed, by result (ok, error: the old strategies are kept).",
	}, []string{"result"})
	if err := tel.Registerer.Register(p.reloads); err != nil {
		return nil, fmt.Errorf("cannot register sampling metrics: %w", err)
	}
	p.reloads.WithLabelValues("ok")
	p.reloads.WithLabelValues("error")
	return p, nil
}

// readFile reads at most maxFileBytes+1 bytes of path, so that Parse
// refuses a larger file without it being read whole.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read sampling strategies file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read sampling strategies file: %w", err)
	}
	return b, nil
}

// Strategies returns the strategies in force now.
func (p *Provider) Strategies() *Strategies { return p.current.Load() }

// Strategy returns the strategy of service in force now.
func (p *Provider) Strategy(service string) jaegersampling.Response {
	return p.current.Load().Strategy(service)
}

// Start starts polling the file every Config.ReloadInterval, if there is a
// file and an interval. The context is not kept.
func (p *Provider) Start(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started {
		return errors.New("cannot start sampling strategies provider: already started or shut down")
	}
	p.started = true
	if p.cfg.File == "" || p.cfg.ReloadInterval == 0 {
		close(p.done)
		return nil
	}
	go p.poll()
	return nil
}

// Shutdown stops polling and waits for the poller to exit. It is safe to
// call more than once, and before Start.
func (p *Provider) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	if !p.started {
		p.started = true
		close(p.done)
	}
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	p.mu.Unlock()
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cannot stop sampling strategies poller: %w", ctx.Err())
	}
}

func (p *Provider) poll() {
	defer close(p.done)
	t := time.NewTicker(p.cfg.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.Reload()
		}
	}
}

// Reload reads the file again now and, if its content changed, replaces the
// strategies. A file that cannot be read or parsed keeps the strategies in
// force; the error is returned, and logged and counted unless it repeats the
// previous one (a file left bad is reported once, not at every poll). The
// poller calls it; so may a test.
func (p *Provider) Reload() error {
	if p.cfg.File == "" {
		return nil
	}
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	b, err := readFile(p.cfg.File)
	if err != nil {
		p.failed(err)
		return err
	}
	if bytes.Equal(b, p.last) {
		return nil
	}
	s, err := Parse(b, p.logger)
	p.last = b
	if err != nil {
		err = fmt.Errorf("cannot reload sampling strategies from %s: %w", p.cfg.File, err)
		p.failed(err)
		return err
	}
	p.current.Store(s)
	p.lastErr = ""
	p.logger.Info("sampling strategies reloaded", "file", p.cfg.File, "services", s.Services())
	p.count("ok")
	return nil
}

// failed reports a reload error unless it is the one last reported.
// p.reloadMu must be held.
func (p *Provider) failed(err error) {
	if err.Error() == p.lastErr {
		return
	}
	p.lastErr = err.Error()
	p.logger.Error("keeping the current sampling strategies", "error", err)
	p.count("error")
}

func (p *Provider) count(result string) {
	p.reloads.WithLabelValues(result).Inc()
}
