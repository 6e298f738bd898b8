// Package natstest runs a real NATS JetStream cluster for tests: the
// nats-server pinned in go.mod (a tool dependency), built once per test
// process, one child process per node on loopback, each with its own
// store folder. The nodes' routes go through loopback proxies owned by the
// test, so that a node can be cut off from its cluster while its clients
// still reach it.
//
// It is for tests only (it imports testing); no production code may import
// it.
package natstest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scrytrace/scry/internal/testbin"
	"github.com/scrytrace/scry/internal/testkit"
)

// ServerPackage is the nats-server main package the cluster runs.
const ServerPackage = "github.com/nats-io/nats-server/v2"

// Options say what cluster to start.
type Options struct {
	// Nodes is the number of nats-servers (default 3). One node runs
	// without a cluster block.
	Nodes int
	// MaxFileStore is each node's JetStream file store limit, which the
	// streams' byte limits are reserved against (default "8GB").
	MaxFileStore string
}

// Cluster is a running cluster. Its methods fail the test on error; they
// are not safe for concurrent use.
type Cluster struct {
	t       testing.TB
	bin     string
	nodes   []*node
	proxies [][]*proxy // proxies[i][j]: node i's route to node j
}

type node struct {
	i                      int
	client, monitor, route string // host:port
	conf, dir, logPath     string
	cmd                    *exec.Cmd
	exited                 chan struct{}
	logFile                *os.File
	stopped                bool // SIGSTOPped
	killed                 bool // by Kill, not restarted yet
}

