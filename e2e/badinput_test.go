package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcgzip "google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// TestMalformedInput sends requests that are broken or too large to both
// OTLP receivers: each gets a clear error of the right kind, and after each
// the server still accepts and serves spans.
func TestMalformedInput(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	s := startScry(t, "--max-message-bytes=1048576")
	c := s.traceClient(t)

	// Each case sends one bad request and checks the answer; then the
	// server must still work.
	for _, tc := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"bad protobuf", func(t *testing.T) {
			code, body, hdr := postTraces(t, s, "application/x-protobuf", nil, []byte{0x0a, 0xff, 0xff, 0xff})
			checkHTTPStatus(t, code, body, hdr, http.StatusBadRequest, codes.InvalidArgument, "protobuf")
		}},
		{"bad JSON", func(t *testing.T) {
			code, body, hdr := postTraces(t, s, "application/json", nil, []byte(`{"resourceSpans": [{"scopeSpans": `))
			checkHTTPStatus(t, code, body, hdr, http.StatusBadRequest, codes.InvalidArgument, "")
		}},
		{"corrupt gzip", func(t *testing.T) {
			code, body, hdr := postTraces(t, s, "application/x-protobuf", http.Header{"Content-Encoding": {"gzip"}}, []byte("not gzip at all"))
			checkHTTPStatus(t, code, body, hdr, http.StatusBadRequest, codes.InvalidArgument, "gzip")
		}},
		{"gzip bomb over HTTP", func(t *testing.T) {
			bomb := gzipBytes(t, make([]byte, 16*limit))
			if len(bomb) > limit/10 {
				t.Fatalf("the bomb is %d bytes compressed; want a small one", len(bomb))
			}
			code, body, hdr := postTraces(t, s, "application/x-protobuf", http.Header{"Content-Encoding": {"gzip"}}, bomb)
			checkHTTPStatus(t, code, body, hdr, http.StatusRequestEntityTooLarge, codes.ResourceExhausted, "")
		}},
		{"oversized HTTP body", func(t *testing.T) {
			body, err := proto.Marshal(oversized(2 * limit))
			if err != nil {
				t.Fatal(err)
			}
			code, resp, hdr := postTraces(t, s, "application/x-protobuf", nil, body)
			checkHTTPStatus(t, code, resp, hdr, http.StatusRequestEntityTooLarge, codes.ResourceExhausted, "")
		}},
		{"wrong-length IDs over gRPC, some spans", func(t *testing.T) {
			good, ids := smallBatch("bad-input", 1, 2, "")
			badTrace := span(newTraceID()[:5], newSpanID(), nil, "short trace ID", tracepb.Span_SPAN_KIND_SERVER, time.Now(), time.Millisecond)
			good.ScopeSpans[0].Spans = append(good.ScopeSpans[0].Spans, badTrace)
			resp, err := c.Export(ctxT(t), &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{good}})
			if err != nil {
				t.Fatalf("export with one bad span of three: %v, want a partial success", err)
			}
			if ps := resp.GetPartialSuccess(); ps.GetRejectedSpans() != 1 || ps.GetErrorMessage() == "" {
				t.Errorf("partial success %v, want 1 rejected span and a message", ps)
			}
			s.checkStored(t, ids)
		}},
		{"wrong-length IDs over gRPC, every span", func(t *testing.T) {
			rs, _ := smallBatch("bad-input", 1, 2, "")
			rs.ScopeSpans[0].Spans[0].SpanId = []byte{1, 2, 3}
			rs.ScopeSpans[0].Spans[1].TraceId = []byte{1, 2, 3, 4, 5, 6, 7, 8, 9}
			_, err := c.Export(ctxT(t), &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{rs}})
			if st := status.Convert(err); st.Code() != codes.InvalidArgument || st.Message() == "" {
				t.Errorf("export with only bad spans: %v, want INVALID_ARGUMENT with a message", err)
			}
		}},
		{"wrong-length IDs over HTTP JSON", func(t *testing.T) {
			good, ids := smallBatch("bad-input", 1, 1, "")
			bad := span(newTraceID(), newSpanID(), nil, "bad", tracepb.Span_SPAN_KIND_SERVER, time.Now(), time.Millisecond)
			good.ScopeSpans[0].Spans = append(good.ScopeSpans[0].Spans, bad)
			body := otlpJSONHexIDs(t, &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{good}})
			body = bytes.Replace(body, []byte(`"`+hexID(bad.TraceId)+`"`), []byte(`"abcd"`), 1)
			code, resp, _ := postTraces(t, s, "application/json", nil, body)
			var r coltracepb.ExportTraceServiceResponse
			if err := protojson.Unmarshal(resp, &r); code != http.StatusOK || err != nil {
				t.Fatalf("POST: %d %s (%v), want 200 with a partial success", code, resp, err)
			}
			if ps := r.GetPartialSuccess(); ps.GetRejectedSpans() != 1 || ps.GetErrorMessage() == "" {
				t.Errorf("partial success %v, want 1 rejected span and a message", ps)
			}
			s.checkStored(t, ids)
		}},
		{"gzip bomb over gRPC", func(t *testing.T) {
			_, err := c.Export(ctxT(t), oversized(4*limit), grpc.UseCompressor(grpcgzip.Name))
			if st := status.Convert(err); st.Code() != codes.ResourceExhausted {
				t.Errorf("compressed export inflating to 4 MiB: %v, want RESOURCE_EXHAUSTED", err)
			}
		}},
		{"oversized gRPC message", func(t *testing.T) {
			_, err := c.Export(ctxT(t), oversized(2*limit))
			if st := status.Convert(err); st.Code() != codes.ResourceExhausted {
				t.Errorf("2 MiB export: %v, want RESOURCE_EXHAUSTED", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t)
			checkServing(t, s, c)
		})
	}
}

