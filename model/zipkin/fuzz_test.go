package zipkin

import (
	"encoding/json"
	"errors"
	"testing"

	zipkinpb "github.com/openzipkin/zipkin-go/proto/zipkin_proto3"

	"github.com/scrytrace/scry/model"
)

// FuzzZipkinJSON feeds arbitrary bodies to the JSON decoder: it may not
// panic, its errors must wrap ErrMalformed or model.ErrInvalidID, and what
// comes out must be valid spans.
func FuzzZipkinJSON(f *testing.F) {
	body, err := json.Marshal(clientSpans())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body)
	f.Add([]byte(`[{"traceId":"1","id":"1","parentId":"0","kind":"x","tags":{"error":"e","otel.status_code":"OK"},` +
		`"localEndpoint":{"port":-1},"annotations":[{"timestamp":1,"value":"v"}]},{"traceId":"zz"},1]`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		spans, rejected, err := SpansFromJSON(body)
		check(t, spans, rejected, err)
	})
}

// FuzzZipkinProto does the same for protobuf bodies.
func FuzzZipkinProto(f *testing.F) {
	body, err := zipkinpb.SpanSerializer{}.Serialize(clientSpans())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body)
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x07})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		spans, rejected, err := SpansFromProto(body)
		check(t, spans, rejected, err)
	})
}

func check(t *testing.T, spans []*model.Span, rejected []error, err error) {
	if err != nil {
		if !errors.Is(err, ErrMalformed) || spans != nil || rejected != nil {
			t.Fatalf("body error %v with %d spans, %d rejected", err, len(spans), len(rejected))
		}
		return
	}
	for _, err := range rejected {
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, model.ErrInvalidID) {
			t.Errorf("rejection %v wraps neither ErrMalformed nor ErrInvalidID", err)
		}
	}
	for _, s := range spans {
		if s.Resource == nil || s.Scope == nil || s.ValidateIDs() != nil {
			t.Fatalf("bad span out: %+v", s)
		}
	}
}
