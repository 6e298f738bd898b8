package conv

import (
	"math"
	"reflect"
	"testing"

	"github.com/scrytrace/scry/model"
)

func TestEnd(t *testing.T) {
	for _, tc := range []struct {
		start uint64
		dur   int64
		want  uint64
	}{
		{0, 0, 0},
		{1000, 2, 3000},
		{5000, -2, 3000},
		{1000, -2, 0},
		{math.MaxUint64 - 10, 1, math.MaxUint64},
		{0, math.MaxInt64, math.MaxUint64},
		{math.MaxUint64, math.MinInt64, 0},
	} {
		if got := End(tc.start, tc.dur); got != tc.want {
			t.Errorf("End(%d, %d) = %d, want %d", tc.start, tc.dur, got, tc.want)
		}
	}
	if Nanos(math.MaxUint64/1000+1) != math.MaxUint64 || Nanos(7) != 7000 {
		t.Error("Nanos does not saturate")
	}
	if ns, w := SignedNanos(-1, "x"); ns != 0 || w == "" {
		t.Error("SignedNanos of a negative time")
	}
}

func TestExtractStatusForms(t *testing.T) {
	for _, code := range []string{"ERROR", "error", "STATUS_CODE_ERROR"} {
		attrs := []model.KeyValue{{Key: "otel.status_code", Value: model.StringValue(code)}, {Key: "k", Value: model.IntValue(1)}}
		left, f := Extract(attrs, Options{})
		if f.Status.Code != model.StatusError || !reflect.DeepEqual(left, []model.KeyValue{{Key: "k", Value: model.IntValue(1)}}) {
			t.Errorf("%s: %+v, left %+v", code, f, left)
		}
	}
	// Without Options.Kind, span.kind stays.
	attrs := []model.KeyValue{{Key: "span.kind", Value: model.StringValue("server")}}
	if left, f := Extract(attrs, Options{}); f.Kind != model.SpanKindUnspecified || len(left) != 1 {
		t.Errorf("span.kind taken without Options.Kind: %+v", f)
	}
}

func TestScopes(t *testing.T) {
	var s Scopes
	a, b := s.Get("n", "v"), s.Get("n", "v")
	if a != b || a.Name != "n" || a.Version != "v" || s.Get("n", "") == a {
		t.Error("scopes not interned by name and version")
	}
}