// Start starts the cluster, waits until every node is healthy and a
// JetStream meta leader is known, and stops it when the test ends.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.MaxFileStore == "" {
		opts.MaxFileStore = "8GB"
	}
	c := &Cluster{t: t, bin: testbin.Build(t, ServerPackage)}
	n := opts.Nodes
	// The proxies hold their ports first, so that the nodes' ports,
	// picked next, are none of them.
	c.proxies = make([][]*proxy, n)
	for i := range n {
		c.proxies[i] = make([]*proxy, n)
		for j := range n {
			if i != j {
				c.proxies[i][j] = newProxy(t)
			}
		}
	}
	addrs := testbin.FreeAddrs(t, 3*n)
	root := t.TempDir()
	for i := range n {
		nd := &node{i: i, client: addrs[3*i], monitor: addrs[3*i+1], route: addrs[3*i+2], dir: filepath.Join(root, fmt.Sprintf("n%d", i))}
		if err := os.MkdirAll(nd.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		nd.conf, nd.logPath = filepath.Join(nd.dir, "nats.conf"), filepath.Join(nd.dir, "nats.log")
		c.nodes = append(c.nodes, nd)
	}
	for i := range n {
		for j := range n {
			if i != j {
				c.proxies[i][j].setTarget(c.nodes[j].route)
			}
		}
	}
	for i, nd := range c.nodes {
		if err := os.WriteFile(nd.conf, []byte(c.config(i, opts)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(c.cleanup)
	for i := range c.nodes {
		c.start(i)
	}
	c.WaitReady(t, time.Minute)
	return c
}

// config is node i's configuration file.
func (c *Cluster) config(i int, opts Options) string {
	nd := c.nodes[i]
	var b strings.Builder
	fmt.Fprintf(&b, "server_name: n%d\nlisten: %q\nhttp: %q\n", i, nd.client, nd.monitor)
	fmt.Fprintf(&b, "jetstream {\n  store_dir: %q\n  max_file_store: %s\n  max_memory_store: 64MB\n}\n", filepath.Join(nd.dir, "js"), opts.MaxFileStore)
	if len(c.nodes) == 1 {
		return b.String()
	}
	var routes []string
	for j, p := range c.proxies[i] {
		if j != i {
			routes = append(routes, fmt.Sprintf("%q", "nats://"+p.addr()))
		}
	}
	// The route address a node gossips is a closed port: peers reach it
	// only through their proxies, which Cut closes.
	fmt.Fprintf(&b, "cluster {\n  name: scrytest\n  listen: %q\n  advertise: \"127.0.0.1:1\"\n  routes: [%s]\n}\n", nd.route, strings.Join(routes, ", "))
	return b.String()
}

func (c *Cluster) start(i int) {
	c.t.Helper()
	nd := c.nodes[i]
	f, err := os.OpenFile(nd.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(c.bin, "-c", nd.conf)
	cmd.Stdout, cmd.Stderr = f, f
	testbin.SetChildAttrs(cmd)
	if err := cmd.Start(); err != nil {
		f.Close()
		c.t.Fatalf("cannot start nats-server n%d: %v", i, err)
	}
	nd.cmd, nd.logFile, nd.exited, nd.stopped, nd.killed = cmd, f, make(chan struct{}), false, false
	go func() {
		_ = cmd.Wait()
		close(nd.exited)
	}()
}

func (nd *node) running() bool {
	if nd.cmd == nil {
		return false
	}
	select {
	case <-nd.exited:
		return false
	default:
		return true
	}
}

func (c *Cluster) cleanup() {
	for _, nd := range c.nodes {
		if nd.running() {
			if nd.stopped {
				_ = nd.cmd.Process.Signal(syscall.SIGCONT)
			}
			_ = nd.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-nd.exited:
			case <-time.After(10 * time.Second):
				_ = nd.cmd.Process.Kill()
				<-nd.exited
			}
		}
		if nd.logFile != nil {
			nd.logFile.Close()
		}
		if c.t.Failed() {
			c.t.Logf("last lines of nats-server n%d's log:\n%s", nd.i, tail(nd.logPath, 50))
		}
	}
	for _, row := range c.proxies {
		for _, p := range row {
			if p != nil {
				p.close()
			}
		}
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// URLs returns every node's client URL, nats://127.0.0.1:port.
func (c *Cluster) URLs() []string {
	out := make([]string, len(c.nodes))
	for i := range c.nodes {
		out[i] = c.URL(i)
	}
	return out
}

// URL returns node i's client URL.
func (c *Cluster) URL(i int) string { return "nats://" + c.nodes[i].client }

// MonitorURL returns node i's monitoring base URL, http://127.0.0.1:port.
func (c *Cluster) MonitorURL(i int) string { return "http://" + c.nodes[i].monitor }

// Kill sends node i SIGKILL and waits until it is gone.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	nd := c.nodes[i]
	if !nd.running() {
		c.t.Fatalf("nats-server n%d is not running", i)
	}
	_ = nd.cmd.Process.Kill()
	<-nd.exited
	nd.logFile.Close()
	nd.logFile, nd.killed = nil, true
}

// Restart starts node i again, with its configuration, store and ports,
// and waits until its monitoring port answers /healthz.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if c.nodes[i].running() {
		c.t.Fatalf("nats-server n%d is still running", i)
	}
	c.start(i)
	testkit.EventuallyNoError(c.t, time.Minute, fmt.Sprintf("restarted nats-server n%d to be healthy", i), func() error {
		return c.healthy(i, "?js-enabled-only=true")
	})
}

// Stop sends node i SIGSTOP: it holds its connections and answers nothing.
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	if err := c.nodes[i].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		c.t.Fatal(err)
	}
	c.nodes[i].stopped = true
}

// Cont sends node i SIGCONT.
func (c *Cluster) Cont(i int) {
	c.t.Helper()
	if err := c.nodes[i].cmd.Process.Signal(syscall.SIGCONT); err != nil {
		c.t.Fatal(err)
	}
	c.nodes[i].stopped = false
}

// Cut cuts node i off its cluster: every route to or from it is closed and
// refused until Heal. Its clients still reach it.
func (c *Cluster) Cut(i int) { c.setCut(i, true) }

