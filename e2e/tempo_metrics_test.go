package e2e

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// TraceQL metrics end to end: traces sent over OTLP/gRPC to the built
// binary, then /api/metrics/query_range and /api/metrics/query asked as
// Grafana's Tempo data source asks them, on the query port and on
// --tempo-http-addr; the series are checked against counts computed from
// the spans sent.

// tempoRangeAnswer is Tempo's QueryRangeResponse as Grafana reads it.
type tempoRangeAnswer struct {
	Series []struct {
		Labels []struct {
			Key   string         `json:"key"`
			Value map[string]any `json:"value"`
		} `json:"labels"`
		Samples []struct {
			TimestampMs string  `json:"timestampMs"`
			Value       float64 `json:"value"`
		} `json:"samples"`
	} `json:"series"`
	Status string `json:"status"`
}

// label is the value of the series label key, as text ("" if none).
func (a tempoRangeAnswer) label(i int, key string) string {
	for _, l := range a.Series[i].Labels {
		if l.Key == key {
			for _, v := range l.Value {
				return fmt.Sprint(v)
			}
		}
	}
	return ""
}

// sentSpan is one span sent, with its service.
type sentSpan struct {
	*tracepb.Span
	svc string
}

func sentSpans(sent []sentTrace) []sentSpan {
	var out []sentSpan
	for _, st := range sent {
		callee := ""
		for s := range st.services {
			if s != st.svc {
				callee = s
			}
		}
		for i, sp := range st.spans {
			svc := st.svc
			if i >= 2 {
				svc = callee
			}
			out = append(out, sentSpan{sp, svc})
		}
	}
	return out
}

