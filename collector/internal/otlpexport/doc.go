// Package otlpexport is what the OTLP receivers share once a request is
// decoded: count and convert its spans, hand them to the collector.Consumer,
// and sort the outcome into a partial success or an error kind that each
// transport maps to its own status codes.
package otlpexport
