package browser

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// Origins are compared as browsers write them: lower case, without the
// scheme's default port; anything that is not an exact origin is refused
// with what to write instead.
func TestNormalOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://App.Example.com":     "https://app.example.com",
		"https://app.example.com:443": "https://app.example.com",
		"http://localhost:80":         "http://localhost",
		"http://localhost:3000":       "http://localhost:3000",
		"https://app.example.com:80":  "https://app.example.com:80",
		"http://[::1]:8080":           "http://[::1]:8080",
	} {
		if got, err := normalOrigin(in); err != nil || got != want {
			t.Errorf("normalOrigin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, msg := range map[string]string{
		"https://app.example.com/":     "nothing after it",
		"https://app.example.com/path": "nothing after it",
		"https://app.example.com?x=1":  "nothing after it",
		"https://user@app.example.com": "nothing after it",
		"app.example.com":              "http:// or https://",
		"ftp://app.example.com":        "http:// or https://",
		"https://*.example.com":        "wildcards are not allowed",
		"null":                         "http:// or https://",
	} {
		if _, err := normalOrigin(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("normalOrigin(%q): %v, want an error saying %q", in, err, msg)
		}
	}
}

// --http-cors-max-age takes a duration or, as the Collector's max_age, a
// number of seconds; its default is DefaultMaxAge.
func TestMaxAgeFlag(t *testing.T) {
	for in, want := range map[string]time.Duration{"": DefaultMaxAge, "7200": 2 * time.Hour, "90s": 90 * time.Second, "0": 0} {
		var c Config
		fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
		c.AddFlags(fs)
		args := []string{}
		if in != "" {
			args = append(args, "--http-cors-max-age="+in)
		}
		if err := fs.Parse(args); err != nil || c.MaxAge != want {
			t.Errorf("--http-cors-max-age=%q: %v, %v; want %v", in, c.MaxAge, err, want)
		}
	}
	var c Config
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	c.AddFlags(fs)
	if err := fs.Parse([]string{"--http-cors-max-age=soon"}); err == nil {
		t.Error("--http-cors-max-age=soon accepted")
	}
}
