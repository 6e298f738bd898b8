package storagetest

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/scrytrace/scry/model"
)

// diffSpan lists, one line per field, how got differs from want. It returns
// nil when they are equal as model.Span.Equal defines it: a backend may
// return either nil or an empty slice, and need not keep fields a value's
// type does not use; everything else must come back as written.
func diffSpan(got, want *model.Span) []string {
	if got.Equal(want) {
		return nil
	}
	// The walk compares the canonical forms (Clone), so it sees only the
	// differences Equal sees.
	var out []string
	diffValue("span", reflect.ValueOf(got.Clone()), reflect.ValueOf(want.Clone()), &out)
	if len(out) == 0 {
		out = append(out, "span: differs")
	}
	return out
}

const maxDiffLines = 40

func diffValue(path string, g, w reflect.Value, out *[]string) {
	if len(*out) >= maxDiffLines {
		return
	}
	switch g.Kind() {
	case reflect.Pointer:
		if g.IsNil() || w.IsNil() {
			if g.IsNil() != w.IsNil() {
				*out = append(*out, fmt.Sprintf("%s: got %s, want %s", path, nilOrSet(g), nilOrSet(w)))
			}
			return
		}
		diffValue(path, g.Elem(), w.Elem(), out)
	case reflect.Struct:
		for i := 0; i < g.NumField(); i++ {
			diffValue(path+"."+g.Type().Field(i).Name, g.Field(i), w.Field(i), out)
		}
	case reflect.Slice:
		if g.Len() != w.Len() {
			*out = append(*out, fmt.Sprintf("%s: got %d elements, want %d", path, g.Len(), w.Len()))
		}
		if g.Type().Elem().Kind() == reflect.Uint8 {
			if !bytes.Equal(g.Bytes(), w.Bytes()) {
				*out = append(*out, fmt.Sprintf("%s: got %x, want %x", path, g.Bytes(), w.Bytes()))
			}
			return
		}
		for i := 0; i < min(g.Len(), w.Len()); i++ {
			elem := fmt.Sprintf("%s[%d]", path, i)
			if a, ok := w.Index(i).Interface().(model.KeyValue); ok {
				elem = fmt.Sprintf("%s[%d %q]", path, i, a.Key)
			}
			diffValue(elem, g.Index(i), w.Index(i), out)
		}
	case reflect.Float64:
		if math.Float64bits(g.Float()) != math.Float64bits(w.Float()) { // a NaN equals itself
			*out = append(*out, fmt.Sprintf("%s: got %s, want %s", path, show(g), show(w)))
		}
	default:
		if !reflect.DeepEqual(g.Interface(), w.Interface()) {
			*out = append(*out, fmt.Sprintf("%s: got %s, want %s", path, show(g), show(w)))
		}
	}
}

func nilOrSet(v reflect.Value) string {
	if v.IsNil() {
		return "nil"
	}
	return "non-nil"
}

func show(v reflect.Value) string {
	if v.Kind() == reflect.String {
		return fmt.Sprintf("%q", v.String())
	}
	return fmt.Sprintf("%v", v.Interface())
}

// checkSpan fails t with a field-by-field diff when got differs from want.
func checkSpan(t testing.TB, what string, got, want *model.Span) {
	t.Helper()
	if d := diffSpan(got, want); d != nil {
		t.Errorf("%s differs from what was written (got, want):\n\t%s", what, strings.Join(d, "\n\t"))
	}
}

// sortSpans sorts spans as GetTrace must return them: by start time, then
// span ID.
func sortSpans(spans []*model.Span) {
	slices.SortStableFunc(spans, func(a, b *model.Span) int {
		if r := cmp.Compare(a.StartTime, b.StartTime); r != 0 {
			return r
		}
		return bytes.Compare(a.SpanID[:], b.SpanID[:])
	})
}

// checkTrace fails t unless got holds exactly the spans of want, in GetTrace's
// order (want is sorted here), each equal field by field.
func checkTrace(t testing.TB, got, want []*model.Span) {
	t.Helper()
	want = slices.Clone(want)
	sortSpans(want)
	if len(got) != len(want) {
		t.Errorf("got %d spans, want %d\n got: %s\nwant: %s", len(got), len(want), spanList(got), spanList(want))
		return
	}
	failures := 0
	for i := range got {
		if d := diffSpan(got[i], want[i]); d != nil {
			t.Errorf("span %d of the trace (got %s, want %s) differs (got, want):\n\t%s",
				i, spanLabel(got[i]), spanLabel(want[i]), strings.Join(d, "\n\t"))
			if failures++; failures == 5 {
				t.Errorf("... stopping after 5 differing spans")
				return
			}
		}
	}
}

func spanLabel(s *model.Span) string {
	if s == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%s %q @%d", s.SpanID, s.Name, s.StartTime)
}

func spanList(spans []*model.Span) string {
	const max = 20
	parts := make([]string, 0, max+1)
	for i, s := range spans {
		if i == max {
			parts = append(parts, fmt.Sprintf("... (%d more)", len(spans)-max))
			break
		}
		parts = append(parts, spanLabel(s))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
