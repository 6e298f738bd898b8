package query

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// getAccept is a GET with an Accept header.
func getAccept(t *testing.T, url, accept string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// fields splits a protobuf message into its fields, by number: the
// layout a client that knows only Tempo's .proto reads.
func fields(t *testing.T, b []byte) map[protowire.Number][][]byte {
	t.Helper()
	out := map[protowire.Number][][]byte{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("bad tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		switch typ {
		case protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				t.Fatalf("bad field %d: %v", num, protowire.ParseError(m))
			}
			out[num] = append(out[num], v)
			b = b[m:]
		case protowire.VarintType:
			_, m := protowire.ConsumeVarint(b)
			if m < 0 {
				t.Fatalf("bad field %d: %v", num, protowire.ParseError(m))
			}
			out[num] = append(out[num], b[:m])
			b = b[m:]
		default:
			t.Fatalf("field %d has wire type %d", num, typ)
		}
	}
	return out
}

// spanIDsOf decodes TracesData (Tempo's Trace) and returns its span IDs
// with their names, sorted.
func spanIDsOf(t *testing.T, traceMsg []byte) []string {
	t.Helper()
	var td tracepb.TracesData
	if err := proto.Unmarshal(traceMsg, &td); err != nil {
		t.Fatalf("not a Trace: %v", err)
	}
	var out []string
	for _, rs := range td.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				out = append(out, fmt.Sprintf("%x %s", sp.SpanId, sp.Name))
			}
		}
	}
	slices.Sort(out)
	return out
}

func wantSpanIDs(tr genTrace) []string {
	var out []string
	for _, sp := range tr.spans {
		out = append(out, sp.SpanID.String()+" "+sp.Name)
	}
	slices.Sort(out)
	return out
}

func TestTempoTraceByID(t *testing.T) {
	s := newTempoServer(t, 10, nil)
	tr := s.traces[3]
	id := tr.id.String()

	// v2 protobuf, on both ports, as Grafana asks for it.
	for _, srv := range []*server{s.query, s.tempo} {
		r := getAccept(t, srv.URL+"/api/v2/traces/"+id+"?start="+secs(now.Add(-time.Hour))+"&end="+secs(now), "application/protobuf")
		if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/protobuf" {
			t.Fatalf("v2 protobuf: %d %s %q", r.status, r.header.Get("Content-Type"), r.body)
		}
		f := fields(t, r.body)
		if len(f[1]) != 1 || len(f[2]) != 1 {
			t.Fatalf("TraceByIDResponse fields %v, want trace (1) and metrics (2) once each", f)
		}
		if got, want := spanIDsOf(t, f[1][0]), wantSpanIDs(tr); !slices.Equal(got, want) {
			t.Errorf("v2 protobuf spans %v, want %v", got, want)
		}
	}
	// v1 protobuf on the Tempo port: the Trace itself.
	r := getAccept(t, s.tempo.URL+"/api/traces/"+id, "application/protobuf")
	if r.status != http.StatusOK {
		t.Fatalf("v1 protobuf: %d %q", r.status, r.body)
	}
	if got, want := spanIDsOf(t, r.body), wantSpanIDs(tr); !slices.Equal(got, want) {
		t.Errorf("v1 protobuf spans %v, want %v", got, want)
	}

	// JSON: v1 {"batches": [...]}, v2 {"trace": {"resourceSpans": [...]}}.
	type otlp struct {
		ScopeSpans []struct {
			Spans []struct {
				SpanID string `json:"spanId"`
				Name   string `json:"name"`
			} `json:"spans"`
		} `json:"scopeSpans"`
	}
	names := func(rss []otlp) []string {
		var out []string
		for _, rs := range rss {
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					out = append(out, sp.SpanID+" "+sp.Name)
				}
			}
		}
		slices.Sort(out)
		return out
	}
	r = getAccept(t, s.tempo.URL+"/api/traces/"+id, "")
	r.checkJSON(t, http.StatusOK)
	if got := names(decode[struct {
		Batches []otlp `json:"batches"`
	}](t, r.body).Batches); !slices.Equal(got, wantSpanIDs(tr)) {
		t.Errorf("v1 JSON spans %v", got)
	}
	r = getAccept(t, s.query.URL+"/api/v2/traces/"+id, "application/json")
	r.checkJSON(t, http.StatusOK)
	if got := names(decode[struct {
		Trace struct {
			ResourceSpans []otlp `json:"resourceSpans"`
		} `json:"trace"`
	}](t, r.body).Trace.ResourceSpans); !slices.Equal(got, wantSpanIDs(tr)) {
		t.Errorf("v2 JSON spans %v", got)
	}

	// On the query port /api/traces/{id} stays Jaeger's.
	r = s.query.get(t, "/api/traces/"+id)
	if e := r.jaeger(t, http.StatusOK); len(e.Data) == 0 || !strings.Contains(string(e.Data), `"traceID"`) {
		t.Errorf("query port /api/traces: %s, want Jaeger's envelope", r.body)
	}

	// Unknown and malformed IDs.
	for _, path := range []string{"/api/v2/traces/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "/api/traces/eeee"} {
		if r := getAccept(t, s.tempo.URL+path, "application/protobuf"); r.status != http.StatusNotFound {
			t.Errorf("%s: %d %q, want 404", path, r.status, r.body)
		}
	}
	for _, path := range []string{"/api/v2/traces/xyz", "/api/traces/0123456789abcdef0123456789abcdef00"} {
		if r := s.tempo.get(t, path); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %q, want 400", path, r.status, r.body)
		}
	}
	if r := s.tempo.get(t, "/api/nothing"); r.status != http.StatusNotFound {
		t.Errorf("/api/nothing on the Tempo port: %d, want 404", r.status)
	}
}