func TestTempoMetrics(t *testing.T) {
	t.Parallel()
	s := startScryWith(t, scryOptions{Tempo: true})
	sent := sendTempoTraces(t, s, 90)
	spans := sentSpans(sent)
	to := time.Now().Truncate(time.Second)
	from := to.Add(-time.Hour)
	const step = 60 * time.Second
	aligned := uint64(from.UnixNano()) - uint64(from.UnixNano())%uint64(step)
	// stepOf is the timestamp (ms) of a span's step: steps are (t-60s, t]
	// from the start rounded down to a minute, as in Tempo.
	stepOf := func(sp sentSpan) (int64, bool) {
		ts := sp.StartTimeUnixNano
		if ts < uint64(from.UnixNano()) || ts > uint64(to.UnixNano()) {
			return 0, false
		}
		i := max((ts-aligned+uint64(step)-1)/uint64(step), 1)
		return int64((aligned + i*uint64(step)) / uint64(time.Millisecond)), true
	}
	rangeQuery := func(addr, q string) tempoRangeAnswer {
		t.Helper()
		var a tempoRangeAnswer
		tempoJSON(t, s, addr, "/api/metrics/query_range?q="+url.QueryEscape(q)+
			fmt.Sprintf("&start=%d&end=%d&step=60s", from.Unix(), to.Unix()), &a)
		if a.Status != "" {
			t.Errorf("%s: status %q, want a complete answer", q, a.Status)
		}
		return a
	}
	samples := func(a tempoRangeAnswer, i int) map[int64]float64 {
		out := map[int64]float64{}
		for _, smp := range a.Series[i].Samples {
			ms, err := strconv.ParseInt(smp.TimestampMs, 10, 64)
			if err != nil {
				t.Fatalf("timestampMs %q", smp.TimestampMs)
			}
			out[ms] = smp.Value
		}
		return out
	}

	for _, addr := range []string{s.Query, s.Tempo} {
		// rate() by service: spans a second per minute step.
		a := rangeQuery(addr, `{ } | rate() by (resource.service.name)`)
		want := map[string]map[int64]float64{}
		for _, sp := range spans {
			if ts, ok := stepOf(sp); ok {
				if want[sp.svc] == nil {
					want[sp.svc] = map[int64]float64{}
				}
				want[sp.svc][ts]++
			}
		}
		if len(a.Series) != len(want) {
			t.Fatalf("%s rate by service: %d series, want %d", addr, len(a.Series), len(want))
		}
		for i := range a.Series {
			svc := a.label(i, "resource.service.name")
			got := samples(a, i)
			for ts, c := range want[svc] {
				if math.Abs(got[ts]-c/60) > 1e-9 {
					t.Errorf("%s rate %s at %d: %v, want %v (%v spans / 60 s)", addr, svc, ts, got[ts], c/60, c)
				}
			}
		}

		// Errors per step.
		a = rangeQuery(addr, `{ status = error } | count_over_time()`)
		errs := map[int64]float64{}
		for _, sp := range spans {
			if ts, ok := stepOf(sp); ok && sp.Status != nil && sp.Status.Code == tracepb.Status_STATUS_CODE_ERROR {
				errs[ts]++
			}
		}
		if len(a.Series) != 1 || a.label(0, "__name__") != "count_over_time" {
			t.Fatalf("%s errors: %+v, want one series __name__=count_over_time", addr, a.Series)
		}
		got := samples(a, 0)
		var total float64
		for ts, c := range errs {
			total += c
			if got[ts] != c {
				t.Errorf("%s errors at %d: %v, want %v", addr, ts, got[ts], c)
			}
		}
		if total == 0 {
			t.Fatal("no error spans sent in the window")
		}

		// Quantiles of span durations per step, within the power-of-two
		// bucket of the exact (nearest-rank) value.
		a = rangeQuery(addr, `{ } | quantile_over_time(duration, .5, .99)`)
		durs := map[int64][]float64{}
		for _, sp := range spans {
			if ts, ok := stepOf(sp); ok {
				durs[ts] = append(durs[ts], float64(sp.EndTimeUnixNano-sp.StartTimeUnixNano))
			}
		}
		if len(a.Series) != 2 {
			t.Fatalf("%s quantiles: %d series, want 2", addr, len(a.Series))
		}
		for i := range a.Series {
			p, err := strconv.ParseFloat(a.label(i, "p"), 64)
			if err != nil {
				t.Fatalf("%s quantile series without p: %+v", addr, a.Series[i].Labels)
			}
			got := samples(a, i)
			for ts, ds := range durs {
				slices.Sort(ds)
				exact := ds[int(math.Ceil(p*float64(len(ds))))-1]
				hi := math.Exp2(math.Ceil(math.Log2(exact)))
				if v := got[ts] * 1e9; v <= hi/2*(1-1e-9) || v > hi*(1+1e-9) {
					t.Errorf("%s p%v at %d: %v s, want in (%v, %v] ns around the exact %v ns", addr, p, ts, got[ts], hi/2, hi, exact)
				}
			}
		}
	}

	// The instant query: one value over the range.
	var inst struct {
		Series []struct {
			Value float64 `json:"value"`
		} `json:"series"`
	}
	tempoJSON(t, s, s.Tempo, "/api/metrics/query?q="+url.QueryEscape(`{ } | count_over_time()`)+
		fmt.Sprintf("&start=%d&end=%d", from.Unix(), to.Unix()), &inst)
	var n float64
	for _, sp := range spans {
		if _, ok := stepOf(sp); ok {
			n++
		}
	}
	if len(inst.Series) != 1 || inst.Series[0].Value != n {
		t.Errorf("instant count: %+v, want %v", inst.Series, n)
	}

	// A spanset query is not a metrics query: a 400 that says so.
	code, body, _ := tempoGet(t, s, s.Tempo, "/api/metrics/query_range?q="+url.QueryEscape(`{ status = error }`), "")
	if code != http.StatusBadRequest || !strings.Contains(string(body), "not a metrics query") {
		t.Errorf("spanset query: %d %s, want 400 not a metrics query", code, body)
	}
}
