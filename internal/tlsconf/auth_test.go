package tlsconf

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/scrytrace/scry/internal/auth/authtest"
	"github.com/scrytrace/scry/internal/telemetry"
)

// With --auth-file every listener has a guard of its scope, and a UDP
// listener off loopback, which carries no credential, is warned about;
// without one no listener has a guard and nothing is said.
func TestAuthFileGuards(t *testing.T) {
	file := authtest.Write(t, authtest.Entry{Token: "t", Scopes: []string{"write"}})
	for _, withFile := range []bool{true, false} {
		f := NewServerFlags(OTLPGRPC, HTTP, Admin)
		fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
		f.Add(fs)
		var args []string
		if withFile {
			args = append(args, "--auth-file="+file)
		}
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		s, err := f.Build(telemetry.Settings{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{OTLPGRPC, HTTP, Admin} {
			if got := s.For(n).Auth() != nil; got != withFile {
				t.Errorf("auth file %v: listener %s has a guard: %v", withFile, n, got)
			}
		}
		s.WarnUDP("0.0.0.0:6831", "127.0.0.1:6832")
		out := logs.String()
		if withFile && (!strings.Contains(out, "listener=udp-compact") || strings.Contains(out, "listener=udp-binary")) {
			t.Errorf("the UDP warning names the wrong listeners:\n%s", out)
		}
		if !withFile && strings.Contains(out, "UDP") {
			t.Errorf("a UDP warning without an auth file:\n%s", out)
		}
	}
}
