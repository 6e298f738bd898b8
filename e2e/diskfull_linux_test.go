package e2e

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/scrytrace/scry/internal/testkit"
)

// TestDiskFull loads the built scry, on a small filesystem of its own, past
// its free-space margin over OTLP/gRPC. It must stay up, refuse with
// UNAVAILABLE and RetryInfo (counted as disk_full), say so on /readyz and
// /metrics, and keep serving reads; once the test grows the filesystem,
// writes resume without a restart, and every acknowledged trace is whole.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: the disk-full test mounts a small tmpfs of its own, which needs root")
	}
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=64m"); err != nil {
		t.Skipf("skipped: cannot mount a tmpfs for the disk-full test: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	// 56 MiB of the 64 kept free: ~8 MiB of spans fill it, all in the
	// first (32 MiB) memtable's log, so Badger has nothing to flush or
	// compact before the test grows the filesystem. Few spans keep the
	// test short under -race, where reading them back is most of its time.
	const minFree = 56 << 20
	s := startScry(t, "--data-dir="+filepath.Join(mnt, "data"), fmt.Sprintf("--min-free-disk=%d", minFree))
	c := s.traceClient(t)

	acked := map[string][]string{}
	// export sends one request and reports whether it was acknowledged
	// (true) or refused with a retry (false); anything else fails the test.
	export := func(rs *tracepb.ResourceSpans) bool {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), httpTimeout)
		defer cancel()
		resp, err := c.Export(ctx, &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{rs}})
		if err == nil {
			if ps := resp.GetPartialSuccess(); ps.GetRejectedSpans() != 0 {
				t.Fatalf("export: partial success %v", ps)
			}
			return true
		}
		st := status.Convert(err)
		if st.Code() != codes.Unavailable {
			t.Fatalf("export on a full disk: %s %q, want UNAVAILABLE", st.Code(), st.Message())
		}
		for _, d := range st.Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay().AsDuration() > 0 {
				return false
			}
		}
		t.Fatalf("UNAVAILABLE without a RetryInfo detail with a delay: %v", st.Proto())
		return false
	}
	// A request: 1000 spans (100 traces), each with 100 random bytes (in
	// hex) that do not compress, so that the disk fills with few spans.
	const spansPerExport = 1000
	batch := func() (*tracepb.ResourceSpans, map[string][]string) {
		rs, ids := smallBatch("disk-full", spansPerExport/10, 10, "")
		for _, sp := range rs.ScopeSpans[0].Spans {
			sp.Attributes = append(sp.Attributes, kvStr("pad", hex.EncodeToString(randBytes(100))))
		}
		return rs, ids
	}

	var refused *tracepb.ResourceSpans
	var refusedIDs map[string][]string
	for i := 0; refused == nil; i++ {
		if i == 1000 { // 1M spans: far past the margin
			t.Fatal("1000 exports accepted on a 64 MiB filesystem keeping 56 MiB free")
		}
		rs, ids := batch()
		if export(rs) {
			maps.Copy(acked, ids)
		} else {
			refused, refusedIDs = rs, ids
		}
	}
	if len(acked) == 0 {
		t.Fatal("the first export was refused: the filesystem was full from the start")
	}
	t.Logf("%d traces acknowledged before the disk was full", len(acked))
	// Refused again: the store stays up and keeps refusing.
	if rs, _ := batch(); export(rs) {
		t.Fatal("an export was accepted right after one was refused for a full disk")
	}

	// OTLP/HTTP gets the same answer: 503 with Retry-After.
	rs, _ := batch()
	body, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{rs}})
	if err != nil {
		t.Fatal(err)
	}
	if code, resp, hdr, err := s.post("application/x-protobuf", nil, body); err != nil || code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Errorf("OTLP/HTTP export on a full disk: %d %q Retry-After %q (%v), want 503 with Retry-After", code, resp, hdr.Get("Retry-After"), err)
	}

	code, ready := s.readyz(t)
	if code != http.StatusServiceUnavailable || !strings.Contains(ready, "disk full") {
		t.Errorf("/readyz on a full disk: %d %q, want 503 saying disk full", code, ready)
	}
	if v := s.metric(t, "scry_store_disk_full", nil); v != 1 {
		t.Errorf("scry_store_disk_full = %v on a full disk, want 1", v)
	}
	if v := s.metric(t, "scry_receiver_spans_refused_total", map[string]string{"transport": "otlp_grpc", "reason": "disk_full"}); v < 2*spansPerExport {
		t.Errorf("OTLP/gRPC spans refused as disk_full = %v, want at least the %d of two refused exports", v, 2*spansPerExport)
	}
	if v := s.metric(t, "scry_receiver_spans_refused_total", map[string]string{"transport": "otlp_http", "reason": "disk_full"}); v != spansPerExport {
		t.Errorf("OTLP/HTTP spans refused as disk_full = %v, want the %d of the refused export", v, spansPerExport)
	}
	if !strings.Contains(s.Output(), "free space on the volume or grow it") {
		t.Errorf("no log line says what to do about the full disk; output:\n%s", s.Output())
	}
	// Reads work: the Jaeger API lists the service and returns traces
	// acknowledged before (all of them are checked at the end).
	if svcs := jaeger[[]string](t, s, "/api/services").Data; len(svcs) != 1 || svcs[0] != "disk-full" {
		t.Errorf("/api/services on a full disk: %v", svcs)
	}
	sample := map[string][]string{}
	for id, spans := range acked {
		if sample[id] = spans; len(sample) == 500 {
			break
		}
	}
	s.checkStored(t, sample)

	if err := syscall.Mount("tmpfs", mnt, "tmpfs", syscall.MS_REMOUNT, "size=512m"); err != nil {
		t.Fatalf("cannot grow the tmpfs: %v", err)
	}
	// The refused request, sent again as a client would, is taken now.
	testkit.EventuallyWithin(t, 10*time.Second, "the refused export accepted after the filesystem grew", func() bool {
		return export(refused)
	})
	maps.Copy(acked, refusedIDs)
	for range 5 {
		rs, ids := batch()
		if !export(rs) {
			t.Fatal("an export was refused after writes resumed")
		}
		maps.Copy(acked, ids)
	}
	if code, body := s.readyz(t); code != http.StatusOK {
		t.Errorf("/readyz after the filesystem grew: %d %q, want 200", code, body)
	}
	if v := s.metric(t, "scry_store_disk_full", nil); v != 0 {
		t.Errorf("scry_store_disk_full = %v after the filesystem grew, want 0", v)
	}
	s.checkStored(t, acked)
}

// readyz returns the status and body of the admin port's /readyz.
func (s *Scry) readyz(t testing.TB) (int, string) {
	t.Helper()
	resp, err := s.http.Get("http://" + s.Admin + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
