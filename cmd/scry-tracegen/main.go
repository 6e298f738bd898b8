// Command scry-tracegen is a load generator: it sends synthetic traces over
// OTLP gRPC or HTTP and reports accepted spans per second and export latency.
package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/scrytrace/scry/internal/auth"
	"github.com/scrytrace/scry/internal/cli"
	"github.com/scrytrace/scry/internal/tlsconf"
	"github.com/scrytrace/scry/internal/tracegen"
	"github.com/scrytrace/scry/storage"
)

var version = "dev"

func main() {
	var cfg tracegen.Config
	var queryURL string
	var queryRounds int
	tlsFlags := tlsconf.ClientFlags{Prefix: "endpoint"}
	authFlags := auth.ClientFlags{Prefix: "endpoint", TLSHint: "--endpoint-tls-ca-file, --endpoint-tls-enabled or an https:// --endpoint"}
	queryAuth := auth.ClientFlags{Prefix: "query", TLSHint: "an https:// --query-url"}
	cmd := &cobra.Command{
		Use:          "scry-tracegen",
		Short:        "Send synthetic traces over OTLP and report throughput and latency",
		Long:         "Send synthetic traces over OTLP (gRPC or HTTP) and report accepted spans/s and export latency percentiles.\n\n" + cli.EnvHelp,
		Version:      version,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cli.Apply(cmd); err != nil {
				return err
			}
			// It logs nothing yet, but takes --log-level and --log-format
			// like every binary: a wrong value is an error, not ignored.
			log, err := cli.Logger(cmd)
			if err != nil {
				return err
			}
			if cfg.TLS, err = tlsFlags.Config.TLSConfig(log); err != nil {
				return fmt.Errorf("invalid --endpoint-tls-* settings: %w", err)
			}
			endpoint := cfg.Endpoint
			if u, err := url.Parse(cfg.Endpoint); err == nil && u.Host != "" {
				endpoint = hostPort(u)
			}
			tok, err := authFlags.Token(context.Background(), cfg.TLS != nil || strings.HasPrefix(cfg.Endpoint, "https://"), []string{endpoint}, tlsconf.IsLoopback)
			if err != nil {
				return err
			}
			if tok != nil {
				cfg.Authorization = tok.Authorization
			}
			var queryAuthz func() string
			if queryURL != "" {
				u, err := url.Parse(queryURL)
				if err != nil || u.Host == "" {
					return fmt.Errorf("--query-url %q is not a URL", queryURL)
				}
				qt, err := queryAuth.Token(context.Background(), u.Scheme == "https", []string{hostPort(u)}, tlsconf.IsLoopback)
				if err != nil {
					return err
				}
				if qt != nil {
					queryAuthz = qt.Authorization
				}
			}
			if cfg.Tenant != "" {
				if err := storage.ValidateTenant(cfg.Tenant); err != nil {
					return fmt.Errorf("--tenant: %w", err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), cfg.Duration+10*time.Minute)
			defer cancel()
			if cfg.Duration > 0 {
				res, err := tracegen.Run(ctx, cfg, os.Stderr)
				if err != nil {
					return err
				}
				fmt.Println(res)
				if res.Failed > 0 && res.Accepted == 0 {
					return fmt.Errorf("no export succeeded")
				}
			}
			if queryURL != "" {
				res, err := tracegen.QueryBench(ctx, queryURL, queryRounds, cfg.TLS, queryAuthz, cfg.Tenant)
				if err != nil {
					return err
				}
				fmt.Println(res)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Endpoint, "endpoint", "127.0.0.1:4317", "OTLP endpoint: host:port for gRPC, or a URL (http://host:4318/v1/traces, https:// for TLS) for HTTP")
	f.StringVar(&cfg.Protocol, "protocol", "grpc", "grpc or http")
	f.StringVar(&cfg.Tenant, "tenant", "", "tenant sent as the x-tenant header of every export and query, for a server with --multi-tenancy.enabled (empty: none)")
	f.Float64Var(&cfg.Rate, "rate", 0, "spans per second to send (0: as fast as the server answers)")
	f.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long to send (0: send nothing, only query)")
	f.StringVar(&queryURL, "query-url", "", "after sending, time Jaeger API searches and trace fetches against this query URL (http://127.0.0.1:16686)")
	f.IntVar(&queryRounds, "query-rounds", 500, "searches (each followed by a trace fetch) for --query-url")
	f.IntVar(&cfg.Workers, "workers", 4, "concurrent exporters")
	f.IntVar(&cfg.BatchSpans, "batch", 500, "spans per export")
	f.IntVar(&cfg.Services, "services", 8, "distinct services")
	f.IntVar(&cfg.SpansPerTrace, "spans-per-trace", 10, "spans per trace")
	f.IntVar(&cfg.ExtraAttributes, "extra-attributes", 0, "attributes per span beyond the ten every span has")
	f.IntVar(&cfg.WatchPID, "watch-pid", 0, "a process (the server) whose peak resident memory to report (Linux)")
	tlsFlags.Add(f, "the endpoint (and an https --query-url)")
	authFlags.Add(f, "the endpoint (a token with scope write)")
	queryAuth.Add(f, "--query-url (a token with scope read)")
	cli.AddConfigFlags(cmd)
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
}

// hostPort returns u's host with its port, the scheme's when none is given.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}
