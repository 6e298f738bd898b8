// Package telemetry is the one value every Scry part is constructed with:
// where it logs, where it registers its metrics, what clock it reads, and
// how it reports a failure after it started. A binary makes one Settings
// (internal/cli) and hands it, narrowed with For, to every constructor; no
// part finds a logger, registry or clock anywhere else.
package telemetry

import (
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Clock tells the time. Parts read it instead of time.Now so that tests can
// move time on.
type Clock interface {
	Now() time.Time
}

// SystemClock is the machine's clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Settings are a part's logger, metrics registry and clock, and the
// Failures it reports to. The zero value is usable: Logger, Registerer and
// Clock default (see the methods); with no Failures a failure is only
// logged.
type Settings struct {
	// Logger receives the part's logs. nil: discarded.
	Logger *slog.Logger
	// Registerer takes the part's metrics. nil: a private registry, so
	// the metrics exist but are exported nowhere.
	Registerer prometheus.Registerer
	// Clock is the part's clock. nil: SystemClock.
	Clock Clock
	// Failures is told when a long-lived part fails after it started (a
	// listener stops serving, say); the process then becomes not ready and
	// exits with the error (internal/app). nil: failures are only logged.
	Failures *Failures
}

// Nop returns Settings that log nothing and export no metric.
func Nop() Settings { return Settings{} }

// Complete returns s with every nil field but Failures set to its default,
// so that a constructor can use the fields directly.
func (s Settings) Complete() Settings {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Registerer == nil {
		s.Registerer = prometheus.NewRegistry()
	}
	if s.Clock == nil {
		s.Clock = SystemClock{}
	}
	return s
}

// For returns s for the part called name: its logs carry part=name.
func (s Settings) For(name string) Settings {
	s = s.Complete()
	s.Logger = s.Logger.With("part", name)
	return s
}

// Fail reports that the part failed after it started and cannot go on: err
// is logged and passed to Failures, if any.
func (s Settings) Fail(err error) {
	s = s.Complete()
	s.Logger.Error("failed after start", "error", err)
	s.Failures.Report(err)
}

// Failures collects the errors of parts that failed after they started.
// Its methods are safe for concurrent use; a nil *Failures drops reports.
type Failures struct {
	once sync.Once
	mu   sync.Mutex
	ch   chan struct{}
	errs []error
}

// NewFailures returns an empty collector.
func NewFailures() *Failures { return &Failures{ch: make(chan struct{})} }

// Report records err; the first report closes Failed's channel.
func (f *Failures) Report(err error) {
	if f == nil || err == nil {
		return
	}
	f.mu.Lock()
	f.errs = append(f.errs, err)
	f.mu.Unlock()
	f.once.Do(func() { close(f.ch) })
}

// Failed returns a channel closed at the first report.
func (f *Failures) Failed() <-chan struct{} { return f.ch }

// Errs returns the errors reported so far, oldest first.
func (f *Failures) Errs() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]error(nil), f.errs...)
}
