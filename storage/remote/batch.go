package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
	storagepb "github.com/scrytrace/scry/storage/remote/proto"
)

// This file reads many traces in one call: GetTraces, one round trip per
// address, or, to an address older than that RPC, one GetTrace per trace.

const (
	// eachParallelism bounds the GetTrace calls one GetTraces makes at once
	// to an address that reads trace by trace.
	eachParallelism = 8
	// batchRetryAfter is how many GetTraces calls to an address that
	// answered the RPC with UNIMPLEMENTED are made trace by trace before it
	// is asked again (it may have been upgraded in place). Counting calls
	// needs no clock, and asking costs one short round trip.
	batchRetryAfter = 100
)

// GetTraces returns, for each ID, the spans of the trace from every address
// that has any, merged as GetTrace merges them; a trace none of the
// answering addresses has gets an empty result. Each address is asked once,
// with the GetTraces RPC; one that does not serve it (a collector older than
// this client) is asked trace by trace. Addresses that fail are warnings, as
// for every call, unless none answers.
func (c *Client) GetTraces(ctx context.Context, ids []model.TraceID, hint storage.TimeHint) ([][]*model.Span, error) {
	if c.isClosed() {
		return nil, storage.ErrClosed
	}
	out := make([][]*model.Span, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	req := &storagepb.GetTracesRequest{
		TraceIds:          make([][]byte, len(ids)),
		StartTimeUnixNano: hint.Start,
		EndTimeUnixNano:   hint.End,
	}
	for i := range ids {
		req.TraceIds[i] = ids[i][:]
	}
	answers, _, err := gatherBackends(ctx, c, c.partitionsOf(ids...), fmt.Sprintf("get %d traces", len(ids)), func(ctx context.Context, b *backend) ([][]*model.Span, error) {
		return c.getTraces(ctx, b, req, ids, hint)
	})
	if err != nil {
		return nil, err
	}
	per := make([][]*model.Span, len(answers))
	for i := range ids {
		for a := range answers {
			per[a] = answers[a][i]
		}
		out[i] = mergeSpans(per)
	}
	return out, nil
}

// getTraces reads one address's spans of each trace, with the GetTraces RPC
// unless the address recently answered it with UNIMPLEMENTED.
func (c *Client) getTraces(ctx context.Context, b *backend, req *storagepb.GetTracesRequest, ids []model.TraceID, hint storage.TimeHint) ([][]*model.Span, error) {
	if b.skipBatch() {
		return getEach(ctx, b.rpc, ids, hint)
	}
	out, err := getBatch(ctx, b.rpc, req, ids)
	if errors.Is(err, errNoBatch) {
		b.batchSkip.Store(batchRetryAfter)
		if !b.batchless.Swap(true) {
			c.logger.Info("storage endpoint does not serve GetTraces (an older version); reading its traces one call each", "endpoint", b.name)
		}
		return getEach(ctx, b.rpc, ids, hint)
	}
	if err == nil && b.batchless.Swap(false) {
		c.logger.Info("storage endpoint serves GetTraces now", "endpoint", b.name)
	}
	return out, err
}

// skipBatch reports whether this GetTraces call to b goes trace by trace
// without asking, and counts it.
func (b *backend) skipBatch() bool {
	for {
		n := b.batchSkip.Load()
		if n <= 0 {
			return false
		}
		if b.batchSkip.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// errNoBatch says that an address answered GetTraces with UNIMPLEMENTED
// before sending anything.
var errNoBatch = errors.New("GetTraces is not implemented")

// getBatch reads one address's spans of each trace with one GetTraces call.
func getBatch(ctx context.Context, rpc storagepb.ReaderClient, req *storagepb.GetTracesRequest, ids []model.TraceID) ([][]*model.Span, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream early on a malformed chunk
	stream, err := rpc.GetTraces(ctx, req)
	if err != nil {
		if status.Code(err) == codes.Unimplemented {
			return nil, errNoBatch
		}
		return nil, err
	}
	out := make([][]*model.Span, len(ids))
	for received := false; ; received = true {
		msg, err := stream.Recv()
		if err != nil {
			switch {
			case errors.Is(err, io.EOF):
				return out, nil
			case !received && status.Code(err) == codes.Unimplemented:
				return nil, errNoBatch
			}
			return nil, err
		}
		i := int(msg.GetTraceIndex())
		if i >= len(ids) {
			return nil, fmt.Errorf("answer holds trace %d of a request for %d", i, len(ids))
		}
		chunk, err := decodeChunk(msg.GetChunk(), ids[i])
		if err != nil {
			return nil, err
		}
		out[i] = append(out[i], chunk...)
	}
}

// getEach reads one address's spans of each trace with one GetTrace call
// per ID, at most eachParallelism at once. The first failure ends the read.
func getEach(ctx context.Context, rpc storagepb.ReaderClient, ids []model.TraceID, hint storage.TimeHint) ([][]*model.Span, error) {
	out := make([][]*model.Span, len(ids))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, eachParallelism)
	)
	for i, id := range ids {
		if id.IsZero() {
			continue // no span of it can be stored
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			req := &storagepb.GetTraceRequest{TraceId: id[:], StartTimeUnixNano: hint.Start, EndTimeUnixNano: hint.End}
			spans, err := getTrace(ctx, rpc, req, id)
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
				cancel()
				return
			}
			out[i] = spans
		})
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
