package tracegen

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// QueryResult is what a query benchmark measured, per kind of request.
type QueryResult struct {
	Search, ByID []time.Duration // sorted
}

func (r QueryResult) String() string {
	return fmt.Sprintf("search by service (limit 20, last hour): %s\ntrace by ID: %s", summary(r.Search), summary(r.ByID))
}

func summary(d []time.Duration) string {
	if len(d) == 0 {
		return "no requests"
	}
	p := func(q float64) time.Duration { return d[int(float64(len(d)-1)*q)].Round(10 * time.Microsecond) }
	return fmt.Sprintf("%d requests, p50 %v p99 %v max %v", len(d), p(0.5), p(0.99), d[len(d)-1])
}

// QueryBench times Jaeger API requests against baseURL (http://host:16686)
// for n rounds: each round searches one service's traces of the last hour
// (limit 20) and fetches one of the traces found by ID.
// tc is the client TLS of an https baseURL (nil: the system's CAs);
// authz, when set, gives the Authorization header of every request, and
// tenant, when set, its x-tenant header.
func QueryBench(ctx context.Context, baseURL string, n int, tc *tls.Config, authz func() string, tenant string) (QueryResult, error) {
	var res QueryResult
	client := NewHTTPClient(tc)
	if authz != nil || tenant != "" {
		base := client.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		client.Transport = authorizing{base: base, value: authz, tenant: tenant}
	}
	var services struct{ Data []string }
	if _, err := getJSON(ctx, client, baseURL+"/api/services", &services); err != nil {
		return res, err
	}
	if len(services.Data) == 0 {
		return res, fmt.Errorf("no services stored at %s", baseURL)
	}
	for i := range n {
		svc := services.Data[i%len(services.Data)]
		var found struct {
			Data []struct {
				TraceID string `json:"traceID"`
			}
		}
		d, err := getJSON(ctx, client, baseURL+"/api/traces?limit=20&lookback=1h&service="+url.QueryEscape(svc), &found)
		if err != nil {
			return res, err
		}
		res.Search = append(res.Search, d)
		if len(found.Data) == 0 {
			continue
		}
		d, err = getJSON(ctx, client, baseURL+"/api/traces/"+found.Data[i%len(found.Data)].TraceID, nil)
		if err != nil {
			return res, err
		}
		res.ByID = append(res.ByID, d)
	}
	slices.Sort(res.Search)
	slices.Sort(res.ByID)
	return res, nil
}

// getJSON GETs u, decodes the body into out (if not nil) and returns how
// long the request took, body included.
func getJSON(ctx context.Context, c *http.Client, u string, out any) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	t := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	d := time.Since(t)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: HTTP %d: %s", u, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return 0, fmt.Errorf("GET %s: %w", u, err)
		}
	}
	return d, nil
}

// authorizing sends an Authorization header value and a tenant with every
// request.
type authorizing struct {
	base   http.RoundTripper
	value  func() string // nil: none
	tenant string        // "": none
}

func (a authorizing) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if a.value != nil {
		r.Header.Set("Authorization", a.value())
	}
	if a.tenant != "" {
		r.Header.Set(TenantHeader, a.tenant)
	}
	return a.base.RoundTrip(r)
}
