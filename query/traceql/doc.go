// Package traceql parses TraceQL, the query language of Grafana Tempo, into
// one query model, and evaluates that model on the spans of one trace.
//
// The language is the one Tempo's documentation describes
// (docs/sources/tempo/traceql in grafana/tempo): spanset filters
// `{ ... }` over scoped attributes (span., resource., event., link.,
// instrumentation., unscoped .x, quoted names) and intrinsics (name, status,
// span:childCount, trace:rootService, ...); comparison, regular-expression,
// boolean and arithmetic operators inside filters; spanset operators && ||
// and the structural operators > >> < << ~ with their negated (!>) and
// union (&>) forms; pipelines with count() avg() min() max() sum()
// compared to a value, by(), select() and coalesce(); the metrics
// functions (rate(), count_over_time(), quantile_over_time(), ...,
// compare()) with by(), topk(), bottomk() and comparisons; arithmetic
// between metrics queries and numbers; and query hints with (...). What
// the documentation shows and Parse refuses is listed, with the reason, in
// testdata/unsupported.txt (placeholders, incomplete examples, and
// min_over_time() without a field).
//
// Parse returns a *Query or a *ParseError that says where the query is
// wrong (byte offset, line and column) and what was expected there. Every
// node of the model has a String method that prints canonical TraceQL,
// which Parse turns back into the same model.
//
// Query.Match evaluates the spanset part of a query (filters, spanset and
// structural operators, aggregates, by, select, coalesce) on the spans of
// one trace; for a metrics query Match answers the pipeline that feeds
// the metrics function. MetricsEvaluator evaluates metrics queries: it
// counts the spans Match answers per step and per series of the traces it
// is shown (rate(), the *_over_time functions, by(), arithmetic, topk(),
// bottomk(), comparisons; not compare()).
package traceql
