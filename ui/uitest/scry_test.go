package uitest

// The server under test: the scry binary, built from ./cmd/scry (with the
// built UI embedded), started on free loopback ports and seeded over
// OTLP/gRPC. The pieces are small copies of e2e/harness_test.go's.

import (
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
	"strings"
	"sync"
	"syscall"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/scrytrace/scry/model"
)

// Time limits of the harness, generous for a busy machine.
const (
	buildTimeout  = 5 * time.Minute
	readyTimeout  = 30 * time.Second // from exec to /readyz answering 200
	stopTimeout   = 30 * time.Second // from SIGTERM to exit
	exportTimeout = 60 * time.Second // one OTLP export
	startRetries  = 3                // starts retried when a picked port was taken meanwhile
)

// buildScry builds ./cmd/scry into dir and returns the binary's path. The
// binary embeds ui/dist as it is now, so the UI must be built first.
func buildScry(dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "scry")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/scry")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("cannot build ./cmd/scry: %v\n%s", err, b)
	}
	return out, nil
}

func moduleRoot() (string, error) {
	b, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("cannot find the module root: %w", err)
	}
	gomod := strings.TrimSpace(string(b))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("cannot find the module root: not inside a module")
	}
	return filepath.Dir(gomod), nil
}

// scry is one running scry process.
type scry struct {
	query, otlpGRPC, admin string // listen addresses (host:port)

	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{} // closed when the process has exited
	err    error         // of Wait, once exited is closed
}

// errPortTaken is startScry's error when scry could not bind a port picked
// for it (another process took it meanwhile).
var errPortTaken = errors.New("a picked port was taken before scry bound it")

// startScry starts bin on free loopback ports with its data in dataDir and
// the API and UI under basePath, and waits until its admin /readyz answers
// 200. The listeners the tests do not use (OTLP/HTTP, Jaeger HTTP and UDP,
// Zipkin) are off, so they take no fixed ports. Stop it with stop.
func startScry(bin, dataDir, basePath string) (*scry, error) {
	for attempt := 1; ; attempt++ {
		addrs, err := freeAddrs(3)
		if err != nil {
			return nil, err
		}
		s, err := tryStartScry(bin, dataDir, basePath, addrs)
		if err == nil {
			return s, nil
		}
		if attempt < startRetries && errors.Is(err, errPortTaken) {
			continue
		}
		return nil, err
	}
}

func tryStartScry(bin, dataDir, basePath string, addrs []string) (*scry, error) {
	s := &scry{query: addrs[0], otlpGRPC: addrs[1], admin: addrs[2], out: &syncBuffer{}, exited: make(chan struct{})}
	s.cmd = exec.Command(bin,
		"--data-dir="+dataDir,
		"--base-path="+basePath,
		"--http-addr="+s.query,
		"--otlp-grpc-addr="+s.otlpGRPC,
		"--admin-addr="+s.admin,
		"--otlp-http-addr=",
		"--jaeger-http-addr=",
		"--zipkin-addr=",
		"--udp-compact-addr=",
		"--udp-binary-addr=",
	)
	s.cmd.Env = cleanEnv()
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	setChildAttrs(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start %s: %w", bin, err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(); err != nil {
		_ = s.stop()
		if strings.Contains(s.output(), "address already in use") {
			return nil, fmt.Errorf("%w: %s", errPortTaken, lastLines(s.output(), 3))
		}
		return nil, err
	}
	return s, nil
}

// cleanEnv is the test's environment without SCRY_ variables, which scry
// would read as flags.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SCRY_") {
			env = append(env, kv)
		}
	}
	return env
}

// freeAddrs returns n distinct loopback addresses that were free a moment
// ago.
func freeAddrs(n int) ([]string, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	out := make([]string, n)
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("cannot find a free port: %w", err)
		}
		lns = append(lns, ln)
		out[i] = ln.Addr().String()
	}
	return out, nil
}

// waitReady polls /readyz on the admin port until it answers 200.
func (s *scry) waitReady() error {
	deadline := time.Now().Add(readyTimeout)
	c := &http.Client{Timeout: time.Second}
	for {
		resp, err := c.Get("http://" + s.admin + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("scry exited before it was ready (%v): %s", s.err, lastLines(s.output(), 5))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("scry was not ready within %s (last: %v)", readyTimeout, err)
		}
	}
}

// stop sends SIGTERM and waits for scry to exit, killing it if it takes
// longer than stopTimeout. It returns the exit error (nil for a clean exit).
func (s *scry) stop() error {
	select {
	case <-s.exited:
		return s.err
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("cannot send SIGTERM: %w", err)
	}
	select {
	case <-s.exited:
		return s.err
	case <-time.After(stopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("did not exit within %s of SIGTERM; killed", stopTimeout)
	}
}

// output returns what scry wrote to stdout and stderr so far.
func (s *scry) output() string { return s.out.String() }

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

// send exports each group of spans to scry over OTLP/gRPC, one export per
// group, and fails unless scry accepted every span. scry answers an export
// only after its spans are committed, so they can be read at once.
func (s *scry) send(ctx context.Context, groups [][]*model.Span) error {
	conn, err := grpc.NewClient(s.otlpGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	c := coltracepb.NewTraceServiceClient(conn)
	for _, spans := range groups {
		ctx, cancel := context.WithTimeout(ctx, exportTimeout)
		resp, err := c.Export(ctx, &coltracepb.ExportTraceServiceRequest{ResourceSpans: model.SpansToOTLP(spans)})
		cancel()
		if err != nil {
			return fmt.Errorf("export of %d spans: %w", len(spans), err)
		}
		if ps := resp.GetPartialSuccess(); ps.GetRejectedSpans() != 0 || ps.GetErrorMessage() != "" {
			return fmt.Errorf("export of %d spans: partial success: %d rejected: %s", len(spans), ps.GetRejectedSpans(), ps.GetErrorMessage())
		}
	}
	return nil
}
