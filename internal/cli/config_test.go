package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/scrytrace/scry/internal/tlsconf"
)

// A tls: block with the OpenTelemetry Collector's key names sets the
// --tls-* flags; <listener>-tls: and <client>-tls: blocks set theirs, with
// server_name_override for -server-name. A wrong key is named as written.
func TestConfigTLSBlocks(t *testing.T) {
	srv := tlsconf.NewServerFlags(tlsconf.OTLPGRPC, tlsconf.Admin)
	client := tlsconf.ClientFlags{Prefix: "collector"}
	cmd := &cobra.Command{Use: "test", RunE: func(*cobra.Command, []string) error { return nil }}
	srv.Add(cmd.Flags())
	client.Add(cmd.Flags(), "collectors")
	AddConfigFlags(cmd)
	cfg := writeFile(t, `
tls:
  cert_file: /etc/scry/tls.crt
  key_file: /etc/scry/tls.key
  client_ca_file: /etc/scry/ca.crt
  min_version: "1.3"
otlp-grpc:
  tls:
    min_version: 1.2
admin-tls:
  cert_file: ""
collector-tls:
  ca_file: /etc/scry/ca.crt
  server_name_override: collector.example
`)
	cmd.SetArgs([]string{"--config", cfg})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if err := Apply(cmd); err != nil {
		t.Fatal(err)
	}
	want := tlsconf.ServerConfig{CertFile: "/etc/scry/tls.crt", KeyFile: "/etc/scry/tls.key", ClientCAFile: "/etc/scry/ca.crt", MinVersion: "1.2"}
	if got := srv.Config(tlsconf.OTLPGRPC); got != want {
		t.Errorf("otlp-grpc: %+v, want %+v", got, want)
	}
	if got := srv.Config(tlsconf.Admin); got.CertFile != "" || got.MinVersion != "1.3" {
		t.Errorf("admin: %+v, want plain text", got)
	}
	if c := client.Config; c.CAFile != "/etc/scry/ca.crt" || c.ServerName != "collector.example" || !c.On() {
		t.Errorf("collector client: %+v", c)
	}

	bad := &cobra.Command{Use: "test", RunE: func(*cobra.Command, []string) error { return nil }}
	tlsconf.NewServerFlags().Add(bad.Flags())
	AddConfigFlags(bad)
	bad.SetArgs([]string{"--config", writeFile(t, "tls:\n  cert_fil: x\n")})
	if err := bad.Execute(); err != nil {
		t.Fatal(err)
	}
	if err := Apply(bad); err == nil || !strings.Contains(err.Error(), `"tls.cert_fil"`) {
		t.Errorf("a misspelt key in a tls: block: %v, want an error naming it", err)
	}
}

// An http-cors: block with the OpenTelemetry Collector's cors: keys sets
// the --http-cors-* flags; max_age in seconds, as the Collector writes it.
func TestConfigCORSBlock(t *testing.T) {
	srv := tlsconf.NewServerFlags(tlsconf.OTLPHTTP)
	cmd := &cobra.Command{Use: "test", RunE: func(*cobra.Command, []string) error { return nil }}
	srv.Add(cmd.Flags())
	AddConfigFlags(cmd)
	cmd.SetArgs([]string{"--config", writeFile(t, `
http-cors:
  allowed_origins: [https://app.example.com, "http://localhost:3000"]
  allowed_headers: [X-Custom]
  max_age: 7200
`)})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if err := Apply(cmd); err != nil {
		t.Fatal(err)
	}
	c := srv.CORS
	if !slices.Equal(c.AllowedOrigins, []string{"https://app.example.com", "http://localhost:3000"}) ||
		!slices.Equal(c.AllowedHeaders, []string{"X-Custom"}) || c.MaxAge != 2*time.Hour {
		t.Errorf("CORS from the config file: %+v", c)
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The --multi-tenancy.* flags are set by a multi-tenancy: block, by their
// dotted names as keys, and by SCRY_MULTI_TENANCY_* (dots as underscores).
func TestConfigTenancy(t *testing.T) {
	for _, content := range []string{
		"multi-tenancy:\n  enabled: true\n  tenants: [team-a, team-b]\n",
		"multi-tenancy.enabled: true\nmulti-tenancy.tenants: [team-a, team-b]\n",
	} {
		srv := tlsconf.NewServerFlags(tlsconf.OTLPHTTP).WithTenancy()
		cmd := &cobra.Command{Use: "test", RunE: func(*cobra.Command, []string) error { return nil }}
		srv.Add(cmd.Flags())
		AddConfigFlags(cmd)
		t.Setenv("SCRY_MULTI_TENANCY_HEADER", "X-Org")
		cmd.SetArgs([]string{"--config", writeFile(t, content)})
		if err := cmd.Execute(); err != nil {
			t.Fatal(err)
		}
		if err := Apply(cmd); err != nil {
			t.Fatal(err)
		}
		if c := srv.Tenancy; !c.Enabled || c.Header != "X-Org" || !slices.Equal(c.Tenants, []string{"team-a", "team-b"}) {
			t.Errorf("%q: %+v", content, c)
		}
	}
}
