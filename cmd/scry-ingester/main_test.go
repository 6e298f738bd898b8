package main

import (
	"slices"
	"strings"
	"testing"
)

// TestOwned: --ordinal k of --ingesters N gives every partition two owners
// (one when N is 1), and --partitions lists are read as written; bad
// combinations are errors naming the flag.
func TestOwned(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5} {
		owners := make([]int, 8)
		for k := range n {
			ps, err := owned("", k, n, "", 8)
			if err != nil {
				t.Fatalf("ordinal %d of %d: %v", k, n, err)
			}
			for _, p := range ps {
				owners[p]++
			}
		}
		want := min(n, 2)
		for p, c := range owners {
			if c != want {
				t.Errorf("%d ingesters: partition %d has %d owners, want %d", n, p, c, want)
			}
		}
	}
	if ps, err := owned("", -1, 3, "scry-ingester-2", 8); err != nil || !slices.Equal(ps, []int{1, 2, 4, 5, 7}) {
		t.Errorf("ordinal from host scry-ingester-2 of 3: %v, %v", ps, err)
	}
	if ps, err := owned("4-6,0, 2", -2, 0, "", 8); err != nil || !slices.Equal(ps, []int{0, 2, 4, 5, 6}) {
		t.Errorf(`--partitions "4-6,0, 2": %v, %v`, ps, err)
	}
	for _, tc := range []struct {
		spec      string
		k, n      int
		host, msg string
	}{
		{"0-9", -2, 0, "", "not among the cluster's 8"},
		{"3-1", -2, 0, "", "not a partition or a range"},
		{"x", -2, 0, "", "not a partition or a range"},
		{"1", 0, 2, "", "not both"},
		{"", -2, 0, "", "say which partitions"},
		{"", 2, 2, "", "--ordinal 2 is not between 0 and"},
		{"", -1, 2, "laptop", "does not end in -<number>"},
		{"", 0, 0, "", "--ingesters 0"},
	} {
		if _, err := owned(tc.spec, tc.k, tc.n, tc.host, 8); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("owned(%q, %d, %d, %q): %v, want an error mentioning %q", tc.spec, tc.k, tc.n, tc.host, err, tc.msg)
		}
	}
}

func TestAdvertiseAddr(t *testing.T) {
	for _, tc := range []struct{ adv, listen, want string }{
		{"", "127.0.0.1:17271", "127.0.0.1:17271"},
		{"", "0.0.0.0:17271", "pod-1:17271"},
		{"", ":17271", "pod-1:17271"},
		{"scry-ingester-1.scry-ingester.ns.svc:17271", "0.0.0.0:17271", "scry-ingester-1.scry-ingester.ns.svc:17271"},
	} {
		if got, err := advertiseAddr(tc.adv, tc.listen, "pod-1"); err != nil || got != tc.want {
			t.Errorf("advertiseAddr(%q, %q) = %q, %v; want %q", tc.adv, tc.listen, got, err, tc.want)
		}
	}
	if _, err := advertiseAddr("", "127.0.0.1:0", "h"); err == nil {
		t.Error("port 0 without --advertise-addr: no error")
	}
}
