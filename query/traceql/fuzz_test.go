package traceql

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary text to Parse: it must never panic, refuse
// with anything but a *ParseError, or accept a query whose canonical form
// does not parse back to the same model; and what parses is evaluated on a
// small trace, which must not panic either.
func FuzzParse(f *testing.F) {
	for _, path := range []string{"testdata/corpus.txt", "testdata/unsupported.txt"} {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		for _, l := range strings.Split(string(data), "\n") {
			if l != "" && !strings.HasPrefix(l, "# ") {
				src, _, _ := strings.Cut(l, "\t# ")
				f.Add(src)
			}
		}
	}
	for _, s := range []string{
		`{ span.a = -(5) && span.b = - -5 && !!span.c }`, `{ span."a\"b\\c" = "\x00\u00e9" }`, "{ span.a = `raw` }",
		`({ } | count() > 1) &>> ({ } || { } ~ { })`, `{ span.a = 2 ^ 3 ^ -1 % 2 }`, `{ .5x = 1e3 }`, `{ ."5x" = 1.5e-3 }`,
	} {
		f.Add(s)
	}
	trace := checkout()
	f.Fuzz(func(t *testing.T, src string) {
		q, err := Parse(src)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Offset < 0 || pe.Offset > len(src) {
				t.Fatalf("Parse(%q): %v is not a *ParseError inside the query", src, err)
			}
			return
		}
		s := q.String()
		q2, err := Parse(s)
		if err != nil {
			t.Fatalf("%q printed as %q, which does not parse: %v", src, s, err)
		}
		if !sameQuery(q, q2) {
			t.Fatalf("%q printed as %q, which parses to a different query: %s", src, s, q2)
		}
		if s2 := q2.String(); s2 != s {
			t.Fatalf("%q printed as %q, then as %q", src, s, s2)
		}
		if sets, ok := q.Match(trace); ok != (len(sets) > 0) {
			t.Fatalf("%q: Match returned %d spansets and ok %v", src, len(sets), ok)
		}
	})
}
