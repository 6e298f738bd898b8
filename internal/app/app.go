// Package app runs a binary's parts: it starts them in order, waits for a
// signal or for a part to fail after it started, and shuts them down in
// reverse order.
package app

import (
	"context"
	"errors"
	"fmt"
	"os/signal"
	"syscall"
	"time"

	"github.com/scrytrace/scry/internal/telemetry"
)

// Part is a long-lived component. Every one has the same life: its
// constructor validates its configuration and starts nothing; Start binds
// what it needs and returns, leaving its work running in the background;
// Shutdown stops it, drains what it holds within the context's deadline,
// and is safe to call twice and before Start. A part that fails after Start
// reports it with telemetry.Settings.Fail, which makes Run shut everything
// down and return the error.
type Part interface {
	Start(ctx context.Context) error
	Shutdown(ctx context.Context) error
}

// Named gives a part a name for logs.
type Named struct {
	Name string
	Part
}

// Funcs makes a Part of two functions (either may be nil).
type Funcs struct {
	StartFunc, ShutdownFunc func(context.Context) error
}

// Start implements Part.
func (f Funcs) Start(ctx context.Context) error {
	if f.StartFunc == nil {
		return nil
	}
	return f.StartFunc(ctx)
}

// Shutdown implements Part.
func (f Funcs) Shutdown(ctx context.Context) error {
	if f.ShutdownFunc == nil {
		return nil
	}
	return f.ShutdownFunc(ctx)
}

// Run starts parts in order, calls started, then blocks until SIGINT or
// SIGTERM, ctx ends, or a part reports a failure to tel.Failures, and shuts
// the started parts down in reverse order, each within shutdownTimeout. It
// returns the failures reported (the process should exit non-zero with
// them) and any error of starting or shutting down.
func Run(ctx context.Context, tel telemetry.Settings, parts []Named, started func(), shutdownTimeout time.Duration) error {
	tel = tel.Complete()
	log := tel.Logger
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var up []Named
	var startErr error
	for _, p := range parts {
		if err := p.Start(ctx); err != nil {
			startErr = fmt.Errorf("cannot start %s: %w", p.Name, err)
			break
		}
		up = append(up, p)
	}
	if startErr == nil {
		if started != nil {
			started()
		}
		select {
		case <-ctx.Done():
			log.Info("shutting down")
		case <-failed(tel.Failures):
			log.Error("a part failed; shutting down", "error", errors.Join(tel.Failures.Errs()...))
		}
	}
	var errs []error
	if startErr != nil {
		errs = append(errs, startErr)
	}
	if tel.Failures != nil {
		errs = append(errs, tel.Failures.Errs()...)
	}
	for i := len(up) - 1; i >= 0; i-- {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		if err := up[i].Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("cannot shut down %s: %w", up[i].Name, err))
		}
		cancel()
	}
	return errors.Join(errs...)
}

// failed is f's channel, or nil (never ready) without a collector.
func failed(f *telemetry.Failures) <-chan struct{} {
	if f == nil {
		return nil
	}
	return f.Failed()
}
