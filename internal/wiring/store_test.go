package wiring_test

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/scrytrace/scry/internal/wiring"
	"github.com/scrytrace/scry/storage/badger"
)

func TestStoreFlagsRetentionSize(t *testing.T) {
	parse := func(args ...string) (wiring.StoreFlags, error) {
		f := wiring.DefaultStoreFlags()
		fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
		f.Add(fs)
		return f, fs.Parse(args)
	}
	f, err := parse()
	if err != nil || f.Badger.RetentionSize != 0 || f.Badger.SizeCheckInterval != badger.DefaultSizeCheckInterval {
		t.Fatalf("without the flag: %+v, %v; want no size limit and the default check interval", f.Badger, err)
	}
	for arg, want := range map[string]int64{"20GB": 20e9, "500MiB": 500 << 20, "0": 0, "": 0} {
		f, err := parse("--retention-size=" + arg)
		if err != nil || f.Badger.RetentionSize != want {
			t.Errorf("--retention-size=%s: %d, %v; want %d", arg, f.Badger.RetentionSize, err, want)
		}
	}
	if _, err := parse("--retention-size=20 parsecs"); err == nil || !strings.Contains(err.Error(), "unknown unit") {
		t.Errorf("--retention-size=20 parsecs: got %v, want an error naming the unknown unit", err)
	}
}

func TestStoreFlagsRetentionByKind(t *testing.T) {
	f := wiring.DefaultStoreFlags()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	f.Add(fs)
	if err := fs.Parse([]string{"--retention-errors=240h", "--retention-slow=168h", "--slow-threshold=2s"}); err != nil {
		t.Fatal(err)
	}
	if c := f.Badger; c.RetentionErrors != 240*time.Hour || c.RetentionSlow != 168*time.Hour || c.SlowThreshold != 2*time.Second {
		t.Fatalf("flags gave %v, %v, %v", c.RetentionErrors, c.RetentionSlow, c.SlowThreshold)
	}
	if c := wiring.DefaultStoreFlags().Badger; c.RetentionErrors != 0 || c.RetentionSlow != 0 || c.SlowThreshold != 0 {
		t.Fatalf("by default traces of every kind are kept alike, got %+v", c)
	}
}
