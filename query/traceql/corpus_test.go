package traceql

import (
	"bufio"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

// readLines returns the non-comment lines of a testdata file with their
// line numbers.
func readLines(t *testing.T, path string) (lines []string, numbers []int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		l := sc.Text()
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "# ") {
			continue
		}
		lines = append(lines, l)
		numbers = append(numbers, n)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines, numbers
}

// TestCorpus parses every query from Tempo's documentation and checks that
// its canonical form parses to the same model and prints the same again.
func TestCorpus(t *testing.T) {
	queries, nums := readLines(t, "testdata/corpus.txt")
	if len(queries) < 100 {
		t.Fatalf("corpus has %d queries; the file is not what it was", len(queries))
	}
	for i, src := range queries {
		q, err := Parse(src)
		if err != nil {
			t.Errorf("corpus.txt:%d: %s: %v", nums[i], src, err)
			continue
		}
		checkRoundTrip(t, src, q)
	}
}

// TestUnsupported checks that what the documentation has and Parse
// refuses is refused with a *ParseError, never accepted or a panic.
func TestUnsupported(t *testing.T) {
	lines, nums := readLines(t, "testdata/unsupported.txt")
	for i, l := range lines {
		src, reason, ok := strings.Cut(l, "\t# ")
		if !ok || reason == "" {
			t.Errorf("unsupported.txt:%d: no reason after a tab and \"# \"", nums[i])
			continue
		}
		q, err := Parse(src)
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("unsupported.txt:%d: %s: parsed as %v (err %v); move it to corpus.txt if it is supported now", nums[i], src, q, err)
		}
	}
}

// checkRoundTrip checks that q prints as canonical TraceQL that parses to
// the same model and prints the same again.
func checkRoundTrip(t *testing.T, src string, q *Query) {
	t.Helper()
	s := q.String()
	q2, err := Parse(s)
	if err != nil {
		t.Errorf("%q printed as %q, which does not parse: %v", src, s, err)
		return
	}
	if !sameQuery(q, q2) {
		t.Errorf("%q printed as %q, which parses to a different query:\n%#v\nwant\n%#v", src, s, q2.Pipeline.Stages, q.Pipeline.Stages)
	}
	if s2 := q2.String(); s2 != s {
		t.Errorf("%q printed as %q, then as %q", src, s, s2)
	}
}

// sameQuery compares the models of two queries (not what Parse prepared
// for Match).
func sameQuery(a, b *Query) bool {
	return reflect.DeepEqual(a.Pipeline, b.Pipeline) && reflect.DeepEqual(a.Math, b.Math) && reflect.DeepEqual(a.Hints, b.Hints)
}
