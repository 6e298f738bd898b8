package e2e

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// TestFullQueue overloads a scry whose intake queue holds about two
// requests. Some exports must be refused with a retryable answer (gRPC
// UNAVAILABLE with RetryInfo, HTTP 503 with Retry-After), none may fail
// otherwise, and every acknowledged span must be stored: nothing is dropped
// silently.
func TestFullQueue(t *testing.T) {
	s := startScry(t, "--queue-bytes=200000", "--queue-writers=1")
	c := s.traceClient(t)
	// About 90 kB a request: the queue holds two.
	const spansPerRequest = 80
	pad := strings.Repeat("x", 1000)
	batch := func(service string) (*tracepb.ResourceSpans, map[string][]string) {
		return smallBatch(service, 2, spansPerRequest/2, pad)
	}

	t.Run("grpc", func(t *testing.T) {
		acked, refusals := overload(t, func() (map[string][]string, outcome) {
			rs, ids := batch("pressure-grpc")
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			resp, err := c.Export(ctx, &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{rs}})
			switch st := status.Convert(err); {
			case err == nil && resp.GetPartialSuccess().GetRejectedSpans() == 0:
				return ids, accepted
			case err == nil:
				return nil, outcome(fmt.Sprintf("partial success %v", resp.GetPartialSuccess()))
			case st.Code() == codes.Unavailable:
				for _, d := range st.Details() {
					if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay().AsDuration() > 0 {
						return nil, refused
					}
				}
				return nil, outcome(fmt.Sprintf("UNAVAILABLE without a RetryInfo detail with a delay: %v", st.Proto()))
			default:
				return nil, outcome(fmt.Sprintf("%s: %s", st.Code(), st.Message()))
			}
		})
		s.checkStored(t, acked)
		checkIntakeMetrics(t, s, "otlp_grpc", acked, refusals*spansPerRequest)
	})

	t.Run("http", func(t *testing.T) {
		acked, refusals := overload(t, func() (map[string][]string, outcome) {
			rs, ids := batch("pressure-http")
			body, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{rs}})
			if err != nil {
				return nil, outcome(err.Error())
			}
			code, resp, hdr, err := s.post("application/x-protobuf", nil, body)
			switch {
			case err != nil:
				return nil, outcome(err.Error())
			case code == http.StatusOK:
				var r coltracepb.ExportTraceServiceResponse
				if err := proto.Unmarshal(resp, &r); err != nil || r.GetPartialSuccess().GetRejectedSpans() != 0 {
					return nil, outcome(fmt.Sprintf("200 with %v (%v)", r.GetPartialSuccess(), err))
				}
				return ids, accepted
			case code == http.StatusServiceUnavailable:
				var st statuspb.Status
				secs, err := strconv.Atoi(hdr.Get("Retry-After"))
				if err != nil || secs < 1 {
					return nil, outcome(fmt.Sprintf("503 with Retry-After %q", hdr.Get("Retry-After")))
				}
				if err := proto.Unmarshal(resp, &st); err != nil || codes.Code(st.GetCode()) != codes.Unavailable {
					return nil, outcome(fmt.Sprintf("503 with body %q", resp))
				}
				return nil, refused
			default:
				return nil, outcome(fmt.Sprintf("HTTP %d: %s", code, resp))
			}
		})
		s.checkStored(t, acked)
		checkIntakeMetrics(t, s, "otlp_http", acked, refusals*spansPerRequest)
	})

	// Once the load is gone, exports succeed again.
	rs, ids := smallBatch("after-pressure", 1, 2, "")
	s.exportOK(t, c, rs)
	s.checkStored(t, ids)
}

// outcome is how one export ended: accepted, refused with a retryable
// answer, or anything else (described).
type outcome string

const (
	accepted outcome = "accepted"
	refused  outcome = "refused, retry later"
)

// overload runs export from many goroutines at once until at least 20
// exports were accepted and 5 refused (or a deadline passes), fails the
// test on any other outcome, and returns the traces of accepted exports and
// the number of refused ones.
func overload(t *testing.T, export func() (map[string][]string, outcome)) (map[string][]string, int) {
	t.Helper()
	const (
		workers      = 16
		wantAccepted = 20
		wantRefused  = 5
		timeout      = 30 * time.Second
	)
	var (
		mu                  sync.Mutex
		acked               = map[string][]string{}
		others              = map[outcome]int{}
		nAccepted, nRefused atomic.Int64
		wg                  sync.WaitGroup
	)
	enough := func() bool { return nAccepted.Load() >= wantAccepted && nRefused.Load() >= wantRefused }
	deadline := time.Now().Add(timeout)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !enough() && time.Now().Before(deadline) {
				ids, o := export()
				switch o {
				case accepted:
					mu.Lock()
					for id, spans := range ids {
						acked[id] = spans
					}
					mu.Unlock()
					nAccepted.Add(1)
				case refused:
					nRefused.Add(1)
				default:
					mu.Lock()
					others[o]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d exports accepted, %d refused with retry later", nAccepted.Load(), nRefused.Load())
	for o, n := range others {
		t.Errorf("%d exports answered %s; want only success or retry later", n, o)
	}
	if !enough() {
		t.Errorf("after %s: %d accepted, %d refused; want at least %d and %d", timeout, nAccepted.Load(), nRefused.Load(), wantAccepted, wantRefused)
	}
	return acked, int(nRefused.Load())
}

// checkIntakeMetrics checks that /metrics accounts for every span a
// transport received: the acknowledged ones as accepted, the others as
// refused because the queue was full.
func checkIntakeMetrics(t *testing.T, s *Scry, transport string, acked map[string][]string, refusedSpans int) {
	t.Helper()
	acceptedSpans := 0
	for _, spans := range acked {
		acceptedSpans += len(spans)
	}
	tl := map[string]string{"transport": transport}
	got := map[string]float64{
		"received": s.metric(t, "scry_receiver_spans_received_total", tl),
		"accepted": s.metric(t, "scry_receiver_spans_accepted_total", tl),
		"refused":  s.metric(t, "scry_receiver_spans_refused_total", map[string]string{"transport": transport, "reason": "queue_full"}),
	}
	want := map[string]float64{
		"received": float64(acceptedSpans + refusedSpans),
		"accepted": float64(acceptedSpans),
		"refused":  float64(refusedSpans),
	}
	if !maps.Equal(got, want) {
		t.Errorf("%s span counters %v, want %v", transport, got, want)
	}
}
