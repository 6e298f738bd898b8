package testbin

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Default time limits, generous for a busy machine.
const (
	DefaultReadyTimeout = 30 * time.Second // from exec to the readiness URL answering 200
	DefaultStopTimeout  = 30 * time.Second // from SIGTERM to exit
)

// Cmd says how to run a binary.
type Cmd struct {
	Bin  string
	Args []string
	// Env is added to the test's environment, which is passed on without
	// its SCRY_ variables and those starting with a prefix in DropEnv.
	Env     []string
	DropEnv []string
	// Name names the process in messages; the base name of Bin if empty.
	Name string
	// Admin is the admin address (host:port). Ready is the URL polled for
	// readiness; http://<Admin>/readyz if empty, https:// with ReadyTLS.
	Admin, Ready string
	// ReadyTLS is the client TLS of the readiness polls, for an admin
	// port that serves TLS.
	ReadyTLS *tls.Config
	// Time limits; DefaultReadyTimeout and DefaultStopTimeout if zero.
	ReadyTimeout, StopTimeout time.Duration
	// LaxStop makes Run's cleanup log, rather than report as an error, a
	// process that does not stop cleanly.
	LaxStop bool
}

// Proc is one running binary.
type Proc struct {
	Name  string
	Args  []string
	Admin string // admin address: /readyz, /healthz, /metrics

	ready        string
	readyTLS     *tls.Config
	readyTimeout time.Duration
	stopTimeout  time.Duration
	cmd          *exec.Cmd
	out          syncBuffer
	exited       chan struct{} // closed when the process has exited
	err          error         // of Wait, once exited is closed
}

// Start starts bin with args, with env added to the test's environment
// (less its SCRY_ variables), and waits until GET /readyz on admin answers
// 200. When the test ends the process is stopped with SIGTERM if still
// running, and its output is logged if the test failed. A start that failed
// because a port was taken returns an error wrapping ErrPortTaken.
func Start(t testing.TB, bin string, args, env []string, admin string) (*Proc, error) {
	t.Helper()
	return Cmd{Bin: bin, Args: args, Env: env, Admin: admin}.Run(t)
}

// Run is Start with the options of c.
func (c Cmd) Run(t testing.TB) (*Proc, error) {
	t.Helper()
	p, err := c.Start()
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		if !p.Exited() {
			if err := p.Stop(); err != nil {
				if c.LaxStop {
					t.Logf("%s did not stop cleanly: %v", p.Name, err)
				} else {
					t.Errorf("%s did not stop cleanly: %v", p.Name, err)
				}
			}
		}
		if t.Failed() {
			t.Logf("output of %s %s:\n%s", p.Name, strings.Join(p.Args, " "), p.Output())
		}
	})
	if err := p.WaitReady(); err != nil {
		return nil, err
	}
	return p, nil
}

// Start starts the process without waiting for it to be ready; the caller
// calls WaitReady and stops it.
func (c Cmd) Start() (*Proc, error) {
	p := &Proc{
		Name: c.Name, Args: c.Args, Admin: c.Admin,
		ready: c.Ready, readyTLS: c.ReadyTLS, readyTimeout: c.ReadyTimeout, stopTimeout: c.StopTimeout,
		exited: make(chan struct{}),
	}
	if p.Name == "" {
		p.Name = filepath.Base(c.Bin)
	}
	if p.ready == "" {
		p.ready = "http://" + c.Admin + "/readyz"
		if c.ReadyTLS != nil {
			p.ready = "https://" + c.Admin + "/readyz"
		}
	}
	if p.readyTimeout == 0 {
		p.readyTimeout = DefaultReadyTimeout
	}
	if p.stopTimeout == 0 {
		p.stopTimeout = DefaultStopTimeout
	}
	p.cmd = exec.Command(c.Bin, c.Args...)
	p.cmd.Env = append(CleanEnv(c.DropEnv...), c.Env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	SetChildAttrs(p.cmd)
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start %s: %w", c.Bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// CleanEnv is the test's environment without SCRY_ variables and those
// starting with one of drop.
func CleanEnv(drop ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SCRY_") || hasAnyPrefix(kv, drop) {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// WaitReady polls the readiness URL until it answers 200. When the
// process could not bind a port the error wraps ErrPortTaken.
func (p *Proc) WaitReady() error {
	deadline := time.Now().Add(p.readyTimeout)
	c := &http.Client{Timeout: time.Second}
	if p.readyTLS != nil {
		c.Transport = &http.Transport{TLSClientConfig: p.readyTLS}
	}
	var last error
	for {
		resp, err := c.Get(p.ready)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		select {
		case <-p.exited:
			if p.portTaken() {
				return fmt.Errorf("%w: %s: %s", ErrPortTaken, p.Name, lastLines(p.Output(), 3))
			}
			return fmt.Errorf("%s exited before it was ready (%v):\n%s", p.Name, p.err, p.Output())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			if p.portTaken() {
				return fmt.Errorf("%w: %s: %s", ErrPortTaken, p.Name, lastLines(p.Output(), 3))
			}
			return fmt.Errorf("%s was not ready within %s (%s: %v):\n%s", p.Name, p.readyTimeout, p.ready, last, p.Output())
		}
	}
}

func (p *Proc) portTaken() bool {
	return strings.Contains(p.Output(), "address already in use")
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and waits for the process to exit, killing it if it
// takes longer than the stop timeout. It returns the exit error (nil for a
// clean exit with status 0).
func (p *Proc) Stop() error {
	if !p.Exited() {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("cannot send SIGTERM: %w", err)
		}
	}
	select {
	case <-p.exited:
		return p.err
	case <-time.After(p.stopTimeout):
		p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("did not exit within %s of SIGTERM; killed", p.stopTimeout)
	}
}

// Kill sends SIGKILL (a crash) and waits for the process to be gone.
func (p *Proc) Kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

// Output returns what the process wrote to stdout and stderr so far.
func (p *Proc) Output() string { return p.out.String() }

// Pid returns the process's ID.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
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
