package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/scrytrace/scry/internal/testbin"
)

// TestConfigSources sets flags through SCRY_<FLAG> environment variables and
// a --config YAML file and checks that they take effect, with the command
// line winning over the environment and the environment over the file.
func TestConfigSources(t *testing.T) {
	t.Parallel()
	addrs := freeAddrs(t, 3)
	fileAddr, envAddr, fileAddr2 := addrs[0], addrs[1], addrs[2]

	t.Run("environment over file", func(t *testing.T) {
		cfg := writeConfig(t, "http-addr: \""+fileAddr+"\"\nmax-spans-per-request: 2\n")
		s := startScryWith(t, scryOptions{
			Flags:    []string{"--config", cfg},
			Env:      []string{"SCRY_HTTP_ADDR=" + envAddr},
			External: map[string]string{flagHTTP: envAddr},
		})
		// The query API is where the environment put it.
		jaeger[[]string](t, s, "/api/services")
		// The file's span limit applies.
		checkSpanLimit(t, s, 2)
	})

	t.Run("file, and flag over environment", func(t *testing.T) {
		cfg := writeConfig(t, "http-addr: \""+fileAddr2+"\"\n")
		s := startScryWith(t, scryOptions{
			Flags:    []string{"--config=" + cfg, "--max-spans-per-request=3"},
			Env:      []string{"SCRY_MAX_SPANS_PER_REQUEST=1"},
			External: map[string]string{flagHTTP: fileAddr2},
		})
		jaeger[[]string](t, s, "/api/services")
		checkSpanLimit(t, s, 3)
	})

	t.Run("invalid environment value", func(t *testing.T) {
		out, err := runScry(t, []string{"SCRY_QUEUE_WRITERS=many"})
		if err == nil || !strings.Contains(string(out), "SCRY_QUEUE_WRITERS") {
			t.Errorf("scry with SCRY_QUEUE_WRITERS=many: %v, output %q; want a failure naming the variable", err, out)
		}
	})

	t.Run("unknown config key", func(t *testing.T) {
		cfg := writeConfig(t, "http-adr: \"127.0.0.1:1\"\n")
		out, err := runScry(t, nil, "--config="+cfg)
		if err == nil || !strings.Contains(string(out), "http-adr") {
			t.Errorf("scry with an unknown config key: %v, output %q; want a failure naming the key", err, out)
		}
	})
}

// runScry runs scry to completion with env added to its environment, on
// ports chosen by the system, and returns its output. A scry that does not
// exit within readyTimeout is killed.
func runScry(t *testing.T, env []string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	args = append([]string{"--data-dir=" + t.TempDir()}, args...)
	for _, f := range slices.Concat(addrFlags, udpAddrFlags) {
		args = append(args, "--"+f+"=127.0.0.1:0")
	}
	cmd := exec.CommandContext(ctx, buildBinary(t, "./cmd/scry"), args...)
	cmd.Env = append(cleanEnv(), env...)
	testbin.SetChildAttrs(cmd)
	return cmd.CombinedOutput()
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "scry.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkSpanLimit checks that an export of limit spans is accepted and one
// of limit+1 is refused as too large.
func checkSpanLimit(t *testing.T, s *Scry, limit int) {
	t.Helper()
	c := s.traceClient(t)
	ok, ids := smallBatch("limits", 1, limit, "")
	s.exportOK(t, c, ok)
	s.checkStored(t, ids)
	tooMany, _ := smallBatch("limits", 1, limit+1, "")
	_, err := c.Export(context.Background(), &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{tooMany}})
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("export of %d spans with a limit of %d: %v, want RESOURCE_EXHAUSTED", limit+1, limit, err)
	}
}

// TestHelp checks that `scry --help` documents every flag with its default
// and the SCRY_<FLAG> environment variables.
func TestHelp(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(buildBinary(t, "./cmd/scry"), "--help")
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scry --help: %v\n%s", err, out)
	}
	help := string(out)
	// Flags and their defaults ("" for none).
	for _, f := range []struct{ name, def string }{
		{"data-dir", `"scry-data"`},
		{"retention", "72h0m0s"},
		{"retention-size", ""}, // 0, no limit
		{"retention-errors", ""},
		{"retention-slow", ""},
		{"slow-threshold", ""},
		{"otlp-grpc-addr", `"127.0.0.1:4317"`},
		{"otlp-http-addr", `"127.0.0.1:4318"`},
		{"http-addr", `"127.0.0.1:16686"`},
		{"tempo-http-addr", ""}, // off
		{"tempo-http-tls-cert-file", ""},
		{"admin-addr", `"127.0.0.1:14269"`},
		{"queue-bytes", "67108864"},
		{"queue-writers", "2"},
		{"max-message-bytes", "16777216"},
		{"max-spans-per-request", "100000"},
		{"log-level", `"info"`},
		{"log-format", `"auto"`},
		{"config", ""},
		{"base-path", ""},
		{"jaeger-http-addr", `"127.0.0.1:14268"`},
		{"zipkin-addr", `"127.0.0.1:9411"`},
		{"udp-compact-addr", `"127.0.0.1:6831"`},
		{"udp-binary-addr", `"127.0.0.1:6832"`},
		{"udp-buffer-bytes", "4194304"},
		{"tls-cert-file", ""},
		{"tls-key-file", ""},
		{"tls-client-ca-file", ""},
		{"tls-min-version", `"1.2"`},
		{"tls-reload-interval", "5s"},
		{"require-tls", ""},
		{"otlp-grpc-tls-cert-file", ""},
		{"http-tls-client-ca-file", ""},
		{"admin-tls-min-version", ""},
		{"http-cors-allowed-origins", ""}, // CORS off
		{"http-cors-allowed-headers", ""},
		{"http-cors-max-age", "10m0s"},
	} {
		line := regexp.MustCompile(`(?m)^\s+(-\w, )?--` + regexp.QuoteMeta(f.name) + `\s.*$`).FindString(help)
		switch {
		case line == "":
			t.Errorf("--help does not list --%s", f.name)
		case f.def != "" && !strings.Contains(line, "(default "+f.def+")"):
			t.Errorf("--help line of --%s does not give its default %s: %q", f.name, f.def, line)
		case f.def == "" && strings.Contains(line, "(default"):
			t.Errorf("--help line of --%s gives a default, want none: %q", f.name, line)
		}
	}
	if !strings.Contains(help, "SCRY_") {
		t.Errorf("--help does not mention the SCRY_<FLAG> environment variables:\n%s", help)
	}
}