// Heal lets node i's routes connect again.
func (c *Cluster) Heal(i int) { c.setCut(i, false) }

func (c *Cluster) setCut(i int, cut bool) {
	for a, row := range c.proxies {
		for b, p := range row {
			if p != nil && (a == i || b == i) {
				p.setCut(cut)
			}
		}
	}
}

// WaitReady waits until every running node is healthy (/healthz: JetStream
// enabled and every stream and consumer it holds current) and knows a meta
// leader.
func (c *Cluster) WaitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	for i, nd := range c.nodes {
		if nd.killed {
			continue
		}
		if !nd.running() {
			t.Fatalf("nats-server n%d has exited:\n%s", i, tail(nd.logPath, 20))
		}
		testkit.EventuallyNoError(t, timeout, fmt.Sprintf("nats-server n%d to be healthy with a meta leader", i), func() error {
			if err := c.healthy(i, ""); err != nil {
				return err
			}
			if len(c.nodes) == 1 {
				return nil
			}
			var jsz struct {
				Meta struct {
					Leader string `json:"leader"`
				} `json:"meta_cluster"`
			}
			if err := c.getJSON(i, "/jsz", &jsz); err != nil {
				return err
			}
			if jsz.Meta.Leader == "" {
				return errors.New("no meta leader")
			}
			return nil
		})
	}
}

// StreamState is a stream as a node's monitoring port shows it.
type StreamState struct {
	Leader  string // "" when it has none
	LastSeq uint64
}

// Streams returns, as node i sees them, every stream by name.
func (c *Cluster) Streams(t testing.TB, i int) map[string]StreamState {
	t.Helper()
	var jsz struct {
		Accounts []struct {
			Streams []struct {
				Name    string `json:"name"`
				Cluster struct {
					Leader string `json:"leader"`
				} `json:"cluster"`
				State struct {
					LastSeq uint64 `json:"last_seq"`
				} `json:"state"`
			} `json:"stream_detail"`
		} `json:"account_details"`
	}
	if err := c.getJSON(i, "/jsz?accounts=true&streams=true", &jsz); err != nil {
		t.Fatal(err)
	}
	out := map[string]StreamState{}
	for _, a := range jsz.Accounts {
		for _, s := range a.Streams {
			out[s.Name] = StreamState{Leader: s.Cluster.Leader, LastSeq: s.State.LastSeq}
		}
	}
	return out
}

var monitorClient = &http.Client{Timeout: 2 * time.Second}

func (c *Cluster) healthy(i int, query string) error {
	resp, err := monitorClient.Get(c.MonitorURL(i) + "/healthz" + query)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/healthz: %d %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return nil
}

func (c *Cluster) getJSON(i int, path string, out any) error {
	resp, err := monitorClient.Get(c.MonitorURL(i) + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d", path, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// proxy forwards TCP connections to a target until cut.
type proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// newProxy listens; it forwards once setTarget has named the target.
func newProxy(t testing.TB) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.serve)
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) setTarget(target string) {
	p.mu.Lock()
	p.target = target
	p.mu.Unlock()
}

func (p *proxy) serve() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			in.Close()
			continue
		}
		p.conns[in] = struct{}{}
		p.mu.Unlock()
		p.wg.Go(func() { p.forward(in) })
	}
}

func (p *proxy) forward(in net.Conn) {
	defer p.drop(in)
	p.mu.Lock()
	target := p.target
	p.mu.Unlock()
	if target == "" {
		return
	}
	out, err := net.DialTimeout("tcp", target, 2*time.Second)
	if err != nil {
		return
	}
	if !p.track(out) {
		out.Close()
		return
	}
	defer p.drop(out)
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go cp(out, in)
	go cp(in, out)
	<-done
	<-done
}

// track adds c unless the proxy is cut meanwhile.
func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) drop(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *proxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
	}
}

func (p *proxy) close() {
	p.ln.Close()
	p.setCut(true)
	p.wg.Wait()
}
