package query

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/scrytrace/scry/model"
)

// This file encodes spans as OTLP JSON, as the OTLP specification defines it
// (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding) and as
// Jaeger's /api/v3 returns it. That is protobuf's canonical JSON mapping
// (lowerCamelCase field names, 64-bit integers as decimal strings, bytes in
// base64, default values left out) with two differences: enum values are
// numbers, not names, and the trace and span IDs of spans and links
// (traceId, spanId, parentSpanId) are lower-case hex, not base64.

// otlpIDFields are the OTLP JSON fields that hold trace and span IDs. In
// TracesData they are object keys only in Span and Span.Link: attribute keys
// are values ({"key": ..., "value": ...}), never object keys, so a key of
// this name anywhere in the tree is an ID.
var otlpIDFields = map[string]bool{"traceId": true, "spanId": true, "parentSpanId": true}

// otlpJSON returns spans as an OTLP JSON TracesData object
// ({"resourceSpans": [...]}), grouped as model.SpansToOTLP groups them.
// Object keys come out sorted; arrays keep their order.
func otlpJSON(spans []*model.Span) (json.RawMessage, error) {
	td := &tracepb.TracesData{ResourceSpans: model.SpansToOTLP(spans)}
	b, err := protojson.MarshalOptions{UseEnumNumbers: true}.Marshal(td)
	if err != nil {
		return nil, fmt.Errorf("cannot encode spans as OTLP JSON: %w", err)
	}
	return hexIDs(b)
}

// hexIDs rewrites the base64 ID fields of protojson output to hex. Numbers
// are kept as written.
func hexIDs(b []byte) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("cannot read OTLP JSON: %w", err)
	}
	if err := rewriteIDs(tree); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(tree); err != nil {
		return nil, fmt.Errorf("cannot write OTLP JSON: %w", err)
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}

func rewriteIDs(v any) error {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if !otlpIDFields[k] {
				if err := rewriteIDs(e); err != nil {
					return err
				}
				continue
			}
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("cannot convert OTLP JSON field %s to hex: it is not a string", k)
			}
			raw, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return fmt.Errorf("cannot convert OTLP JSON field %s to hex: %w", k, err)
			}
			v[k] = hex.EncodeToString(raw)
		}
	case []any:
		for _, e := range v {
			if err := rewriteIDs(e); err != nil {
				return err
			}
		}
	}
	return nil
}
