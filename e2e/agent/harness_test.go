package agente2e

// The harness: building the binaries, starting and stopping them on free
// ports, reading their metrics and the collector's store.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/remote"
)

const (
	readyTimeout = 60 * time.Second // exec to /readyz 200; the machine may be busy
	stopTimeout  = 30 * time.Second
	startTries   = 3 // a picked port may be taken meanwhile
)

var (
	binDir  string
	buildMu sync.Mutex
	built   = map[string]string{}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "scry-e2e-agent-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot create binary folder:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildBin builds the main package pkg ("./cmd/scry-agent") once per run.
func buildBin(t testing.TB, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[pkg]; ok {
		return p
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("cannot find the module root: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	path := filepath.Join(binDir, filepath.Base(pkg))
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", path, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cannot build %s: %v\n%s", pkg, err, b)
	}
	t.Logf("built %s in %s", pkg, time.Since(start).Round(time.Millisecond))
	built[pkg] = path
	return path
}

// proc is one running binary.
type proc struct {
	t      testing.TB
	name   string
	admin  string
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
	err    error
}

var errPortTaken = errors.New("a picked port was taken")

// startProc starts bin and waits until /readyz on admin answers 200. The
// process is stopped when the test ends and its output logged if the test
// failed.
func startProc(t testing.TB, bin string, args, env []string, admin string) (*proc, error) {
	t.Helper()
	p := &proc{t: t, name: filepath.Base(bin), admin: admin, out: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SCRY_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	setChildAttrs(p.cmd)
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start %s: %w", bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		if !p.isExited() {
			if err := p.stop(); err != nil {
				t.Logf("%s did not stop cleanly: %v", p.name, err)
			}
		}
		if t.Failed() {
			t.Logf("output of %s %s:\n%s", p.name, strings.Join(args, " "), p.out.String())
		}
	})
	deadline := time.Now().Add(readyTimeout)
	c := &http.Client{Timeout: time.Second}
	for {
		resp, err := c.Get("http://" + admin + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case <-p.exited:
			if strings.Contains(p.out.String(), "address already in use") {
				return nil, fmt.Errorf("%w: %s", errPortTaken, p.name)
			}
			return nil, fmt.Errorf("%s exited before it was ready (%v):\n%s", p.name, p.err, p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s was not ready within %s", p.name, readyTimeout)
		}
	}
}

func (p *proc) isExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits for the exit (killing after stopTimeout).
func (p *proc) stop() error {
	if !p.isExited() {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return err
		}
	}
	select {
	case <-p.exited:
		return p.err
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("did not exit within %s of SIGTERM; killed", stopTimeout)
	}
}

