package agente2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scrytrace/scry/internal/testbin"
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

// TestEveryListenerTLS runs scry-collector, scry-query and scry-agent with
// --tls-cert-file, --tls-key-file and --tls-client-ca-file and checks every
// TCP listener of each: a handshake with the CA and a client certificate
// works; TLS 1.1, plain text, no client certificate and a foreign one are
// refused.
func TestEveryListenerTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "test CA")
	srv := ca.Server(t, "server")
	client := ca.Client(t, "client")
	foreign := tlstest.NewCA(t, "foreign CA").Client(t, "intruder")
	caFile := ca.CAFile(t)
	tlsFlags := []string{"--tls-cert-file=" + srv.CertFile, "--tls-key-file=" + srv.KeyFile, "--tls-client-ca-file=" + caFile}
	clientFlags := func(prefix string) []string {
		return []string{"--" + prefix + "-tls-ca-file=" + caFile, "--" + prefix + "-tls-cert-file=" + client.CertFile, "--" + prefix + "-tls-key-file=" + client.KeyFile}
	}
	start := func(bin string, names []string, flags ...string) map[string]string {
		return testbin.WithFreePorts(t, len(names), func(ports []string) (map[string]string, error) {
			addrs := map[string]string{}
			args := append([]string{"--log-level=warn"}, tlsFlags...)
			for i, n := range names {
				addrs[n] = ports[i]
				args = append(args, "--"+n+"-addr="+ports[i])
			}
			_, err := testbin.Cmd{Bin: buildBin(t, bin), Args: append(args, flags...), Admin: addrs["admin"],
				ReadyTLS: tlstest.ClientConfig(ca, &client), ReadyTimeout: readyTimeout, LaxStop: true}.Run(t)
			return addrs, err
		})
	}
	check := func(binary string, addrs map[string]string) {
		for name, addr := range addrs {
			tlstest.CheckListener(t, binary+" "+name, addr, ca, client, foreign)
		}
	}

	col := start("./cmd/scry-collector", []string{"otlp-grpc", "otlp-http", "jaeger-http", "zipkin", "storage", "admin"},
		"--udp-compact-addr=", "--udp-binary-addr=", "--data-dir="+t.TempDir())
	check("scry-collector", col)
	_, storagePort, _ := net.SplitHostPort(col["storage"])
	check("scry-query", start("./cmd/scry-query", []string{"http", "admin"},
		append(clientFlags("storage"), "--storage=localhost:"+storagePort)...))
	_, grpcPort, _ := net.SplitHostPort(col["otlp-grpc"])
	_, jaegerPort, _ := net.SplitHostPort(col["jaeger-http"])
	ag := start("./cmd/scry-agent", []string{"otlp-grpc", "otlp-http", "sampling", "admin"},
		append(clientFlags("collector"), "--collector=localhost:"+grpcPort, "--udp-compact-addr=", "--udp-binary-addr=",
			"--sampling-url=https://localhost:"+jaegerPort+"/api/sampling")...)
	check("scry-agent", ag)

	// The agent fetches sampling strategies from the collector's Jaeger
	// HTTP port over mutual TLS too, with its --collector-tls-* settings.
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlstest.ClientConfig(ca, &client)}}
	resp, err := hc.Get("https://" + ag["sampling"] + "/sampling?service=tls-app")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /sampling: %d", resp.StatusCode)
	}
	resp, err = hc.Get("https://" + ag["admin"] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `scry_agent_sampling_requests_total{source="collector"} 1`; !strings.Contains(string(metrics), want) {
		t.Errorf("the strategy was not fetched from the collector over TLS: /metrics has no %q", want)
	}
}
