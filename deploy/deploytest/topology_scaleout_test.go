package deploytest

// The scale-out overlay as processes: three nats-servers with the
// overlay's nats.conf, the collectors, the ingesters and scry-query with
// their own arguments, on loopback addresses.

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	corev1 "k8s.io/api/core/v1"

	"github.com/scrytrace/scry/internal/testbin"
	"github.com/scrytrace/scry/internal/testkit"
)

var (
	natsIPs          = []string{"127.0.0.11", "127.0.0.12", "127.0.0.13"}
	scaleCollectorIP = []string{"127.0.0.14", "127.0.0.15"}
	ingesterIPs      = []string{"127.0.0.16", "127.0.0.17"}
	scaleQueryIP     = "127.0.0.18"
)

var (
	confListen = regexp.MustCompile(`\b0\.0\.0\.0:(\d+)`)
	confRoute  = regexp.MustCompile(`nats://([a-z0-9.-]+):(\d+)`)
	confPath   = regexp.MustCompile(`(?m)^(\s*(?:store_dir|pid_file):\s*)(/\S+)`)
)

// startNATS runs the nats container of pod p with its args, its
// configuration translated as the pod would see it: listeners on the pod's
// address, the routes' pod names resolved, paths on the pod's volumes.
func (cl *cluster) startNATS(p *pod, bin string) (*testbin.Proc, error) {
	cl.t.Helper()
	var c *corev1.Container
	for _, cc := range allContainers(&p.W.Template.Spec) {
		if isNATS(cc) {
			c = cc
		}
	}
	i := slices.Index(c.Args, "--config")
	path, err := cl.volumePath(p, c, c.Args[i+1])
	if err != nil {
		return nil, err
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	conf := string(text)
	conf = confListen.ReplaceAllStringFunc(conf, func(m string) string {
		pn, _ := strconv.Atoi(confListen.FindStringSubmatch(m)[1])
		return net.JoinHostPort(p.IP, strconv.Itoa(cl.ports[int32(pn)]))
	})
	conf = confRoute.ReplaceAllStringFunc(conf, func(m string) string {
		sm := confRoute.FindStringSubmatch(m)
		addr, e := cl.podAddr(sm[1], sm[2])
		if e != nil {
			err = e
		}
		return "nats://" + addr
	})
	conf = confPath.ReplaceAllStringFunc(conf, func(m string) string {
		sm := confPath.FindStringSubmatch(m)
		path, e := cl.volumePath(p, c, sm[2])
		if e != nil {
			err = e
		}
		return sm[1] + strconv.Quote(path)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: nats.conf: %w", p, err)
	}
	file := filepath.Join(p.Dir, "nats.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	args := slices.Clone(c.Args)
	args[i+1] = file
	h, err := cl.hostPort(c, c.ReadinessProbe.HTTPGet.Port.String(), corev1.ProtocolTCP)
	if err != nil {
		return nil, err
	}
	var env []string
	for _, e := range c.Env {
		if e.Value != "" {
			env = append(env, e.Name+"="+e.Value)
		}
	}
	pr, err := testbin.Cmd{
		Bin: bin, Args: args, Name: p.String() + "/" + c.Name,
		Env:          append(env, expandEnv(p, c, "SERVER_NAME=$(SERVER_NAME)")),
		Ready:        "http://" + net.JoinHostPort(p.IP, strconv.Itoa(h)) + c.ReadinessProbe.HTTPGet.Path,
		ReadyTimeout: readyTimeout,
	}.Start()
	if err != nil {
		return nil, err
	}
	cl.procs = append(cl.procs, pr)
	return pr, nil
}

// TestTopologyScaleOut runs the scale-out overlay: three nats-servers
// forming the JetStream cluster from the overlay's nats.conf, two
// collectors creating the R3 partition streams (--nats-init) and
// publishing, two ingesters owning the partitions by their ordinals and
// advertising their pod names, and scry-query finding them through the
// leases. Traces sent to the intake Service come back whole through
// scry-query, and every partition is served.
func TestTopologyScaleOut(t *testing.T) {
	natsBin := testbin.Build(t, "github.com/nats-io/nats-server/v2")
	for _, b := range []string{"scry-collector", "scry-ingester", "scry-query"} {
		binary(t, b)
	}
	objs := renderOverlay(t, "scale-out")
	var queryAddr string
	cl := runTopology(t, objs, map[string][]string{
		"scry-nats":      natsIPs,
		"scry-collector": scaleCollectorIP,
		"scry-ingester":  ingesterIPs,
		"scry-query":     {scaleQueryIP},
	}, func(cl *cluster) error {
		var nats []*testbin.Proc
		for _, p := range cl.podsOf("scry-nats") {
			pr, err := cl.startNATS(p, natsBin)
			if err != nil {
				return err
			}
			nats = append(nats, pr)
		}
		for _, pr := range nats {
			if err := pr.WaitReady(); err != nil {
				return err
			}
		}
		for _, p := range cl.podsOf("scry-collector") {
			if _, err := cl.start(p, "scry-collector"); err != nil {
				return err
			}
		}
		// A pod's host name is its name, which --ordinal=-1 and the
		// default --id read; these processes share the test's host name.
		for _, p := range cl.podsOf("scry-ingester") {
			if _, err := cl.start(p, "scry-ingester", "--ordinal="+strconv.Itoa(p.Ordinal), "--id="+p.String()); err != nil {
				return err
			}
		}
		q := cl.podsOf("scry-query")[0]
		if _, err := cl.start(q, "scry-query"); err != nil {
			return err
		}
		h, err := cl.hostPort(scryContainer(q.W, "scry-query"), "http", corev1.ProtocolTCP)
		queryAddr = fmt.Sprintf("%s:%d", q.IP, h)
		return err
	})

	// One app through the intake Service (OTLP/gRPC), one straight to the
	// other collector (OTLP/HTTP): any collector takes any span.
	col := cl.podsOf("scry-collector")
	otlp, err := cl.endpointFor(col[0], "http://scry-collector."+col[0].W.Namespace+".svc.cluster.local:4317")
	if err != nil {
		t.Fatal(err)
	}
	httpPort, err := cl.hostPort(scryContainer(col[1].W, "scry-collector"), "otlp-http", corev1.ProtocolTCP)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{}
	spans := 0
	for _, app := range []struct{ protocol, endpoint, service string }{
		{"grpc", otlp, "checkout"},
		{"http/protobuf", fmt.Sprintf("http://%s:%d", col[1].IP, httpPort), "frontend"},
	} {
		exp := newExporter(t, app.protocol, app.endpoint)
		defer exp.check(t)
		tp := newProvider(exp, app.service)
		for i := range 30 {
			ctx, root := tp.Tracer("deploytest").Start(context.Background(), "POST /order", trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attribute.Int("order", i)))
			ids := []string{root.SpanContext().SpanID().String()}
			for j := range 3 {
				_, child := tp.Tracer("deploytest").Start(ctx, fmt.Sprintf("step %d", j))
				ids = append(ids, child.SpanContext().SpanID().String())
				child.End()
			}
			root.End()
			want[root.SpanContext().TraceID().String()] = ids
			spans += len(ids)
		}
		flush(t, tp)
	}
	waitWhole(t, queryAddr, want, map[string]bool{"checkout": true, "frontend": true})

	// Two replicas per partition: with two ingesters each owns every
	// partition, and each applies every span.
	for _, p := range cl.podsOf("scry-ingester") {
		var n float64
		if !testkit.Poll(traceTimeout, func() bool {
			n = adminMetric(t, cl, p, "scry-ingester", "scry_ingester_spans_total")
			return n >= float64(spans)
		}) {
			t.Errorf("%s applied %v spans, want %d (it owns every partition)", p, n, spans)
		}
	}
}
