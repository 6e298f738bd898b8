package zipkin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/scrytrace/scry/model"
)

// ErrMalformed is wrapped by the error of a body that cannot be parsed at
// all, and by the rejection of a span whose fields have the wrong types.
var ErrMalformed = errors.New("malformed zipkin spans")

type jsonSpan struct {
	TraceID        string              `json:"traceId"`
	ID             string              `json:"id"`
	ParentID       string              `json:"parentId"`
	Name           string              `json:"name"`
	Kind           string              `json:"kind"`
	Timestamp      uint64              `json:"timestamp"`
	Duration       uint64              `json:"duration"`
	LocalEndpoint  *jsonEndpoint       `json:"localEndpoint"`
	RemoteEndpoint *jsonEndpoint       `json:"remoteEndpoint"`
	Annotations    []jsonAnnotation    `json:"annotations"`
	Tags           map[string]jsonText `json:"tags"`
	Debug          bool                `json:"debug"`
	Shared         bool                `json:"shared"`
}

type jsonEndpoint struct {
	ServiceName string `json:"serviceName"`
	IPv4        string `json:"ipv4"`
	IPv6        string `json:"ipv6"`
	Port        int64  `json:"port"`
}

type jsonAnnotation struct {
	Timestamp uint64 `json:"timestamp"`
	Value     string `json:"value"`
}

// jsonText is a tag value: Zipkin's are strings, but a number, bool or null
// some clients send is kept as its JSON text rather than failing the span.
type jsonText string

func (t *jsonText) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = jsonText(s)
		return nil
	}
	*t = jsonText(b)
	return nil
}

// SpansFromJSON converts a Zipkin v2 JSON body: an array of span objects
// (traceId, id, parentId, name, kind, timestamp and duration in µs,
// localEndpoint, remoteEndpoint, annotations, tags, debug, shared), as sent
// to POST /api/v2/spans.
//
// The mapping to the model:
//   - traceId (16 or 32 hex digits; shorter ones are zero-padded) and id
//     (16) are the IDs; parentId (equal to id, empty or all zeros means
//     none) is the parent;
//   - localEndpoint is the resource: serviceName is service.name (left out
//     when absent, so the store names the service unknown_service), ipv4,
//     ipv6 and port are LocalAddressKey, LocalIPv6Key and LocalPortKey.
//     Spans with equal local endpoints share one *Resource;
//   - remoteEndpoint becomes span attributes: PeerServiceKey,
//     PeerAddressKey, PeerIPv6Key and PeerPortKey;
//   - kind CLIENT, SERVER, PRODUCER or CONSUMER is the kind;
//   - annotations are events (value is the name, µs become ns);
//   - tags are string attributes, sorted by key (a non-string value some
//     clients send is kept as its JSON text). An error tag makes the status
//     ERROR, its value the message (unless "true" or empty); the
//     otel.status_code, otel.status_description, otel.scope.name and
//     otel.scope.version (or otel.library.*) and w3c.tracestate tags that
//     OpenTelemetry's Zipkin exporters write are the status, scope and
//     trace state; and a span.kind tag is the kind if the kind field is
//     absent. Spans share one *Scope per scope name and version;
//   - shared and debug are kept as SharedKey and DebugKey (bool true).
//
// The whole body is an error (wrapping ErrMalformed) if it is not a JSON
// array of objects. A span is not converted, adding one error to rejected that names it,
// if its traceId or id is missing, not hex, too long or all zeros, or its
// parentId is not hex (these wrap model.ErrInvalidID), or if a field has the
// wrong JSON type (wrapping ErrMalformed); the other spans are still
// converted. Nesting is bounded by encoding/json's limit.
func SpansFromJSON(b []byte) (spans []*model.Span, rejected []error, err error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		if err == nil && tok == nil { // null: no spans
			if _, err := dec.Token(); err == io.EOF {
				return nil, nil, nil
			}
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%w: not a JSON array of spans: %w", ErrMalformed, err)
		}
		return nil, nil, fmt.Errorf("%w: not a JSON array of spans", ErrMalformed)
	}
	var (
		c  converter
		sl slab
		js jsonSpan // reused: one allocation, not one per span
	)
	for i := 0; dec.More(); i++ {
		if !nextIsObject(b, dec.InputOffset()) {
			return nil, nil, fmt.Errorf("%w: element %d of the array is not a span object", ErrMalformed, i)
		}
		js = jsonSpan{}
		if err := dec.Decode(&js); err != nil {
			var te *json.UnmarshalTypeError
			if !errors.As(err, &te) {
				return nil, nil, fmt.Errorf("%w: element %d: %w", ErrMalformed, i, err)
			}
			// A field of the wrong type: the span was read to its end.
			err = fmt.Errorf("%w: field %s: JSON %s does not fit %s", ErrMalformed, te.Field, te.Value, te.Type)
			rejected = append(rejected, rejection(i, js.Name, js.service(), err))
			continue
		}
		z, err := js.span()
		if err != nil {
			rejected = append(rejected, rejection(i, js.Name, js.service(), err))
			continue
		}
		s := sl.next()
		c.convert(s, &z)
		spans = append(spans, s)
	}
	if _, err := dec.Token(); err != nil { // the closing ]
		return nil, nil, fmt.Errorf("%w: unterminated array of spans: %w", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, fmt.Errorf("%w: data after the array of spans", ErrMalformed)
	}
	return spans, rejected, nil
}

