package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/scrytrace/scry/internal/testbin"
)

func TestNewLoggerFormats(t *testing.T) {
	for _, tc := range []struct {
		format string
		json   bool
	}{
		{LogJSON, true},
		{LogText, false},
		{LogAuto, true}, // a buffer is no terminal
	} {
		var buf bytes.Buffer
		log, err := NewLogger(&buf, "info", tc.format)
		if err != nil {
			t.Fatalf("%s: %v", tc.format, err)
		}
		log.Info("started", "addr", "127.0.0.1:4317")
		log.Debug("not at info")
		checkForm(t, tc.format, buf.String(), tc.json)
	}
}

// TestNewLoggerAutoOnTerminal checks that auto writes text to a terminal.
func TestNewLoggerAutoOnTerminal(t *testing.T) {
	ptm, tty, err := testbin.OpenPTY()
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip("no pseudo-terminals on this system")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer ptm.Close()
	defer tty.Close()
	log, err := NewLogger(tty, "info", LogAuto)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("started", "addr", "127.0.0.1:4317")
	buf := make([]byte, 4096)
	n, err := ptm.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	// The terminal turns "\n" into "\r\n".
	checkForm(t, "auto on a terminal", strings.ReplaceAll(string(buf[:n]), "\r\n", "\n"), false)

	// A file is not a terminal.
	f, err := os.Create(t.TempDir() + "/log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Error("a file counts as a terminal")
	}
}

// checkForm checks that out is one record, "started" with addr, in JSON or
// in text.
func checkForm(t *testing.T, what, out string, wantJSON bool) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("%s: %d lines, want 1: %q", what, len(lines), out)
	}
	var rec map[string]any
	isJSON := json.Unmarshal([]byte(lines[0]), &rec) == nil
	switch {
	case wantJSON && (!isJSON || rec["msg"] != "started" || rec["level"] != "INFO" || rec["addr"] != "127.0.0.1:4317"):
		t.Errorf("%s: %q, want a JSON record of msg started, level INFO and addr", what, lines[0])
	case !wantJSON && (isJSON || !strings.Contains(lines[0], "level=INFO msg=started addr=127.0.0.1:4317")):
		t.Errorf("%s: %q, want a text record (level=INFO msg=started addr=...)", what, lines[0])
	}
}

func TestNewLoggerBadValues(t *testing.T) {
	for _, tc := range []struct{ level, format, want string }{
		{"info", "xml", `invalid --log-format "xml": want text, json or auto`},
		{"info", "", `invalid --log-format "": want text, json or auto`},
		{"loud", "json", `invalid --log-level "loud"`},
	} {
		_, err := NewLogger(&bytes.Buffer{}, tc.level, tc.format)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewLogger(%q, %q): %v, want an error %q", tc.level, tc.format, err, tc.want)
		}
	}
}

// TestLogFormatFlag checks the flag, its default, and that it is taken
// from the environment like every other.
func TestLogFormatFlag(t *testing.T) {
	cmd := &cobra.Command{Use: "x"}
	AddConfigFlags(cmd)
	if f := cmd.Flags().Lookup("log-format"); f == nil || f.DefValue != LogAuto {
		t.Fatalf("--log-format: %+v, want a flag with default auto", f)
	}
	t.Setenv("SCRY_LOG_FORMAT", "yaml")
	if err := Apply(cmd); err != nil {
		t.Fatal(err)
	}
	if _, err := Logger(cmd); err == nil || !strings.Contains(err.Error(), `invalid --log-format "yaml"`) {
		t.Errorf("Logger with SCRY_LOG_FORMAT=yaml: %v, want an invalid --log-format error", err)
	}
}
