package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/scrytrace/scry/internal/testbin"
	"github.com/scrytrace/scry/internal/testkit"
)

// TestLogFormat checks the form of what scry logs on stderr with each
// --log-format: JSON lines, text lines, and with auto (the default) JSON
// into a pipe and text onto a terminal. A wrong value stops scry with an
// error that names it.
func TestLogFormat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		flags []string
		json  bool
	}{
		{"json", []string{"--log-format=json"}, true},
		{"text", []string{"--log-format", "text"}, false},
		{"auto into a pipe", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startScry(t, tc.flags...)
			if err := s.Stop(); err != nil {
				t.Fatalf("stop: %v", err)
			}
			checkLogForm(t, s.Output(), tc.json)
		})
	}

	t.Run("auto onto a terminal", func(t *testing.T) {
		out := runScryOnTerminal(t)
		checkLogForm(t, strings.ReplaceAll(out, "\r\n", "\n"), false)
	})

	t.Run("wrong value", func(t *testing.T) {
		out, err := runScry(t, []string{"SCRY_LOG_FORMAT=logfmt"})
		var exit *exec.ExitError
		if !errors.As(err, &exit) || !strings.Contains(string(out), `invalid --log-format "logfmt": want text, json or auto`) {
			t.Errorf("scry with SCRY_LOG_FORMAT=logfmt: %v, output %q; want a non-zero exit naming the value", err, out)
		}
	})
}

// checkLogForm checks that out, scry's output from start to stop, has
// its start and stop logged, and that every log record in it is a JSON
// line (wantJSON) or a text line. Lines of neither form (the banner) are
// not log records.
func checkLogForm(t *testing.T, out string, wantJSON bool) {
	t.Helper()
	var jsonMsgs, textLines []string
	for _, line := range strings.Split(out, "\n") {
		var rec struct{ Time, Level, Msg string }
		switch {
		case json.Unmarshal([]byte(line), &rec) == nil && rec.Time != "" && rec.Level != "":
			jsonMsgs = append(jsonMsgs, rec.Msg)
		case strings.HasPrefix(line, "time=") && strings.Contains(line, " level="):
			textLines = append(textLines, line)
		}
	}
	if wantJSON {
		if len(textLines) > 0 {
			t.Errorf("text log lines among the JSON ones: %q", textLines)
		}
		if !slices.Contains(jsonMsgs, "scry started") {
			t.Errorf("no JSON record of msg \"scry started\" in:\n%s", out)
		}
		return
	}
	if len(jsonMsgs) > 0 {
		t.Errorf("JSON log records among the text ones: %q", jsonMsgs)
	}
	if !slices.ContainsFunc(textLines, func(l string) bool { return strings.Contains(l, `level=INFO msg="scry started"`) }) {
		t.Errorf("no text line with level=INFO msg=\"scry started\" in:\n%s", out)
	}
}

// runScryOnTerminal runs scry with its stderr on a pseudo-terminal until
// it has logged that it started, stops it, and returns what it wrote
// there.
func runScryOnTerminal(t *testing.T) string {
	t.Helper()
	ptm, tty, err := testbin.OpenPTY()
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip("no pseudo-terminals on this system")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer ptm.Close()
	args := []string{"--data-dir=" + t.TempDir()}
	for _, f := range slices.Concat(addrFlags, udpAddrFlags) {
		args = append(args, "--"+f+"=127.0.0.1:0")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*readyTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, buildBinary(t, "./cmd/scry"), args...)
	cmd.Env = cleanEnv()
	cmd.Stderr = tty
	testbin.SetChildAttrs(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close() // the child has its own

	var mu sync.Mutex
	var out bytes.Buffer
	read := make(chan struct{})
	go func() { // until the child exits and the terminal reads EIO
		defer close(read)
		buf := make([]byte, 4096)
		for {
			n, err := ptm.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	output := func() string {
		mu.Lock()
		defer mu.Unlock()
		return out.String()
	}
	started := testkit.Poll(readyTimeout, func() bool { return strings.Contains(output(), "scry started") })
	cmd.Process.Signal(syscall.SIGTERM)
	waitErr := cmd.Wait()
	<-read
	if !started {
		t.Fatalf("scry did not log that it started within %s; it wrote:\n%s", readyTimeout, output())
	}
	if waitErr != nil {
		t.Fatalf("scry on a terminal: %v; it wrote:\n%s", waitErr, output())
	}
	return output()
}
