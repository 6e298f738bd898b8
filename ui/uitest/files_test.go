package uitest

import (
	"os"
	"path/filepath"
	"testing"
)

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// sampleOTLP is a trace as OTLP JSON: three spans of one service.
const sampleOTLP = `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"shop"}}]},
"scopeSpans":[{"scope":{"name":"manual"},"spans":[
{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"GET /cart","kind":2,
 "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000250000000",
 "attributes":[{"key":"http.route","value":{"stringValue":"/cart"}}]},
{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b175","parentSpanId":"eee19b7ec3c1b174","name":"load cart","kind":1,
 "startTimeUnixNano":"1700000000010000000","endTimeUnixNano":"1700000000110000000"},
{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b176","parentSpanId":"eee19b7ec3c1b174","name":"render","kind":1,
 "startTimeUnixNano":"1700000000120000000","endTimeUnixNano":"1700000000240000000","status":{"code":2,"message":"template error"}}
]}]}]}`

// hostileOTLP has markup in its names, keys and values.
const hostileOTLP = `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"<script>window.__pwned='svc'</script>"}}]},
"scopeSpans":[{"scope":{"name":"<img src=x onerror=window.__pwned='scope'>"},"spans":[
{"traceId":"00000000000000000000000000000bad","spanId":"0000000000000bad","name":"<svg onload=window.__pwned='name'>",
 "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000250000000",
 "attributes":[{"key":"<b onmouseover=window.__pwned='key'>k</b>","value":{"stringValue":"<img src=x onerror=window.__pwned='file'>"}},
  {"key":"map","value":{"kvlistValue":{"values":[{"key":"<img src=x onerror=window.__pwned='mapkey'>","value":{"stringValue":"v"}}]}}}]}
]}]}]}`