// kill sends SIGKILL: a crash.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// freeTCP returns n loopback TCP addresses that were free a moment ago.
func freeTCP(t testing.TB, n int) []string {
	t.Helper()
	out := make([]string, n)
	var lns []net.Listener
	for i := range out {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out[i] = ln.Addr().String()
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

// freeUDP returns n loopback UDP addresses that were free a moment ago.
func freeUDP(t testing.TB, n int) []string {
	t.Helper()
	out := make([]string, n)
	var cs []net.PacketConn
	for i := range out {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
		out[i] = c.LocalAddr().String()
	}
	for _, c := range cs {
		c.Close()
	}
	return out
}

// collector is a running scry-collector.
type collector struct {
	*proc
	GRPC, Storage, DataDir string
	args                   []string
}

// startCollector starts scry-collector with its own data folder.
func startCollector(t testing.TB) *collector {
	t.Helper()
	dataDir := t.TempDir()
	for try := 1; ; try++ {
		ports := freeTCP(t, 3)
		c := &collector{GRPC: ports[0], Storage: ports[1], DataDir: dataDir}
		// The listeners the tests do not use are off, so that they take no
		// fixed ports.
		c.args = []string{"--otlp-grpc-addr=" + ports[0], "--otlp-http-addr=", "--storage-addr=" + ports[1],
			"--jaeger-http-addr=", "--zipkin-addr=", "--udp-compact-addr=", "--udp-binary-addr=",
			"--admin-addr=" + ports[2], "--data-dir=" + dataDir, "--log-level=warn"}
		p, err := startProc(t, buildBin(t, "./cmd/scry-collector"), c.args, nil, ports[2])
		if err == nil {
			c.proc = p
			return c
		}
		if !errors.Is(err, errPortTaken) || try == startTries {
			t.Fatal(err)
		}
	}
}

// startQuery starts scry-query over the collector's storage API and
// returns its HTTP address.
func startQuery(t testing.TB, c *collector) string {
	t.Helper()
	for try := 1; ; try++ {
		ports := freeTCP(t, 2)
		_, err := startProc(t, buildBin(t, "./cmd/scry-query"),
			[]string{"--storage=" + c.Storage, "--http-addr=" + ports[0], "--admin-addr=" + ports[1], "--log-level=warn"}, nil, ports[1])
		if err == nil {
			return ports[0]
		}
		if !errors.Is(err, errPortTaken) || try == startTries {
			t.Fatal(err)
		}
	}
}

// restart starts the collector again on the same ports and data.
func (c *collector) restart(t testing.TB) {
	t.Helper()
	p, err := startProc(t, buildBin(t, "./cmd/scry-collector"), c.args, nil, c.admin)
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
	for try := 1; ; try++ {
		tcp, udp := freeTCP(t, 4), freeUDP(t, 2)
		a := &agentProc{GRPC: tcp[0], HTTP: tcp[1], Sampling: tcp[2], UDPCompact: udp[0], UDPBinary: udp[1], env: env}
		a.args = append([]string{
			"--otlp-grpc-addr=" + tcp[0], "--otlp-http-addr=" + tcp[1], "--sampling-addr=" + tcp[2], "--admin-addr=" + tcp[3],
			"--udp-compact-addr=" + udp[0], "--udp-binary-addr=" + udp[1],
			"--sampling-url=http://127.0.0.1:1/api/sampling", "--retry-max-backoff=500ms", "--batch-timeout=50ms"}, flags...)
		p, err := startProc(t, buildBin(t, "./cmd/scry-agent"), a.args, env, tcp[3])
		if err == nil {
			a.proc = p
			return a
		}
		if !errors.Is(err, errPortTaken) || try == startTries {
			t.Fatal(err)
		}
	}
}

// restart starts the agent again with the same flags.
func (a *agentProc) restart(t testing.TB) {
	t.Helper()
	p, err := startProc(t, buildBin(t, "./cmd/scry-agent"), a.args, a.env, a.admin)
	if err != nil {
		t.Fatal(err)
	}
	a.proc = p
}

// metric sums the samples of name whose labels include every one of labels
// (each `key="value"`) on the process's /metrics.
func (p *proc) metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + p.admin + "/metrics")
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
	cl, err := remote.New(remote.Config{Endpoints: []string{c.Storage}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// missing returns the spans not stored (or all, while the store does not
// answer).
func missing(s storage.Reader, spans []sentSpan) []sentSpan {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	have := map[model.TraceID]map[model.SpanID]bool{}
	var out []sentSpan
	for _, sp := range spans {
		ids, ok := have[sp.trace]
		if !ok {
			got, err := s.GetTrace(ctx, sp.trace, storage.TimeHint{})
			if err != nil && !errors.Is(err, storage.ErrTraceNotFound) {
				return spans
			}
			ids = map[model.SpanID]bool{}
			for _, g := range got {
				ids[g.SpanID] = true
			}
			have[sp.trace] = ids
		}
		if !ids[sp.span] {
			out = append(out, sp)
		}
	}
	return out
}

// waitStored polls until every span is stored.
func waitStored(t testing.TB, s storage.Reader, spans []sentSpan, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m := missing(s, spans)
		if len(m) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d spans not stored within %s (first: trace %s span %s)", len(m), len(spans), timeout, m[0].trace, m[0].span)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// eventually polls cond until it holds, failing after timeout.
func eventually(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
