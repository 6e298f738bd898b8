package agente2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/scrytrace/scry/internal/auth"
	"github.com/scrytrace/scry/internal/auth/authtest"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/testbin"
	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage/remote"
)

// TestAuth: a collector with an --auth-file; the agent in front of it with
// its own --auth-file and --collector-auth-token-file (a write token).
// An SDK exporting to the agent with its token gets its spans to the
// collector, one without is refused UNAUTHENTICATED; the agent's sampling
// endpoint proxies the collector's, fetched with the agent's token; the
// collector's storage API answers a read token only.
func TestAuth(t *testing.T) {
	appToken, agentToken, readToken := "app-7d1c", "agent-41aa", "reader-e3f0"
	colAuth := authtest.Write(t,
		authtest.Entry{Token: agentToken, Scopes: []string{"write"}},
		authtest.Entry{Token: readToken, Scopes: []string{"read"}},
	)
	agentAuth := authtest.Write(t, authtest.Entry{Token: appToken, Scopes: []string{"write"}})
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(agentToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	jaegerHTTP := testbin.FreeAddrs(t, 1)[0]
	col := startCollector(t, "--auth-file="+colAuth, "--jaeger-http-addr="+jaegerHTTP)
	ag := startAgent(t, col.GRPC, "--auth-file="+agentAuth, "--collector-auth-token-file="+tokenFile,
		"--sampling-url=http://"+jaegerHTTP+"/api/sampling")

	// The store, read with the read token.
	readTok, err := auth.NewTokenFile(writeToken(t, readToken))
	if err != nil {
		t.Fatal(err)
	}
	cfg := remote.DefaultConfig()
	cfg.Endpoints = []string{col.Storage}
	cfg.DialOptions = append(cfg.DialOptions, readTok.DialOption())
	cl, err := remote.New(cfg, telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	st := testkit.Start(t, cl)

	ctx := context.Background()
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(ag.GRPC), otlptracegrpc.WithInsecure(),
		otlptracegrpc.WithHeaders(map[string]string{"authorization": "Bearer " + appToken}))
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "auth-agent"))))
	_, root := tp.Tracer("e2e").Start(ctx, "root")
	root.End()
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatalf("export with the app's token through the agent: %v", err)
	}
	waitStored(t, st, []sentSpan{{model.TraceID(root.SpanContext().TraceID()), model.SpanID(root.SpanContext().SpanID())}}, 30*time.Second)

	req, _ := otlpRequest("auth-agent", 10)
	if _, err := otlpClient(t, ag.GRPC).Export(ctx, req); status.Code(err) != codes.Unauthenticated {
		t.Errorf("export to the agent without a token: %v, want UNAUTHENTICATED", err)
	}
	wctx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+agentToken)
	if _, err := otlpClient(t, col.GRPC).Export(wctx, req); err != nil {
		t.Errorf("export to the collector with the agent's token: %v", err)
	}

	// Sampling: the agent fetches the collector's strategies with its token.
	get := func(authz string) (int, string) {
		r, _ := http.NewRequest(http.MethodGet, "http://"+ag.Sampling+"/sampling?service=auth-agent", nil)
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get(""); code != http.StatusUnauthorized {
		t.Errorf("agent sampling without a token: %d, want 401", code)
	}
	if code, body := get("Bearer " + appToken); code != http.StatusOK || !strings.Contains(body, "probabilisticSampling") {
		t.Errorf("agent sampling with the app's token: %d %s, want the collector's strategy", code, body)
	}

	// The storage API refuses the agent's write token.
	wcfg := remote.DefaultConfig()
	wcfg.Endpoints = []string{col.Storage}
	wtok, _ := auth.NewTokenFile(tokenFile)
	wcfg.DialOptions = append(wcfg.DialOptions, wtok.DialOption())
	wcl, err := remote.New(wcfg, telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	wst := testkit.Start(t, wcl)
	if _, err := wst.Services(ctx); err == nil {
		t.Error("the storage API answered a write token")
	}
}

func writeToken(t *testing.T, tok string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
