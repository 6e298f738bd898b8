package browser

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkWrap measures what the policy adds to a request: an SDK's
// export (no Origin) and an allowed page's, on a listener with CORS on.
func BenchmarkWrap(b *testing.B) {
	p, err := New("otlp-http", Config{AllowedOrigins: []string{"https://app.example.com"}, MaxAge: DefaultMaxAge}, Rules{CORS: true})
	if err != nil {
		b.Fatal(err)
	}
	bare := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	h := p.Wrap(bare)
	for _, c := range []struct {
		name    string
		h       http.Handler
		headers map[string]string
	}{
		{"unwrapped", bare, nil}, // the recorder's own cost, to subtract
		{"sdk", h, nil},
		{"allowed-page", h, map[string]string{"Origin": "https://app.example.com", "Sec-Fetch-Site": "cross-site"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodPost, "/v1/traces", nil)
			for k, v := range c.headers {
				r.Header.Set(k, v)
			}
			b.ReportAllocs()
			for b.Loop() {
				c.h.ServeHTTP(httptest.NewRecorder(), r)
			}
		})
	}
}
