package otlphttp

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/scrytrace/scry/model"
)

// unmarshalJSON decodes an OTLP JSON request into dst. OTLP JSON carries
// trace and span IDs as hex where protojson expects base64, so the body is
// decoded into a generic tree first, those IDs are rewritten as base64, and
// the tree is handed to protojson.
//
// A span with an ID that is not a hex string is dropped and reported in
// rejected; a hex ID of the wrong length is passed on so that the conversion
// to the model rejects the span, as it would from protobuf. err says what is
// wrong with JSON that cannot be decoded at all.
func unmarshalJSON(body []byte, dst *coltracepb.ExportTraceServiceRequest) (rejected []error, err error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // keep 64-bit integers exact
	var root any
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("cannot decode json request: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("cannot decode json request: unexpected data after the top-level object")
	}
	rejected = rewriteIDs(root)

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("cannot re-encode json request: %w", err)
	}
	opts := protojson.UnmarshalOptions{DiscardUnknown: true} // as the OTLP spec asks
	if err := opts.Unmarshal(buf.Bytes(), dst); err != nil {
		return nil, fmt.Errorf("cannot decode json request: %w", err)
	}
	return rejected, nil
}

// Field names as OTLP JSON spells them; protojson also accepts the proto
// names, so both are rewritten.
var (
	resourceSpansKeys = []string{"resourceSpans", "resource_spans"}
	scopeSpansKeys    = []string{"scopeSpans", "scope_spans"}
	traceIDKeys       = []string{"traceId", "trace_id"}
	spanIDKeys        = []string{"spanId", "span_id"}
	parentIDKeys      = []string{"parentSpanId", "parent_span_id"}
)

// rewriteIDs rewrites the hex IDs of every span in a decoded request and
// drops the spans with IDs that are not hex, returning an error for each.
// Shapes it does not expect are left alone for protojson to report.
func rewriteIDs(root any) (rejected []error) {
	for _, rs := range arrayField(root, resourceSpansKeys) {
		for _, ss := range arrayField(rs, scopeSpansKeys) {
			m, ok := ss.(map[string]any)
			if !ok {
				continue
			}
			spans, ok := m["spans"].([]any)
			if !ok {
				continue
			}
			keep := spans[:0]
			for _, sp := range spans {
				if err := rewriteSpan(sp); err != nil {
					rejected = append(rejected, err)
					continue
				}
				keep = append(keep, sp)
			}
			clear(spans[len(keep):])
			m["spans"] = keep
		}
	}
	return rejected
}

func rewriteSpan(sp any) error {
	m, ok := sp.(map[string]any)
	if !ok {
		return nil
	}
	err := errors.Join(
		hexToBase64(m, traceIDKeys, "trace id"),
		hexToBase64(m, spanIDKeys, "span id"),
		hexToBase64(m, parentIDKeys, "parent span id"),
	)
	for i, l := range arrayField(m, []string{"links"}) {
		if lm, ok := l.(map[string]any); ok {
			if lerr := errors.Join(hexToBase64(lm, traceIDKeys, "trace id"), hexToBase64(lm, spanIDKeys, "span id")); lerr != nil {
				err = errors.Join(err, fmt.Errorf("link %d: %w", i, lerr))
			}
		}
	}
	if err != nil {
		name, _ := m["name"].(string)
		return fmt.Errorf("span %q: %w", name, err)
	}
	return nil
}

// hexToBase64 rewrites the string under any of keys from hex to base64.
// A value that is not a string is left for protojson to report.
func hexToBase64(m map[string]any, keys []string, what string) error {
	for _, k := range keys {
		s, ok := m[k].(string)
		if !ok {
			continue
		}
		b, err := hex.DecodeString(s)
		if err != nil {
			const maxShown = 64
			if len(s) > maxShown {
				s = s[:maxShown] + "..."
			}
			return fmt.Errorf("%w: %s %q is not hex", model.ErrInvalidID, what, s)
		}
		m[k] = base64.StdEncoding.EncodeToString(b)
	}
	return nil
}

// arrayField returns the array under the first of keys that v (an object)
// has, or nil.
func arrayField(v any, keys []string) []any {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	for _, k := range keys {
		if a, ok := m[k].([]any); ok {
			return a
		}
	}
	return nil
}
