package agente2e

// The harness: building the binaries, starting and stopping them on free
// ports, reading their metrics and the collector's store.

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/testbin"
	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/remote"
)

const readyTimeout = 60 * time.Second // exec to /readyz 200; the machine may be busy

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// buildBin builds the main package pkg ("./cmd/scry-agent") once per run.
func buildBin(t testing.TB, pkg string) string {
	t.Helper()
	return testbin.Build(t, pkg)
}

// proc is one running binary.
type proc struct{ *testbin.Proc }

// startProc starts bin and waits until /readyz on admin answers 200. The
// process is stopped when the test ends (an unclean stop is only logged)
// and its output logged if the test failed.
func startProc(t testing.TB, bin string, args, env []string, admin string) (*proc, error) {
	t.Helper()
	p, err := testbin.Cmd{Bin: bin, Args: args, Env: env, Admin: admin, ReadyTimeout: readyTimeout, LaxStop: true}.Run(t)
	if err != nil {
		return nil, err
	}
	return &proc{p}, nil
}

// freeTCP returns n loopback TCP addresses that were free a moment ago.
func freeTCP(t testing.TB, n int) []string {
	t.Helper()
	return testbin.FreeAddrs(t, n)
}

// collector is a running scry-collector.
type collector struct {
	*proc
	GRPC, Storage, DataDir string
	args                   []string
}

// startCollector starts scry-collector with its own data folder; extra
// flags come last.
func startCollector(t testing.TB, extra ...string) *collector {
	t.Helper()
	dataDir := t.TempDir()
	return testbin.WithFreePorts(t, 3, func(ports []string) (*collector, error) {
		c := &collector{GRPC: ports[0], Storage: ports[1], DataDir: dataDir}
		// The listeners the tests do not use are off, so that they take no
		// fixed ports.
		c.args = []string{"--otlp-grpc-addr=" + ports[0], "--otlp-http-addr=", "--storage-addr=" + ports[1],
			"--jaeger-http-addr=", "--zipkin-addr=", "--udp-compact-addr=", "--udp-binary-addr=",
			"--admin-addr=" + ports[2], "--data-dir=" + dataDir, "--log-level=warn"}
		c.args = append(c.args, extra...)
		p, err := startProc(t, buildBin(t, "./cmd/scry-collector"), c.args, nil, ports[2])
		if err != nil {
			return nil, err
		}
		c.proc = p
		return c, nil
	})
}

// startQuery starts scry-query over the collector's storage API and
// returns its HTTP address; extra flags come last.
func startQuery(t testing.TB, c *collector, extra ...string) string {
	t.Helper()
	return testbin.WithFreePorts(t, 2, func(ports []string) (string, error) {
		_, err := startProc(t, buildBin(t, "./cmd/scry-query"),
			append([]string{"--storage=" + c.Storage, "--http-addr=" + ports[0], "--admin-addr=" + ports[1], "--log-level=warn"}, extra...), nil, ports[1])
		return ports[0], err
	})
}

// restart starts the collector again on the same ports and data.
func (c *collector) restart(t testing.TB) {
	t.Helper()
	p, err := startProc(t, buildBin(t, "./cmd/scry-collector"), c.args, nil, c.Admin)
	if err != nil {
		t.Fatal(err)
	}
	c.proc = p
}

// agentProc is a running scry-agent.
type agentProc struct {
	*proc
	GRPC, HTTP, UDPCompact, UDPBinary, Sampling string
	args, env                                   []string
}

// startAgent starts scry-agent forwarding to collectorAddr, every listener
// on a free port; extra flags come last.
func startAgent(t testing.TB, collectorAddr string, extra ...string) *agentProc {
	t.Helper()
	return startAgentEnv(t, nil, append([]string{"--collector=" + collectorAddr}, extra...)...)
}

// startAgentEnv starts scry-agent with env added to its environment, every
// listener on a free port, and flags.
func startAgentEnv(t testing.TB, env []string, flags ...string) *agentProc {
	t.Helper()
	return testbin.WithFreePorts(t, 4, func(tcp []string) (*agentProc, error) {
		udp := testbin.FreeUDPAddrs(t, 2)
		a := &agentProc{GRPC: tcp[0], HTTP: tcp[1], Sampling: tcp[2], UDPCompact: udp[0], UDPBinary: udp[1], env: env}
		a.args = append([]string{
			"--otlp-grpc-addr=" + tcp[0], "--otlp-http-addr=" + tcp[1], "--sampling-addr=" + tcp[2], "--admin-addr=" + tcp[3],
			"--udp-compact-addr=" + udp[0], "--udp-binary-addr=" + udp[1],
			"--sampling-url=http://127.0.0.1:1/api/sampling", "--retry-max-backoff=500ms", "--batch-timeout=50ms"}, flags...)
		p, err := startProc(t, buildBin(t, "./cmd/scry-agent"), a.args, env, tcp[3])
		if err != nil {
			return nil, err
		}
		a.proc = p
		return a, nil
	})
}

// restart starts the agent again with the same flags.
func (a *agentProc) restart(t testing.TB) {
	t.Helper()
	p, err := startProc(t, buildBin(t, "./cmd/scry-agent"), a.args, a.env, a.Admin)
	if err != nil {
		t.Fatal(err)
	}
	a.proc = p
}

// metric sums the samples of name whose labels include every one of labels
// (each `key="value"`) on the process's /metrics.
func (p *proc) metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + p.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || (len(line) > len(name) && line[len(name)] != '{' && line[len(name)] != ' ') {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

// sentSpan names a span a test sent.
type sentSpan struct {
	trace model.TraceID
	span  model.SpanID
}

// store reads the collector's store through its storage API.
func store(t testing.TB, c *collector) *remote.Client {
	t.Helper()
	cfg := remote.DefaultConfig()
	cfg.Endpoints = []string{c.Storage}
	cl, err := remote.New(cfg, telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return testkit.Start(t, cl)
}

// missing returns the spans not stored (or all, while the store does not
// answer). It reads the traces a hundred at a time with GetTraces, each
// call with its own timeout: tens of thousands of spans one GetTrace each
// took longer than one shared timeout under -race on a loaded machine,
// which read as "nothing stored".
func missing(s storage.Reader, spans []sentSpan) []sentSpan {
	var ids []model.TraceID
	seen := map[model.TraceID]bool{}
	for _, sp := range spans {
		if !seen[sp.trace] {
			seen[sp.trace] = true
			ids = append(ids, sp.trace)
		}
	}
	have := make(map[model.TraceID]map[model.SpanID]bool, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), 100)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		got, err := s.GetTraces(ctx, ids[:n], storage.TimeHint{})
		cancel()
		if err != nil {
			return spans
		}
		for i, id := range ids[:n] {
			m := map[model.SpanID]bool{}
			for _, g := range got[i] {
				m[g.SpanID] = true
			}
			have[id] = m
		}
		ids = ids[n:]
	}
	var out []sentSpan
	for _, sp := range spans {
		if !have[sp.trace][sp.span] {
			out = append(out, sp)
		}
	}
	return out
}

// waitStored polls until every span is stored.
func waitStored(t testing.TB, s storage.Reader, spans []sentSpan, timeout time.Duration) {
	t.Helper()
	testkit.EventuallyNoError(t, timeout, "every span stored", func() error {
		if m := missing(s, spans); len(m) > 0 {
			return fmt.Errorf("%d of %d spans not stored (first: trace %s span %s)", len(m), len(spans), m[0].trace, m[0].span)
		}
		return nil
	})
}
