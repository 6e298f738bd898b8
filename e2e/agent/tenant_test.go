package agente2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/scrytrace/scry/internal/testbin"
	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/model"
)

// scryProc is a running scry (collector and query in one process).
type scryProc struct {
	*proc
	GRPC, HTTP string
}

// startScryAt starts scry with its OTLP/gRPC intake on grpcAddr (chosen by
// the test, so that an agent can be pointed at it before it runs), its
// query HTTP API and admin port on free ports; extra flags come last.
func startScryAt(t testing.TB, grpcAddr string, extra ...string) *scryProc {
	t.Helper()
	dataDir := t.TempDir()
	return testbin.WithFreePorts(t, 2, func(ports []string) (*scryProc, error) {
		args := append([]string{"--otlp-grpc-addr=" + grpcAddr, "--otlp-http-addr=", "--http-addr=" + ports[0],
			"--jaeger-http-addr=", "--zipkin-addr=", "--udp-compact-addr=", "--udp-binary-addr=",
			"--admin-addr=" + ports[1], "--data-dir=" + dataDir, "--log-level=warn"}, extra...)
		p, err := startProc(t, buildBin(t, "./cmd/scry"), args, nil, ports[1])
		if err != nil {
			return nil, err
		}
		return &scryProc{proc: p, GRPC: grpcAddr, HTTP: ports[0]}, nil
	})
}

// traceSpans reads a trace through the Jaeger API as tenant: the span IDs
// it has, and the status code.
func traceSpans(t testing.TB, httpAddr, tenant string, id model.TraceID) (map[string]bool, int) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+httpAddr+"/api/traces/"+id.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if tenant != "" {
		req.Header.Set("x-tenant", tenant)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Data []struct {
			Spans []struct {
				SpanID string `json:"spanID"`
			} `json:"spans"`
		} `json:"data"`
	}
	got := map[string]bool{}
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		for _, tr := range body.Data {
			for _, s := range tr.Spans {
				got[s.SpanID] = true
			}
		}
	}
	return got, resp.StatusCode
}

// storedIn says what of spans tenant reads back: how many are there, and
// the status of the last read.
func storedIn(t testing.TB, httpAddr, tenant string, spans []sentSpan) (int, int) {
	t.Helper()
	byTrace := map[model.TraceID][]sentSpan{}
	for _, s := range spans {
		byTrace[s.trace] = append(byTrace[s.trace], s)
	}
	n, code := 0, 0
	for id, ss := range byTrace {
		var got map[string]bool
		got, code = traceSpans(t, httpAddr, tenant, id)
		for _, s := range ss {
			if got[s.span.String()] {
				n++
			}
		}
	}
	return n, code
}

// TestTenantSpoolAfterKill is issue 12's case: the agent with a tenant,
// killed with a full spool while the collector is away, delivers into that
// tenant after a restart, and only there. An export naming another tenant
// through the same agent goes into that one.
func TestTenantSpoolAfterKill(t *testing.T) {
	bin := buildBin(t, "./cmd/scry")
	if out, _ := exec.Command(bin, "--help").CombinedOutput(); !strings.Contains(string(out), "--multi-tenancy.enabled") {
		t.Skip("scry has no --multi-tenancy.enabled yet: the collector's tenancy (branch tenantedge) is not merged")
	}
	colAddr := freeTCP(t, 1)[0] // nothing listens there until the collector starts
	spoolDir := t.TempDir()
	ag := startAgent(t, colAddr, "--tenant=team-a", "--spool-dir="+spoolDir)
	client := otlpClient(t, ag.GRPC)
	var teamA, teamB []sentSpan
	for i := range 10 {
		req, sent := otlpRequest("tenant-spooled", 100)
		ctx := context.Background()
		if i%5 == 4 { // an export naming its tenant keeps it
			ctx = metadata.AppendToOutgoingContext(ctx, "x-tenant", "team-b")
			teamB = append(teamB, sent...)
		} else {
			teamA = append(teamA, sent...)
		}
		if _, err := client.Export(ctx, req); err != nil {
			t.Fatalf("export: %v", err)
		}
	}
	ag.Kill()
	if segs, _ := filepath.Glob(filepath.Join(spoolDir, "*.seg")); len(segs) == 0 {
		t.Fatal("no spool segment left by the killed agent")
	}

	s := startScryAt(t, colAddr, "--multi-tenancy.enabled")
	ag.restart(t)
	// scry refuses an export without a tenant: that it accepts every span
	// says they came with one.
	total := float64(len(teamA) + len(teamB))
	testkit.EventuallyWithin(t, 60*time.Second, "scry accepted every span", func() bool {
		return s.metric(t, "scry_receiver_spans_accepted_total", `transport="otlp_grpc"`) >= total
	})
	testkit.EventuallyNoError(t, 60*time.Second, "every span stored in its tenant", func() error {
		if n, code := storedIn(t, s.HTTP, "team-a", teamA); n != len(teamA) {
			return fmt.Errorf("team-a reads %d of its %d spans (last status %d)", n, len(teamA), code)
		}
		if n, code := storedIn(t, s.HTTP, "team-b", teamB); n != len(teamB) {
			return fmt.Errorf("team-b reads %d of its %d spans (last status %d)", n, len(teamB), code)
		}
		return nil
	})
	// Another tenant sees none of them.
	for _, c := range []struct {
		tenant string
		spans  []sentSpan
	}{{"team-b", teamA}, {"team-a", teamB}, {"team-c", append(teamA, teamB...)}} {
		if n, code := storedIn(t, s.HTTP, c.tenant, c.spans); n != 0 || code != http.StatusNotFound {
			t.Errorf("%s reads %d spans of another tenant (status %d, want 404)", c.tenant, n, code)
		}
	}
	testkit.EventuallyWithin(t, 30*time.Second, "the spool emptied", func() bool {
		segs, _ := filepath.Glob(filepath.Join(spoolDir, "*.seg"))
		return len(segs) == 0
	})
}

// TestTenantFlagRefused: a malformed --tenant stops the agent at start
// with a clear error.
func TestTenantFlagRefused(t *testing.T) {
	bin := buildBin(t, "./cmd/scry-agent")
	for _, tenant := range []string{"../etc", "team a", strings.Repeat("x", 151)} {
		out, err := exec.Command(bin, "--collector=127.0.0.1:4317", "--tenant="+tenant, "--admin-addr=127.0.0.1:0",
			"--otlp-grpc-addr=", "--otlp-http-addr=", "--udp-compact-addr=", "--udp-binary-addr=", "--sampling-addr=").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "invalid tenant name") || !strings.Contains(string(out), "tenant") {
			t.Errorf("--tenant=%q: %v\n%s\nwant a start error naming the invalid tenant", tenant, err, out)
		}
	}
}
