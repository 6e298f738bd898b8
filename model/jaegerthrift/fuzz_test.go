package jaegerthrift

import (
	"errors"
	"testing"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/jaegertracing/jaeger-idl/thrift-gen/jaeger"

	"github.com/scrytrace/scry/model"
)

// FuzzDecodeEmitBatch feeds arbitrary packets, as compact or binary Thrift,
// through the decoder and the conversion: neither may panic, an error must
// wrap ErrMalformed, and what comes out must be valid spans.
func FuzzDecodeEmitBatch(f *testing.F) {
	for _, compact := range []bool{true, false} {
		f.Add(emitBatchPacket(f, fullBatch(), compact), compact)
		f.Add(hostilePacket(f, compact, func(p thrift.TProtocol) {}), compact)
	}
	f.Add([]byte{}, true)
	f.Add([]byte{0x82, 0x81, 0x01, 0x09}, true)
	f.Fuzz(func(t *testing.T, packet []byte, compact bool) {
		batch, err := DecodeEmitBatch(packet, compact)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		checkSpans(t, batch)
	})
}

// FuzzDecodeBatch does the same for the HTTP body decoder.
func FuzzDecodeBatch(f *testing.F) {
	body := emitBatchPacket(f, fullBatch(), false)
	f.Add(body)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		batch, err := DecodeBatch(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		checkSpans(t, batch)
	})
}

func checkSpans(t *testing.T, batch *jaeger.Batch) {
	spans, rejected := SpansFromBatch(batch)
	for _, err := range rejected {
		if !errors.Is(err, model.ErrInvalidID) {
			t.Errorf("rejection %v does not wrap ErrInvalidID", err)
		}
	}
	if len(spans)+len(rejected) != len(batch.Spans) {
		t.Errorf("%d spans + %d rejected, from %d", len(spans), len(rejected), len(batch.Spans))
	}
	for _, s := range spans {
		if s.Resource == nil || s.Scope == nil || s.ValidateIDs() != nil {
			t.Fatalf("bad span out: %+v", s)
		}
	}
}