// nextIsObject reports whether the next array element after offset in b,
// past white space and a comma, starts an object.
func nextIsObject(b []byte, offset int64) bool {
	for _, ch := range b[offset:] {
		switch ch {
		case ' ', '\t', '\n', '\r', ',':
			continue
		case '{':
			return true
		}
		return false
	}
	return false
}

func (js *jsonSpan) service() string {
	if js.LocalEndpoint == nil {
		return ""
	}
	return js.LocalEndpoint.ServiceName
}

func (js *jsonSpan) span() (span, error) {
	z := span{
		name:      js.Name,
		kind:      js.Kind,
		timestamp: js.Timestamp,
		duration:  js.Duration,
		debug:     js.Debug,
		shared:    js.Shared,
	}
	switch {
	case js.TraceID == "":
		return z, errNoTraceID
	case js.ID == "":
		return z, errNoSpanID
	}
	var err error
	if z.traceID, err = model.ParseTraceID(js.TraceID); err != nil {
		return z, err
	}
	if z.spanID, err = model.ParseSpanID(js.ID); err != nil {
		return z, err
	}
	if z.parentID, err = parseParentID(js.ParentID); err != nil {
		return z, err
	}
	z.local = js.LocalEndpoint.endpoint("local", &z.warnings)
	z.remote = js.RemoteEndpoint.endpoint("remote", &z.warnings)
	if len(js.Annotations) > 0 {
		z.annotations = make([]annotation, len(js.Annotations))
		for i, a := range js.Annotations {
			z.annotations[i] = annotation{timestamp: a.Timestamp, value: a.Value}
		}
	}
	if len(js.Tags) > 0 {
		z.tags = make([]tag, 0, len(js.Tags))
		for k, v := range js.Tags {
			z.tags = append(z.tags, tag{key: k, value: string(v)})
		}
		sortTags(z.tags)
	}
	return z, nil
}

func (e *jsonEndpoint) endpoint(which string, warnings *[]string) endpoint {
	if e == nil {
		return endpoint{}
	}
	port, warn := checkPort(e.Port, which)
	if warn != "" {
		*warnings = append(*warnings, warn)
	}
	return endpoint{serviceName: e.ServiceName, ipv4: e.IPv4, ipv6: e.IPv6, port: port}
}

// parseParentID accepts an absent or all-zero parent (a root span).
func parseParentID(s string) (model.SpanID, error) {
	if len(s) <= 16 && strings.Trim(s, "0") == "" {
		return model.SpanID{}, nil
	}
	id, err := model.ParseSpanID(s)
	if err != nil {
		return id, fmt.Errorf("parentId: %w", err)
	}
	return id, nil
}
