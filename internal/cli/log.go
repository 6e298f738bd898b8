package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// The values of --log-format.
const (
	LogText = "text" // slog's key=value lines, for people
	LogJSON = "json" // one JSON object a line, for log collectors
	LogAuto = "auto" // text when the output is a terminal, else JSON
)

// Logger returns the slog logger on stderr that --log-level and
// --log-format of cmd ask for.
func Logger(cmd *cobra.Command) (*slog.Logger, error) {
	level, _ := cmd.Flags().GetString("log-level")
	format, _ := cmd.Flags().GetString("log-format")
	return NewLogger(os.Stderr, level, format)
}

// NewLogger returns a logger that writes records at level and above to w
// in format (LogText, LogJSON or LogAuto). Auto is text when w is a
// terminal and JSON otherwise (a file, a pipe, a container's log).
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("invalid --log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	if format == LogAuto {
		format = LogJSON
		if isTerminal(w) {
			format = LogText
		}
	}
	switch format {
	case LogText:
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case LogJSON:
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("invalid --log-format %q: want text, json or auto", format)
}

// isTerminal reports whether w is a file open on a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
