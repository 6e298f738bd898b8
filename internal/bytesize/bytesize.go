// Package bytesize reads and writes sizes in bytes as people write them
// ("20GB", "500MiB", "1.5 TB") and binds them to flags.
package bytesize

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// units by their lower-case suffix. KB, MB, GB, TB are powers of 1000 and
// KiB, MiB, GiB, TiB powers of 1024, as the SI and IEC prefixes say; a bare
// K, M, G, T is the power of 1024, and so are Kubernetes' Ki, Mi, Gi, Ti (a
// volume's size can be written as its claim writes it).
var units = map[string]float64{
	"":    1,
	"b":   1,
	"kb":  1e3,
	"mb":  1e6,
	"gb":  1e9,
	"tb":  1e12,
	"pb":  1e15,
	"k":   1 << 10,
	"m":   1 << 20,
	"g":   1 << 30,
	"t":   1 << 40,
	"kib": 1 << 10,
	"mib": 1 << 20,
	"gib": 1 << 30,
	"tib": 1 << 40,
	"pib": 1 << 50,
	"ki":  1 << 10,
	"mi":  1 << 20,
	"gi":  1 << 30,
	"ti":  1 << 40,
	"pi":  1 << 50,
}

// Parse reads a size such as "20GB", "500MiB", "1.5 TB" or "1048576" (bytes).
// Units are case-insensitive. An empty string is zero.
func Parse(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, nil
	}
	i := strings.IndexFunc(t, func(r rune) bool {
		return !(unicode.IsDigit(r) || r == '.' || r == '+' || r == '-' || r == 'e' || r == 'E')
	})
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	mult, ok := units[strings.ToLower(unit)]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit %q (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)", s, unit)
	}
	if num == "" {
		return 0, fmt.Errorf("size %q: no number before the unit", s)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %q is not a number", s, num)
	}
	if f < 0 {
		return 0, fmt.Errorf("size %q is negative", s)
	}
	v := math.Round(f * mult)
	if math.IsNaN(v) || v >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return int64(v), nil
}

// Format writes n in the largest binary unit not above it, with at most
// three decimals: "500MiB", "1.5GiB", "0".
func Format(n int64) string {
	if n == 0 {
		return "0"
	}
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size {
			x := math.Round(float64(n)/float64(u.size)*1000) / 1000
			return strconv.FormatFloat(x, 'f', -1, 64) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// Value is a flag value (pflag.Value) that sets the size it points to.
type Value struct{ p *int64 }

// NewValue returns a Value that writes into p; p's value is the default.
func NewValue(p *int64) *Value { return &Value{p: p} }

// Set implements pflag.Value.
func (v *Value) Set(s string) error {
	n, err := Parse(s)
	if err != nil {
		return err
	}
	*v.p = n
	return nil
}

// String implements pflag.Value.
func (v *Value) String() string {
	if v == nil || v.p == nil {
		return "0"
	}
	return Format(*v.p)
}

// Type implements pflag.Value.
func (v *Value) Type() string { return "size" }
