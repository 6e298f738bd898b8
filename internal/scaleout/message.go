package scaleout

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/zstd"
	"github.com/nats-io/nats.go"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// A message is one batch of spans of one partition and one tenant:
//
//	header Scry-Format: otlp-zstd-1
//	header Scry-Tenant: the tenant ("" or absent: the default tenant)
//	header Nats-Msg-Id: hash of the tenant and the payload (de-duplication)
//	data:  zstd( OTLP TracesData protobuf )
//
// OTLP keeps every field of the model (model.SpansToOTLP), and the ID
// derived from the content makes a publish retried with the same batch
// stored once within the stream's de-duplication window.
const (
	headerFormat = "Scry-Format"
	headerTenant = "Scry-Tenant"
	formatV1     = "otlp-zstd-1"
	// maxMessageBytes bounds a message on the wire; the streams refuse
	// larger ones.
	maxMessageBytes = 8 << 20
	// maxDecodedBytes bounds what decoding one message allocates.
	maxDecodedBytes = 64 << 20
)

// Codec encodes and decodes messages. It is safe for concurrent use.
type Codec struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
}

// NewCodec returns a Codec; Close releases it.
func NewCodec() (*Codec, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("cannot create zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(maxDecodedBytes), zstd.WithDecoderConcurrency(0))
	if err != nil {
		enc.Close()
		return nil, fmt.Errorf("cannot create zstd decoder: %w", err)
	}
	return &Codec{enc: enc, dec: dec}, nil
}

// Close releases the codec's buffers.
func (c *Codec) Close() {
	c.enc.Close()
	c.dec.Close()
}

// Encode makes the message of spans of partition p for tenant.
func (c *Codec) Encode(p int, tenant string, spans []*model.Span) (*nats.Msg, error) {
	raw, err := proto.Marshal(&tracepb.TracesData{ResourceSpans: model.SpansToOTLP(spans)})
	if err != nil {
		return nil, fmt.Errorf("cannot encode spans: %w", err)
	}
	data := c.enc.EncodeAll(raw, make([]byte, 0, len(raw)/4))
	h := xxhash.New()
	_, _ = h.WriteString(tenant)
	_, _ = h.Write([]byte{0})
	_, _ = h.Write(data)
	m := nats.NewMsg(Subject(p))
	m.Data = data
	m.Header.Set(headerFormat, formatV1)
	if tenant != "" {
		m.Header.Set(headerTenant, tenant)
	}
	m.Header.Set(nats.MsgIdHdr, strconv.FormatUint(h.Sum64(), 36)+"-"+strconv.Itoa(len(data)))
	return m, nil
}

// Decode returns the tenant and the spans of a message. A message it
// cannot read is an error that says why; the caller decides whether to
// skip it.
func (c *Codec) Decode(h nats.Header, data []byte) (string, []*model.Span, error) {
	if f := h.Get(headerFormat); f != formatV1 {
		return "", nil, fmt.Errorf("unknown message format %q (this version reads %q)", f, formatV1)
	}
	tenant := h.Get(headerTenant)
	if tenant != "" {
		if err := storage.ValidateTenant(tenant); err != nil {
			return "", nil, err
		}
	}
	raw, err := c.dec.DecodeAll(data, nil)
	if err != nil {
		return "", nil, fmt.Errorf("cannot decompress message: %w", err)
	}
	var td tracepb.TracesData
	if err := proto.Unmarshal(raw, &td); err != nil {
		return "", nil, fmt.Errorf("cannot decode message: %w", err)
	}
	spans, rejected := model.SpansFromOTLP(td.GetResourceSpans())
	if len(rejected) > 0 {
		return "", nil, fmt.Errorf("message holds %d invalid spans: %w", len(rejected), errors.Join(rejected...))
	}
	return tenant, spans, nil
}
