package uitest

// The server under test: the scry binary, built from ./cmd/scry (with the
// built UI embedded), started on free loopback ports and seeded over
// OTLP/gRPC.

import (
	"context"
	"fmt"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/scrytrace/scry/internal/testbin"
	"github.com/scrytrace/scry/model"
)

// exportTimeout bounds one OTLP export.
const exportTimeout = 60 * time.Second

// scry is one running scry process.
type scry struct {
	*testbin.Proc
	query, otlpGRPC string // listen addresses (host:port); the admin address is Proc.Admin
	otlpHTTP        string // "" unless asked for
}

// startScry starts bin on free loopback ports with its data in dataDir and
// the API and UI under basePath, and waits until its admin /readyz answers
// 200. The listeners the tests do not use (OTLP/HTTP, Jaeger HTTP and UDP,
// Zipkin) are off, so they take no fixed ports. Stop it with Stop.
func startScry(bin, dataDir, basePath string) (*scry, error) {
	return startScryWith(bin, dataDir, false, "--base-path="+basePath)
}

// startScryWith is startScry with OTLP/HTTP on a free port too when
// otlpHTTP is set, and extra arguments after the others (a later flag
// wins).
func startScryWith(bin, dataDir string, otlpHTTP bool, extra ...string) (*scry, error) {
	ports := 3
	if otlpHTTP {
		ports = 4
	}
	return testbin.RetryPorts(ports, nil, func(addrs []string) (*scry, error) {
		s := &scry{query: addrs[0], otlpGRPC: addrs[1]}
		args := []string{
			"--data-dir=" + dataDir,
			"--http-addr=" + s.query,
			"--otlp-grpc-addr=" + s.otlpGRPC,
			"--admin-addr=" + addrs[2],
			"--otlp-http-addr=",
			"--jaeger-http-addr=",
			"--zipkin-addr=",
			"--udp-compact-addr=",
			"--udp-binary-addr=",
		}
		if otlpHTTP {
			s.otlpHTTP = addrs[3]
			args = append(args, "--otlp-http-addr="+s.otlpHTTP)
		}
		p, err := testbin.Cmd{Bin: bin, Admin: addrs[2], Args: append(args, extra...)}.Start()
		if err != nil {
			return nil, err
		}
		if err := p.WaitReady(); err != nil {
			_ = p.Stop()
			return nil, err
		}
		s.Proc = p
		return s, nil
	})
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
