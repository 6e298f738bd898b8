package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/scrytrace/scry/internal/testbin"
)

// collectorProc is one running scry-collector.
type collectorProc struct {
	*testbin.Proc
	OTLPGRPC, Storage string
}

func startCollector(t *testing.T) *collectorProc {
	t.Helper()
	bin := buildBinary(t, "./cmd/scry-collector")
	dir := t.TempDir()
	return testbin.WithFreePorts(t, 3, func(a []string) (*collectorProc, error) {
		p, err := testbin.Start(t, bin, []string{"--data-dir=" + dir, "--otlp-grpc-addr=" + a[0], "--otlp-http-addr=",
			"--jaeger-http-addr=", "--zipkin-addr=", "--udp-compact-addr=", "--udp-binary-addr=",
			"--storage-addr=" + a[1], "--admin-addr=" + a[2]}, nil, a[2])
		if err != nil {
			return nil, err
		}
		return &collectorProc{Proc: p, OTLPGRPC: a[0], Storage: a[1]}, nil
	})
}

func startQuery(t *testing.T, storage ...string) *Scry {
	t.Helper()
	bin := buildBinary(t, "./cmd/scry-query")
	return testbin.WithFreePorts(t, 2, func(a []string) (*Scry, error) {
		p, err := testbin.Start(t, bin, []string{"--storage=" + strings.Join(storage, ","), "--http-addr=" + a[0], "--admin-addr=" + a[1]}, nil, a[1])
		if err != nil {
			return nil, err
		}
		return &Scry{Proc: p, Query: a[0], http: &http.Client{Timeout: httpTimeout}}, nil
	})
}

func exportTo(t *testing.T, addr string, rss ...*tracepb.ResourceSpans) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := coltracepb.NewTraceServiceClient(conn).Export(t.Context(), &coltracepb.ExportTraceServiceRequest{ResourceSpans: rss}); err != nil {
		t.Fatalf("export to %s: %v", addr, err)
	}
}

// TestSplitMatchesAllInOne sends the same traces to scry and to two
// scry-collectors (one trace split between them) and checks that scry-query
// over both answers exactly as scry does.
func TestSplitMatchesAllInOne(t *testing.T) {
	aio := startScry(t)
	c1, c2 := startCollector(t), startCollector(t)
	q := startQuery(t, c1.Storage, c2.Storage)

	now := time.Now().Add(-time.Minute)
	tid := newTraceID()
	root, child, grandchild := newSpanID(), newSpanID(), newSpanID()
	front := resourceSpans("frontend", nil,
		span(tid, root, nil, "GET /checkout", tracepb.Span_SPAN_KIND_SERVER, now, 50*time.Millisecond, kvStr("http.route", "/checkout")),
		span(tid, child, root, "POST /pay", tracepb.Span_SPAN_KIND_CLIENT, now.Add(5*time.Millisecond), 30*time.Millisecond))
	pay := resourceSpans("payment", nil,
		span(tid, grandchild, child, "POST /pay", tracepb.Span_SPAN_KIND_SERVER, now.Add(6*time.Millisecond), 28*time.Millisecond, kvInt("amount", 42)))
	b1, _ := smallBatch("inventory", 5, 3, "")
	b2, _ := smallBatch("shipping", 4, 2, "")

	exportTo(t, aio.OTLPGRPC, front, pay, b1, b2)
	exportTo(t, c1.OTLPGRPC, front, b1)
	exportTo(t, c2.OTLPGRPC, pay, b2)

	for _, path := range []string{
		"/api/services",
		"/api/operations?service=frontend",
		"/api/traces/" + hexID(tid),
		"/api/traces?service=payment&tags=" + `{"amount":"42"}`,
		"/api/traces?service=inventory&limit=3",
		"/api/traces?service=shipping",
		// Not /api/dependencies: a call whose two ends went to different
		// collectors is counted by neither (see storage/remote's README).
	} {
		want := canonical(t, aio, path)
		got := canonical(t, q, path)
		if got != want {
			t.Errorf("GET %s:\n scry-query: %s\n scry:       %s", path, got, want)
		}
	}

	// A collector that is down: the other's data comes back, with a note.
	if err := c2.Stop(); err != nil {
		t.Logf("stopping collector: %v", err)
	}
	var env jaegerEnvelope[[]string]
	q.getJSON(t, "/api/services", http.StatusOK, &env)
	if len(env.Data) != 2 || len(env.Errors) == 0 || !strings.Contains(env.Errors[0].Msg, c2.Storage) {
		t.Fatalf("with one collector down: services %v, errors %+v; want frontend and inventory, and an error naming %s", env.Data, env.Errors, c2.Storage)
	}
}

// canonical GETs path and returns its JSON re-encoded (maps sorted), with
// the envelope's errors required empty.
func canonical(t *testing.T, s *Scry, path string) string {
	t.Helper()
	var v map[string]any
	s.getJSON(t, path, http.StatusOK, &v)
	if v["errors"] != nil {
		t.Fatalf("GET %s: errors %v", path, v["errors"])
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
