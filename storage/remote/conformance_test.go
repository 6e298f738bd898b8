package remote_test

import (
	"context"
	"errors"
	"testing"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/memory"
	"github.com/scrytrace/scry/storage/remote"
	"github.com/scrytrace/scry/storage/storagetest"
)

// remoteStore is a storage.Store whose writes go straight into memory stores
// and whose reads go through a Client and the gRPC servers in front of those
// stores: the conformance suite then checks the read path end to end, every
// field of every span included. With several stores, each trace is written
// whole to one of them (chosen by its ID), so the suite also checks that
// merging the answers of several servers is invisible.
type remoteStore struct {
	shards []*memory.Store
	*remote.Client
}

func openRemote(t *testing.T, n int) storage.Store {
	shards, srvs := stores(t, n)
	c, err := remote.New(remote.Config{Endpoints: addrs(srvs), Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &remoteStore{shards: shards, Client: c}
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return openRemote(t, 1) })
}

func TestConformanceShardedByTrace(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return openRemote(t, 2) })
}

func (s *remoteStore) WriteSpans(ctx context.Context, spans []*model.Span) error {
	parts := make([][]*model.Span, len(s.shards))
	for _, sp := range spans {
		i := 0
		if sp != nil {
			sum := 0
			for _, b := range sp.TraceID {
				sum += int(b)
			}
			i = sum % len(s.shards)
		}
		parts[i] = append(parts[i], sp)
	}
	var rejected []error
	for i, p := range parts {
		if len(p) == 0 {
			continue
		}
		err := s.shards[i].WriteSpans(ctx, p)
		var rej *storage.RejectedError
		switch {
		case errors.As(err, &rej):
			rejected = append(rejected, rej.Errs...)
		case err != nil:
			return err
		}
	}
	if rejected != nil {
		return &storage.RejectedError{Errs: rejected}
	}
	return nil
}

func (s *remoteStore) Close() error {
	errs := []error{s.Client.Close()}
	for _, sh := range s.shards {
		errs = append(errs, sh.Close())
	}
	return errors.Join(errs...)
}
