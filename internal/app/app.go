// Package app runs a binary's parts: it starts them in order, waits for a
// signal or a failure, and shuts them down in reverse order.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/signal"
	"syscall"
	"time"
)

// Part is a long-lived component: Start binds and returns, Shutdown drains
// and is safe to call twice.
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
// SIGTERM (or ctx ends) and shuts the started parts down in reverse order,
// each within shutdownTimeout.
func Run(ctx context.Context, log *slog.Logger, parts []Named, started func(), shutdownTimeout time.Duration) error {
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
		<-ctx.Done()
		log.Info("shutting down")
	}
	var errs []error
	if startErr != nil {
		errs = append(errs, startErr)
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
