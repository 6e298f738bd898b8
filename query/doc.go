// Package query serves Scry's HTTP query API over a storage.Reader: the JSON
// API that Jaeger UI and Grafana's Jaeger data source use (/api/...),
// Jaeger's OTLP-based API (/api/v3/...), and Grafana Tempo's query API
// (tempo*.go). It answers the same requests with the same JSON as Jaeger's
// query service and Tempo, so their clients work against Scry unchanged;
// NewHandler also mounts the web UI when one is configured.
//
// # Jaeger UI API (/api)
//
// Every answer is Jaeger's envelope
//
//	{"data": ..., "total": n, "limit": 0, "offset": 0, "errors": null}
//
// and a request the handler cannot serve has "data": null and one error,
// {"code": <HTTP status>, "msg": "..."}; a malformed parameter is a 400 whose
// message names the parameter and says what is wrong with it.
//
//	GET /api/services                       service names, sorted
//	GET /api/services/{service}/operations  operation names, sorted, deduplicated
//	GET /api/operations?service=&spanKind=  [{"name", "spanKind"}]
//	GET /api/traces?...                     search, or fetch by repeated traceID
//	GET /api/traces/{traceID}               one trace (64- or 128-bit hex ID)
//	GET /api/dependencies?endTs=&lookback=  [{"parent", "child", "callCount"}]
//
// /api/traces takes service, operation, spanKind (server, client, producer,
// consumer or internal, in any case; absent for every kind), tags (a JSON object, as Jaeger UI and
// Grafana send it) and repeated tag=key:value, start and end (Unix µs),
// lookback (used only when start is absent: "1h", "2d", ...), minDuration
// and maxDuration (Go durations: "1.2s", "100ms", "10us") and limit. Each
// trace is rendered by model.TraceToJaegerJSON. /api/dependencies takes endTs
// and lookback in milliseconds, as Jaeger does.
//
// # OTLP API (/api/v3)
//
//	GET /api/v3/services                    {"services": [...]}
//	GET /api/v3/operations?service=&spanKind=  {"operations": [{"name", "spanKind"}]}
//	GET /api/v3/traces/{trace_id}           {"result": <OTLP TracesData>}
//	GET /api/v3/traces?query.serviceName=...   {"result": <OTLP TracesData>}
//	GET /api/v3/dependencies?startTime=&endTime=  {"dependencies": [...]}
//
// Parameter names are Jaeger's canonical camelCase ones (query.startTimeMin)
// and their older snake_case aliases (query.start_time_min). Traces are OTLP
// JSON as the OTLP specification encodes it (model/otlpjson): hex trace and
// span IDs, enums as numbers, 64-bit integers as strings. As in Jaeger, a
// trace or search that finds nothing is a 404, and errors are
//
//	{"error": {"httpCode": 400, "message": "malformed parameter ...: ..."}}
//
// # Tempo API
//
//	GET /api/echo                           echo
//	GET /api/search?q=|tags=&limit=&spss=&start=&end=&minDuration=&maxDuration=
//	                                        {"traces": [...], "metrics": {...}}
//	GET /api/search/tags?scope=             {"tagNames": [...]}
//	GET /api/v2/search/tags?scope=&q=       {"scopes": [{"name", "tags"}]}
//	GET /api/search/tag/{tag}/values        {"tagValues": ["..."]}
//	GET /api/v2/search/tag/{tag}/values?q=  {"tagValues": [{"type", "value"}]}
//	GET /api/v2/traces/{traceID}            TraceByIDResponse (JSON or protobuf)
//	GET /api/traces/{traceID}               Trace, on NewTempoHandler only
//
// NewHandler serves all but the last (there /api/traces/{traceID} is
// Jaeger's); NewTempoHandler serves them all, for a port of its own.
// tempo_search.go says what a search finds, tempo_pushdown.go which
// TraceQL conditions go to the store, tempo_tags.go where tag names and
// values come from. Errors are plain text, as Tempo's are: 400 for a bad
// request (a TraceQL syntax error with its line and column), 404 for an
// unknown trace.
//
// Every JSON answer has Content-Type application/json and
// X-Content-Type-Options: nosniff. Answers with a 5xx status are logged.
package query
