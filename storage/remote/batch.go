package remote

import (
	"context"
	"fmt"
	"sync"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
	storagepb "github.com/scrytrace/scry/storage/remote/proto"
)

// eachParallelism bounds the GetTrace calls one GetTraces makes at once to
// an address that reads trace by trace.
const eachParallelism = 8

// GetTraces returns, for each ID, the spans of the trace from every address
// that has any, merged as GetTrace merges them; a trace none of the
// answering addresses has gets an empty result. Addresses that fail are
// warnings, as for every call, unless none answers.
func (c *Client) GetTraces(ctx context.Context, ids []model.TraceID, hint storage.TimeHint) ([][]*model.Span, error) {
	if c.isClosed() {
		return nil, storage.ErrClosed
	}
	out := make([][]*model.Span, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	answers, _, err := gather(ctx, c, fmt.Sprintf("get %d traces", len(ids)), func(ctx context.Context, rpc storagepb.ReaderClient) ([][]*model.Span, error) {
		return getEach(ctx, rpc, ids, hint)
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