// checkServing fails unless s accepts spans over both receivers and
// answers queries.
func checkServing(t *testing.T, s *Scry, c coltracepb.TraceServiceClient) {
	t.Helper()
	rs, ids := smallBatch("still-serving", 1, 2, "")
	s.exportOK(t, c, rs)
	rs2, ids2 := smallBatch("still-serving", 1, 2, "")
	body, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{rs2}})
	if err != nil {
		t.Fatal(err)
	}
	postOK(t, s, "application/x-protobuf", body)
	for id, spans := range ids2 {
		ids[id] = spans
	}
	s.checkStored(t, ids)
	jaeger[[]string](t, s, "/api/services")
}

// checkHTTPStatus checks an OTLP/HTTP error answer: the status code, and a
// google.rpc.Status body in the request's encoding with the matching gRPC
// code and a message (containing mention, if not empty).
func checkHTTPStatus(t *testing.T, code int, body []byte, hdr http.Header, wantHTTP int, wantCode codes.Code, mention string) {
	t.Helper()
	if code != wantHTTP {
		t.Fatalf("HTTP %d %q, want %d", code, body, wantHTTP)
	}
	var st statuspb.Status
	var err error
	if strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		err = protojson.Unmarshal(body, &st)
	} else {
		err = proto.Unmarshal(body, &st)
	}
	if err != nil {
		t.Fatalf("body %q (%s) is not a google.rpc.Status: %v", body, hdr.Get("Content-Type"), err)
	}
	if codes.Code(st.GetCode()) != wantCode || st.GetMessage() == "" || !strings.Contains(st.GetMessage(), mention) {
		t.Errorf("status %v, want code %s and a message mentioning %q", &st, wantCode, mention)
	}
}

// oversized is an export of one span whose attribute makes the message
// about n bytes; it compresses to very little.
func oversized(n int) *coltracepb.ExportTraceServiceRequest {
	sp := span(newTraceID(), newSpanID(), nil, "big", tracepb.Span_SPAN_KIND_SERVER, time.Now(), time.Millisecond,
		kvStr("blob", strings.Repeat("a", n)))
	return &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{resourceSpans("bad-input", nil, sp)}}
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ctxT is a context for one call, ended when the test ends.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), httpTimeout)
	t.Cleanup(cancel)
	return ctx
}

// TestQueryParameterErrors sends malformed query parameters through the
// binary: each is a 400 whose message names the parameter, and the API
// keeps answering.
func TestQueryParameterErrors(t *testing.T) {
	t.Parallel()
	s := startScry(t)
	for _, tc := range []struct{ path, param string }{
		{"/api/traces?service=a&limit=abc", "limit"},
		{"/api/traces?service=a&limit=-3", "limit"},
		{"/api/traces?service=a&start=x", "start"},
		{"/api/traces?service=a&end=yesterday", "end"},
		{"/api/traces?service=a&start=2000&end=1000", "start"},
		{"/api/traces?service=a&minDuration=zz", "minDuration"},
		{"/api/traces?service=a&maxDuration=1parsec", "maxDuration"},
		{"/api/traces?service=a&minDuration=2s&maxDuration=1s", "maxDuration"},
		{"/api/traces?service=a&lookback=forever", "lookback"},
		{"/api/traces?traceID=zz", "traceID"},
		{"/api/traces/zz", "traceID"},
		{"/api/traces?service=a&tags=" + url.QueryEscape("{not json"), "tags"},
		{"/api/traces?service=a&tag=novalue", "tag"},
		{"/api/operations", "service"},
		{"/api/operations?service=a&spanKind=sideways", "spanKind"},
		{"/api/dependencies?endTs=soon", "endTs"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			var env jaegerEnvelope[json.RawMessage]
			s.getJSON(t, tc.path, http.StatusBadRequest, &env)
			if string(env.Data) != "null" || len(env.Errors) != 1 || env.Errors[0].Code != http.StatusBadRequest {
				t.Fatalf("answer %+v, want null data and one error with code 400", env)
			}
			if msg := env.Errors[0].Msg; !namesParam(msg, tc.param) {
				t.Errorf("message %q does not name the parameter %q", msg, tc.param)
			}
		})
	}
	for _, tc := range []struct{ path, param string }{
		{"/api/v3/traces/zz", "trace_id"},
		{"/api/v3/traces?query.serviceName=a", "query.startTimeMin"},
		{"/api/v3/traces?query.serviceName=a&query.startTimeMin=noon&query.startTimeMax=2030-01-01T00:00:00Z", "query.startTimeMin"},
		{"/api/v3/operations?service=a&spanKind=sideways", "spanKind"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			var body struct {
				Error struct {
					HTTPCode int    `json:"httpCode"`
					Message  string `json:"message"`
				} `json:"error"`
			}
			s.getJSON(t, tc.path, http.StatusBadRequest, &body)
			if body.Error.HTTPCode != http.StatusBadRequest || !namesParam(body.Error.Message, tc.param) {
				t.Errorf("error %+v, want httpCode 400 and a message naming %q", body.Error, tc.param)
			}
		})
	}
	jaeger[[]string](t, s, "/api/services")
}

// namesParam reports whether msg has param as a whole word.
func namesParam(msg, param string) bool {
	return regexp.MustCompile(`(^|[^\w.])` + regexp.QuoteMeta(param) + `($|[^\w.])`).MatchString(msg)
}
