package otlpjson

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/scrytrace/scry/model"
)

// Traces is a message the codec reads and writes: both have the one field
// resourceSpans.
type Traces interface {
	proto.Message
	*coltracepb.ExportTraceServiceRequest | *tracepb.TracesData
}

// Marshal encodes m as OTLP/JSON: trace and span IDs in lower-case hex,
// enums as numbers, object keys sorted, arrays in their order, no trailing
// newline.
func Marshal[T Traces](m T) ([]byte, error) {
	b, err := protojson.MarshalOptions{UseEnumNumbers: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("cannot encode OTLP JSON: %w", err)
	}
	// protojson's output is deliberately unstable in its spacing; the tree
	// is written back in one canonical form.
	tree, err := decodeTree(b)
	if err != nil {
		return nil, fmt.Errorf("cannot read OTLP JSON: %w", err)
	}
	if bad := convertIDs(tree, base64ToHex); len(bad) > 0 {
		return nil, errors.Join(bad...)
	}
	out, err := encodeTree(tree)
	if err != nil {
		return nil, fmt.Errorf("cannot write OTLP JSON: %w", err)
	}
	return out, nil
}

// Unmarshal decodes OTLP/JSON into m. A span with a trace, span or parent
// span ID (its own or a link's) that is not a hex string is left out and
// reported in rejected, one error per span wrapping model.ErrInvalidID. err
// says what is wrong with JSON that cannot be decoded at all: malformed
// JSON, data after the top-level object, or a shape protojson rejects.
func Unmarshal[T Traces](b []byte, m T) (rejected []error, err error) {
	tree, err := decodeTree(b)
	if err != nil {
		return nil, fmt.Errorf("cannot decode json request: %w", err)
	}
	rejected = convertIDs(tree, hexToBase64)
	buf, err := encodeTree(tree)
	if err != nil {
		return nil, fmt.Errorf("cannot re-encode json request: %w", err)
	}
	opts := protojson.UnmarshalOptions{DiscardUnknown: true} // as the OTLP spec asks
	if err := opts.Unmarshal(buf, m); err != nil {
		return nil, fmt.Errorf("cannot decode json request: %w", err)
	}
	return rejected, nil
}

// decodeTree decodes one JSON value, keeping numbers exact (64-bit
// integers may be JSON numbers).
func decodeTree(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the top-level object")
	}
	return tree, nil
}

// encodeTree writes a tree back: keys sorted, no HTML escaping, no
// trailing newline.
func encodeTree(tree any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(tree); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Field names as OTLP JSON spells them and as protobuf names them;
// protojson accepts both, so both are rewritten.
var (
	resourceSpansKeys = []string{"resourceSpans", "resource_spans"}
	scopeSpansKeys    = []string{"scopeSpans", "scope_spans"}
	traceIDKeys       = []string{"traceId", "trace_id"}
	spanIDKeys        = []string{"spanId", "span_id"}
	parentIDKeys      = []string{"parentSpanId", "parent_span_id"}
)

// convertID rewrites one ID string; what names the field in errors.
type convertID func(what, s string) (string, error)

// convertIDs rewrites the IDs of every span and link in a decoded message
// with conv and drops the spans for which conv fails, returning an error
// for each. Shapes it does not expect (a value that is not a string where
// an ID belongs, an array that is not one) are left for protojson to
// report.
func convertIDs(root any, conv convertID) (rejected []error) {
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
				if err := rewriteSpan(sp, conv); err != nil {
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

func rewriteSpan(sp any, conv convertID) error {
	m, ok := sp.(map[string]any)
	if !ok {
		return nil
	}
	err := errors.Join(
		rewriteField(m, traceIDKeys, "trace id", conv),
		rewriteField(m, spanIDKeys, "span id", conv),
		rewriteField(m, parentIDKeys, "parent span id", conv),
	)
	for i, l := range arrayField(m, []string{"links"}) {
		if lm, ok := l.(map[string]any); ok {
			if lerr := errors.Join(rewriteField(lm, traceIDKeys, "trace id", conv), rewriteField(lm, spanIDKeys, "span id", conv)); lerr != nil {
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

// rewriteField rewrites the string under any of keys with conv. A value
// that is not a string is left alone.
func rewriteField(m map[string]any, keys []string, what string, conv convertID) error {
	for _, k := range keys {
		s, ok := m[k].(string)
		if !ok {
			continue
		}
		out, err := conv(what, s)
		if err != nil {
			return err
		}
		m[k] = out
	}
	return nil
}

// maxShown bounds how much of a bad ID an error quotes.
const maxShown = 64

func shown(s string) string {
	if len(s) > maxShown {
		return s[:maxShown] + "..."
	}
	return s
}

func hexToBase64(what, s string) (string, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("%w: %s %q is not hex", model.ErrInvalidID, what, shown(s))
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

func base64ToHex(what, s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("cannot convert OTLP JSON %s %q to hex: %w", what, shown(s), err)
	}
	return hex.EncodeToString(b), nil
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
