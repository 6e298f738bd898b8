package agente2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/scrytrace/scry/internal/testkit"
)

// TestConfigFromEnvironment sets the collector and the batch size through
// SCRY_ variables only.
func TestConfigFromEnvironment(t *testing.T) {
	col := startCollector(t)
	st := store(t, col)
	ag := startAgentEnv(t, []string{"SCRY_COLLECTOR=" + col.GRPC, "SCRY_BATCH_SPANS=7"})
	req, sent := otlpRequest("from-env", 21)
	if _, err := otlpClient(t, ag.GRPC).Export(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	waitStored(t, st, sent, 30*time.Second)
	testkit.EventuallyWithin(t, 10*time.Second, "the spans counted forwarded", func() bool {
		return ag.metric(t, "scry_agent_spans_forwarded_total") == 21
	})
	if b := ag.metric(t, "scry_agent_batches_forwarded_total"); b != 3 {
		t.Errorf("%v batches for 21 spans with SCRY_BATCH_SPANS=7, want 3", b)
	}
}

// TestHelp checks that --help lists every flag with its default, and that
// starting without a collector says what to set.
func TestHelp(t *testing.T) {
	bin := buildBin(t, "./cmd/scry-agent")
	out, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("--help: %v\n%s", err, out)
	}
	help := string(out)
	for _, f := range []string{
		"udp-compact-addr", "udp-binary-addr", "udp-buffer-bytes", "udp-workers", "otlp-grpc-addr", "otlp-http-addr",
		"max-message-bytes", "max-spans-per-request", "collector-resolve-interval", "collector-timeout", "forwarders",
		"batch-spans", "batch-timeout", "buffer-bytes", "retry-initial-backoff", "retry-max-backoff", "spool-bytes",
		"sampling-addr", "sampling-url", "shutdown-timeout", "admin-addr", "log-level", "log-format", "memory-limit-mb",
		"tls-min-version", "tls-reload-interval", "collector-tls-min-version", "http-cors-max-age", "tenant-header",
	} {
		line := ""
		for _, l := range strings.Split(help, "\n") {
			if strings.Contains(l, "--"+f+" ") {
				line = l
			}
		}
		if !strings.Contains(line, "(default ") {
			t.Errorf("--help has no default for --%s: %q", f, line)
		}
	}
	for _, f := range []string{"--collector ", "--spool-dir ", "--tenant ", "--config ", "SCRY_", "--tls-cert-file ", "--sampling-tls-cert-file ",
		"--collector-tls-ca-file ", "--collector-tls-cert-file ", "--collector-tls-key-file ", "--collector-tls-server-name ", "--require-tls ",
		"--http-cors-allowed-origins ", "--http-cors-allowed-headers "} {
		if !strings.Contains(help, f) {
			t.Errorf("--help does not mention %s", f)
		}
	}
	out, err = exec.Command(bin, "--admin-addr=127.0.0.1:0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--collector") {
		t.Errorf("start without a collector: %v\n%s", err, out)
	}
}
