package hostaddr

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"time"
)

func TestPickAddrs(t *testing.T) {
	for _, tc := range []struct {
		ips  []string
		want []string
	}{
		{nil, nil},
		{[]string{"10.0.0.2", "::1", "10.0.0.1", "10.0.0.2"}, []string{"10.0.0.1:80", "10.0.0.2:80"}},
		{[]string{"::ffff:10.0.0.1", "::1"}, []string{"10.0.0.1:80"}},
		{[]string{"::2", "not-an-ip", "::1"}, []string{"[::1]:80", "[::2]:80"}},
	} {
		if got := PickAddrs(tc.ips, "80"); !slices.Equal(got, tc.want) {
			t.Errorf("PickAddrs(%q) = %q, want %q", tc.ips, got, tc.want)
		}
	}
}

func TestLookup(t *testing.T) {
	notFound := &net.DNSError{Err: "no such host", Name: "h", IsNotFound: true}
	timeout := &net.DNSError{Err: "timeout", Name: "h", IsTimeout: true}
	for _, tc := range []struct {
		ips      []string
		err      error
		want     []string
		keepOld  bool
		wantsErr bool
	}{
		{[]string{"10.0.0.1"}, nil, []string{"10.0.0.1:80"}, false, false},
		{nil, notFound, nil, false, true},
		{nil, timeout, nil, true, true},
		{nil, errors.New("boom"), nil, true, true},
	} {
		lookup := func(context.Context, string) ([]string, error) { return tc.ips, tc.err }
		want, keepOld, err := Lookup(context.Background(), time.Second, lookup, "h", "80")
		if !slices.Equal(want, tc.want) || keepOld != tc.keepOld || (err != nil) != tc.wantsErr {
			t.Errorf("Lookup(%q, %v) = %q, %v, %v", tc.ips, tc.err, want, keepOld, err)
		}
	}
}

func TestDiff(t *testing.T) {
	id := func(s string) string { return s }
	keep, gone, add := Diff([]string{"a", "b", "c"}, id, []string{"d", "c", "a"})
	if !slices.Equal(keep, []string{"a", "c"}) || !slices.Equal(gone, []string{"b"}) || !slices.Equal(add, []string{"d"}) {
		t.Errorf("Diff = %q, %q, %q", keep, gone, add)
	}
}
