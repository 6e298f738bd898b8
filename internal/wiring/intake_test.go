package wiring_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/scrytrace/scry/internal/wiring"
	"github.com/scrytrace/scry/storage/memory"
)

// TestIntakeJaegerZipkinSampling builds the intake from flags, starts it on
// free ports and uses the Zipkin and sampling endpoints it serves.
func TestIntakeJaegerZipkinSampling(t *testing.T) {
	file := filepath.Join(t.TempDir(), "strategies.json")
	if err := os.WriteFile(file, []byte(`{"service_strategies":[{"service":"a","type":"ratelimiting","param":4}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var f wiring.IntakeFlags
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	f.Add(fs)
	if f.JaegerHTTPAddr != "127.0.0.1:14268" || f.ZipkinAddr != "127.0.0.1:9411" || f.SamplingReloadInterval.String() != "10s" {
		t.Fatalf("defaults: %+v", f)
	}
	if err := fs.Parse([]string{"--otlp-grpc-addr=", "--otlp-http-addr=", "--jaeger-http-addr=127.0.0.1:0",
		"--zipkin-addr=127.0.0.1:0", "--sampling-strategies-file=" + file}); err != nil {
		t.Fatal(err)
	}
	store := memory.New()
	reg := prometheus.NewRegistry()
	in, err := f.BuildIntake(store, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if in.GRPC != nil || in.HTTP != nil || in.JaegerHTTP == nil || in.Zipkin == nil {
		t.Fatalf("receivers: %+v", in)
	}
	for _, p := range in.Parts {
		if err := p.Start(context.Background()); err != nil {
			t.Fatalf("start %s: %v", p.Name, err)
		}
	}
	t.Cleanup(func() {
		for i := len(in.Parts) - 1; i >= 0; i-- {
			if err := in.Parts[i].Shutdown(context.Background()); err != nil {
				t.Errorf("shut down %s: %v", in.Parts[i].Name, err)
			}
		}
	})

	resp, err := http.Get("http://" + in.JaegerHTTP.Addr().String() + "/api/sampling?service=a")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != `{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":4}}` {
		t.Fatalf("sampling: %d %s", resp.StatusCode, b)
	}

	resp, err = http.Post("http://"+in.Zipkin.Addr().String()+"/api/v2/spans", "application/json", strings.NewReader(
		`[{"traceId":"5b8efff798038103d269b633813fc60c","id":"eee19b7ec3c1b174","name":"x","timestamp":1700000000000000,"duration":1}]`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("zipkin: status %d", resp.StatusCode)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counted := false
	for _, mf := range mfs {
		if mf.GetName() == "scry_receiver_spans_accepted_total" {
			for _, m := range mf.GetMetric() {
				counted = counted || (m.GetLabel()[0].GetValue() == "zipkin" && m.GetCounter().GetValue() == 1)
			}
		}
	}
	if !counted {
		t.Fatal("span not counted under transport zipkin")
	}
}

func TestIntakeSamplingNeedsJaegerHTTP(t *testing.T) {
	f := wiring.IntakeFlags{SamplingStrategiesFile: "x.json", QueueBytes: 1 << 20, Writers: 1}
	if _, err := f.BuildIntake(memory.New(), prometheus.NewRegistry(), slog.New(slog.DiscardHandler)); err == nil ||
		!strings.Contains(err.Error(), "--jaeger-http-addr") {
		t.Fatalf("error %v", err)
	}
}
