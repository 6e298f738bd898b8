package agente2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/internal/tlsconf/tlstest"
)

// TestMutualTLSToCollector runs a collector whose OTLP/gRPC and storage
// listeners require client certificates of a test CA, an agent that
// forwards to it with --collector-tls-* and a scry-query that reads its
// store with --storage-tls-*, both dialling the collector by name
// (localhost), as its certificate says. Spans sent to the agent are
// delivered and read back; the collector refuses the agent's plain text
// and a certificate of another CA.
func TestMutualTLSToCollector(t *testing.T) {
	ca := tlstest.NewCA(t, "test CA")
	srv := ca.Server(t, "collector", "localhost")
	client := ca.Client(t, "agent")
	caFile := ca.CAFile(t)
	var flags []string
	for _, l := range []string{"otlp-grpc", "storage"} {
		flags = append(flags, "--"+l+"-tls-cert-file="+srv.CertFile, "--"+l+"-tls-key-file="+srv.KeyFile, "--"+l+"-tls-client-ca-file="+caFile)
	}
	col := startCollector(t, flags...)
	byName := func(addr string) string {
		_, port, _ := net.SplitHostPort(addr)
		return "localhost:" + port
	}
	clientFlags := func(prefix string) []string {
		return []string{"--" + prefix + "-tls-ca-file=" + caFile, "--" + prefix + "-tls-cert-file=" + client.CertFile, "--" + prefix + "-tls-key-file=" + client.KeyFile}
	}
	ag := startAgent(t, byName(col.GRPC), clientFlags("collector")...)
	q := startQuery(t, &collector{Storage: byName(col.Storage)}, clientFlags("storage")...)

	req, sent := otlpRequest("mtls-svc", 10)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := otlpClient(t, ag.GRPC).Export(ctx, req); err != nil {
		t.Fatalf("export to the agent: %v", err)
	}
	tid := sent[0].trace.String()
	testkit.EventuallyNoError(t, 30*time.Second, "the trace read back through scry-query over TLS", func() error {
		resp, err := http.Get("http://" + q + "/api/traces/" + tid)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var env struct {
			Data []struct {
				Spans []struct{ SpanID string } `json:"spans"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK || len(env.Data) != 1 || len(env.Data[0].Spans) != 10 {
			return fmt.Errorf("status %d, %+v; want one trace of 10 spans", resp.StatusCode, env)
		}
		return nil
	})
	if n := ag.metric(t, "scry_agent_spans_dropped_total"); n != 0 {
		t.Errorf("the agent dropped %v spans", n)
	}

	// The collector takes no plain text and no foreign certificate.
	if _, err := otlpClient(t, col.GRPC).Export(ctx, req); err == nil {
		t.Error("the collector took a plain text export")
	}
	foreign := tlstest.NewCA(t, "foreign CA").Client(t, "intruder")
	if _, err := tlstest.Handshake(col.GRPC, tlstest.ClientConfig(ca, &foreign)); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("handshake with a foreign client certificate: %v, want a certificate error", err)
	}
}
