package bytesize

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	good := map[string]int64{
		"":        0,
		"0":       0,
		"1048576": 1 << 20,
		"20GB":    20e9,
		"20gb":    20e9,
		"500MiB":  500 << 20,
		"85Gi":    85 << 30,
		"1.5 TB":  15e11,
		"2KiB":    2048,
		"3k":      3072,
		"1e+06":   1e6, // a YAML number, as fmt prints it
		" 7 B ":   7,
	}
	for in, want := range good {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	bad := map[string]string{
		"20 parsecs": "unknown unit",
		"GB":         "no number",
		"1.2.3GB":    "not a number",
		"-5MB":       "negative",
		"1e30TB":     "too large",
	}
	for in, mention := range bad {
		if _, err := Parse(in); err == nil || !strings.Contains(err.Error(), mention) {
			t.Errorf("Parse(%q): got %v, want an error mentioning %q", in, err, mention)
		}
	}
}

func TestFormatRoundTrip(t *testing.T) {
	for _, n := range []int64{0, 1, 1023, 1024, 500 << 20, 3 << 29, 20e9} {
		s := Format(n)
		got, err := Parse(s)
		if err != nil || (got-n)*1000 > n || (n-got)*1000 > n {
			t.Errorf("Parse(Format(%d) = %q) = %d, %v", n, s, got, err)
		}
	}
	if s := Format(500 << 20); s != "500MiB" {
		t.Errorf("Format(500 MiB) = %q", s)
	}
}

func TestValue(t *testing.T) {
	n := int64(1 << 30)
	v := NewValue(&n)
	if v.String() != "1GiB" {
		t.Errorf("default shown as %q", v.String())
	}
	if err := v.Set("20GB"); err != nil || n != 20e9 {
		t.Errorf("Set(20GB): %d, %v", n, err)
	}
	if err := v.Set("lots"); err == nil {
		t.Error("Set(lots) succeeded")
	}
}
