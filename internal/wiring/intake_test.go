package wiring_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	jagent "github.com/jaegertracing/jaeger-idl/thrift-gen/agent"
	"github.com/jaegertracing/jaeger-idl/thrift-gen/jaeger"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/internal/wiring"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/memory"
)

// TestIntakeJaegerZipkinSampling builds the intake from flags, starts it on
// free ports and uses the Zipkin and sampling endpoints it serves.
func TestIntakeJaegerZipkinSampling(t *testing.T) {
	file := filepath.Join(t.TempDir(), "strategies.json")
	if err := os.WriteFile(file, []byte(`{"service_strategies":[{"service":"a","type":"ratelimiting","param":4}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	f := wiring.DefaultIntakeFlags()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	f.Add(fs)
	if f.JaegerHTTP.Addr != "127.0.0.1:14268" || f.Zipkin.Addr != "127.0.0.1:9411" || f.Sampling.ReloadInterval.String() != "10s" {
		t.Fatalf("defaults: %+v", f)
	}
	if err := fs.Parse([]string{"--otlp-grpc-addr=", "--otlp-http-addr=", "--jaeger-http-addr=127.0.0.1:0",
		"--zipkin-addr=127.0.0.1:0", "--sampling-strategies-file=" + file, "--udp-compact-addr=", "--udp-binary-addr="}); err != nil {
		t.Fatal(err)
	}
	store := testkit.Start(t, memory.New())
	reg := prometheus.NewRegistry()
	in, err := f.BuildIntake(store, nil, telemetry.Settings{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if in.GRPC != nil || in.HTTP != nil || in.JaegerHTTP == nil || in.Zipkin == nil || in.UDP != nil {
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
	f := wiring.DefaultIntakeFlags()
	f.Sampling.File, f.JaegerHTTP.Addr = "x.json", ""
	if _, err := f.BuildIntake(memory.New(), nil, telemetry.Nop()); err == nil ||
		!strings.Contains(err.Error(), "--jaeger-http-addr") {
		t.Fatalf("error %v", err)
	}
}

// TestIntakeUDP builds the intake with the Jaeger UDP listeners on free
// ports and sends a compact and a binary emitBatch packet through them to
// the store.
func TestIntakeUDP(t *testing.T) {
	f := wiring.DefaultIntakeFlags()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	f.Add(fs)
	if f.UDP.CompactAddr != "127.0.0.1:6831" || f.UDP.BinaryAddr != "127.0.0.1:6832" || f.UDP.BufferBytes != 4<<20 {
		t.Fatalf("defaults: %+v", f)
	}
	if err := fs.Parse([]string{"--otlp-grpc-addr=", "--otlp-http-addr=", "--jaeger-http-addr=", "--zipkin-addr=",
		"--udp-compact-addr=127.0.0.1:0", "--udp-binary-addr=127.0.0.1:0", "--udp-buffer-bytes=65536"}); err != nil {
		t.Fatal(err)
	}
	store := testkit.Start(t, memory.New())
	reg := prometheus.NewRegistry()
	in, err := f.BuildIntake(store, nil, telemetry.Settings{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if in.UDP == nil {
		t.Fatal("no UDP receiver")
	}
	for _, p := range in.Parts {
		if err := p.Start(context.Background()); err != nil {
			t.Fatalf("start %s: %v", p.Name, err)
		}
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		for i := len(in.Parts) - 1; i >= 0; i-- {
			if err := in.Parts[i].Shutdown(context.Background()); err != nil {
				t.Errorf("shut down %s: %v", in.Parts[i].Name, err)
			}
		}
	}
	t.Cleanup(stop)

	for _, tc := range []struct {
		transport string
		compact   bool
	}{{"udp_compact", true}, {"udp_binary", false}} {
		addr := in.UDP.Addrs().Binary
		if tc.compact {
			addr = in.UDP.Addrs().Compact
		}
		id := int64(0x1234_5678_9abc)
		if tc.compact {
			id++
		}
		batch := &jaeger.Batch{Process: &jaeger.Process{ServiceName: "udp"}, Spans: []*jaeger.Span{{
			TraceIdLow: id, SpanId: id, OperationName: "op", StartTime: time.Now().UnixMicro(), Duration: 5,
		}}}
		buf := thrift.NewTMemoryBuffer()
		var pf thrift.TProtocolFactory = thrift.NewTBinaryProtocolFactoryConf(nil)
		if tc.compact {
			pf = thrift.NewTCompactProtocolFactoryConf(nil)
		}
		if err := jagent.NewAgentClientFactory(buf, pf).EmitBatch(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		conn, err := net.Dial("udp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(buf.Bytes()); err != nil {
			t.Fatal(err)
		}
		conn.Close()
		var tid model.TraceID
		binary.BigEndian.PutUint64(tid[8:], uint64(id))
		testkit.EventuallyNoError(t, 10*time.Second, tc.transport+" span stored", func() error {
			spans, err := store.GetTrace(context.Background(), tid, storage.TimeHint{})
			if err == nil && len(spans) != 1 {
				err = fmt.Errorf("%d spans stored, want 1", len(spans))
			}
			return err
		})
		if got := counterValue(t, reg, "scry_receiver_spans_accepted_total", tc.transport); got != 1 {
			t.Errorf("accepted{%s} = %v, want 1", tc.transport, got)
		}
		if got := counterValue(t, reg, "scry_receiver_udp_packets_received_total", tc.transport); got != 1 {
			t.Errorf("udp packets received{%s} = %v, want 1", tc.transport, got)
		}
	}
	// The ports are free once the intake is shut down.
	compact, bin := in.UDP.Addrs().Compact.String(), in.UDP.Addrs().Binary.String()
	stop()
	for _, a := range []string{compact, bin} {
		c, err := net.ListenPacket("udp", a)
		if err != nil {
			t.Fatalf("%s not released: %v", a, err)
		}
		c.Close()
	}
}

// counterValue is the counter name{transport} in reg, 0 if absent.
func counterValue(t *testing.T, reg *prometheus.Registry, name, transport string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == transport {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
