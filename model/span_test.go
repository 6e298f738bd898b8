package model

import (
	"errors"
	"testing"
)

func TestParseTraceID(t *testing.T) {
	tests := []struct {
		in      string
		want    string // String() of the result; "" for an error
		wantErr bool
	}{
		{"0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef", false},
		{"0123456789ABCDEF0123456789ABCDEF", "0123456789abcdef0123456789abcdef", false},
		{"0123456789abcdef", "00000000000000000123456789abcdef", false}, // 64-bit
		{"1", "00000000000000000000000000000001", false},
		{"abc", "00000000000000000000000000000abc", false}, // odd length
		{"", "", true},
		{"0123456789abcdef0123456789abcdef0", "", true}, // 33 digits
		{"00000000000000000000000000000000", "", true},  // zero
		{"0", "", true},
		{"xyz", "", true},
		{"0x12", "", true},
		{" 12", "", true},
	}
	for _, tt := range tests {
		id, err := ParseTraceID(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseTraceID(%q) = %s, want an error", tt.in, id)
			} else if !errors.Is(err, ErrInvalidID) {
				t.Errorf("ParseTraceID(%q) error %v does not wrap ErrInvalidID", tt.in, err)
			}
			continue
		}
		if err != nil || id.String() != tt.want {
			t.Errorf("ParseTraceID(%q) = %s, %v; want %s", tt.in, id, err, tt.want)
		}
	}
}

func TestParseSpanID(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"0123456789abcdef", "0123456789abcdef", false},
		{"FF", "00000000000000ff", false},
		{"7", "0000000000000007", false},
		{"", "", true},
		{"0123456789abcdef0", "", true},
		{"0000000000000000", "", true},
		{"g", "", true},
	}
	for _, tt := range tests {
		id, err := ParseSpanID(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseSpanID(%q) = %s, want an error", tt.in, id)
			} else if !errors.Is(err, ErrInvalidID) {
				t.Errorf("ParseSpanID(%q) error %v does not wrap ErrInvalidID", tt.in, err)
			}
			continue
		}
		if err != nil || id.String() != tt.want {
			t.Errorf("ParseSpanID(%q) = %s, %v; want %s", tt.in, id, err, tt.want)
		}
	}
}

func TestIDsFromBytes(t *testing.T) {
	if id, err := TraceIDFromBytes([]byte{1, 2, 3, 4, 5, 6, 7, 8}); err != nil || id.String() != "00000000000000000102030405060708" {
		t.Errorf("8-byte trace id = %s, %v", id, err)
	}
	for _, b := range [][]byte{nil, make([]byte, 16), make([]byte, 8), make([]byte, 12)} {
		if _, err := TraceIDFromBytes(b); !errors.Is(err, ErrInvalidID) {
			t.Errorf("TraceIDFromBytes(%x) err = %v", b, err)
		}
	}
	for _, b := range [][]byte{nil, make([]byte, 8), {1}, make([]byte, 16)} {
		if _, err := SpanIDFromBytes(b); !errors.Is(err, ErrInvalidID) {
			t.Errorf("SpanIDFromBytes(%x) err = %v", b, err)
		}
	}
}

func TestSpanKindAndStatusNames(t *testing.T) {
	for k := SpanKindUnspecified; k <= SpanKindConsumer; k++ {
		back, err := ParseSpanKind(k.String())
		if err != nil || back != k {
			t.Errorf("ParseSpanKind(%q) = %v, %v", k.String(), back, err)
		}
	}
	if _, err := ParseSpanKind("Server"); err == nil {
		t.Error("ParseSpanKind is case-sensitive, as Jaeger's names are lower case")
	}
	if got := SpanKind(9).String(); got != "kind(9)" {
		t.Errorf("unknown kind = %q", got)
	}
	for c, want := range map[StatusCode]string{StatusUnset: "UNSET", StatusOK: "OK", StatusError: "ERROR", 7: "STATUS(7)"} {
		if c.String() != want {
			t.Errorf("%d.String() = %q, want %q", c, c.String(), want)
		}
	}
}

func TestNormalizeAndValidateIDs(t *testing.T) {
	s := &Span{TraceID: TraceID{1}, SpanID: SpanID{1}, Name: "n", StartTime: 10, EndTime: 5}
	if err := s.ValidateIDs(); err != nil {
		t.Fatal(err)
	}
	s.Normalize()
	if s.EndTime != 10 || s.Duration() != 0 || len(s.Warnings) != 1 {
		t.Errorf("normalized span = %+v", s)
	}
	for _, bad := range []*Span{{SpanID: SpanID{1}}, {TraceID: TraceID{1}}} {
		if err := bad.ValidateIDs(); !errors.Is(err, ErrInvalidID) {
			t.Errorf("ValidateIDs(%+v) = %v", bad, err)
		}
	}
}
