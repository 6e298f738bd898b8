package jaegerthrift

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/jaegertracing/jaeger-idl/thrift-gen/agent"
	"github.com/jaegertracing/jaeger-idl/thrift-gen/jaeger"
)

// EmitBatchMethod is the Agent service's method that carries a Jaeger batch.
const EmitBatchMethod = "emitBatch"

// ErrMalformed is wrapped by every decoding error: the input is not what it
// claims to be, and sending it again will not help.
var ErrMalformed = errors.New("malformed jaeger thrift")

// DecodeEmitBatch parses one UDP packet sent to a Jaeger agent: an
// Agent.emitBatch call (oneway, or call as some clients send it) in Thrift's
// compact protocol (port 6831) or, with compact false, its binary protocol
// (port 6832, strict or not). Other methods, among them emitZipkinBatch, are
// an error. Bytes after the message are ignored, as Jaeger's agent does.
//
// What it allocates is bounded by len(b): every string, binary and container
// size is checked against the bytes left before anything is allocated for
// it, and unknown fields are skipped with a nesting limit (64). The batch
// does not alias b, so a server may reuse its read buffer at once. It is
// safe for concurrent use.
func DecodeEmitBatch(b []byte, compact bool) (*jaeger.Batch, error) {
	prot := protocol(b, compact)
	ctx := context.Background()
	name, typ, _, err := prot.ReadMessageBegin(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot read message header: %w", ErrMalformed, err)
	}
	if name != EmitBatchMethod {
		if len(name) > 64 {
			name = name[:64] + "..."
		}
		return nil, fmt.Errorf("%w: unsupported agent method %q, want %q", ErrMalformed, name, EmitBatchMethod)
	}
	if typ != thrift.ONEWAY && typ != thrift.CALL {
		return nil, fmt.Errorf("%w: message type %d, want oneway or call", ErrMalformed, typ)
	}
	var args agent.AgentEmitBatchArgs
	if err := args.Read(ctx, prot); err != nil {
		return nil, fmt.Errorf("%w: cannot read emitBatch arguments: %w", ErrMalformed, err)
	}
	if err := prot.ReadMessageEnd(ctx); err != nil {
		return nil, fmt.Errorf("%w: cannot read message end: %w", ErrMalformed, err)
	}
	if args.Batch == nil {
		return nil, fmt.Errorf("%w: emitBatch call has no batch", ErrMalformed)
	}
	return args.Batch, nil
}

// DecodeBatch parses a Batch in Thrift's binary protocol: the body that
// Jaeger clients POST to a collector's /api/traces
// (Content-Type application/x-thrift). Its allocations are bounded by len(b)
// as DecodeEmitBatch's are.
func DecodeBatch(b []byte) (*jaeger.Batch, error) {
	prot := protocol(b, false)
	batch := &jaeger.Batch{}
	if err := batch.Read(context.Background(), prot); err != nil {
		return nil, fmt.Errorf("%w: cannot read batch: %w", ErrMalformed, err)
	}
	return batch, nil
}

// protocol reads b without copying it, with every size limit set to len(b).
func protocol(b []byte, compact bool) thrift.TProtocol {
	limit := int32(math.MaxInt32)
	if len(b) < math.MaxInt32 {
		limit = max(int32(len(b)), 1) // 0 means "default" to Thrift
	}
	cfg := &thrift.TConfiguration{
		MaxMessageSize:   limit,
		MaxFrameSize:     limit,
		MaxContainerSize: limit,
	}
	trans := &thrift.TMemoryBuffer{Buffer: bytes.NewBuffer(b)}
	if compact {
		return thrift.NewTCompactProtocolConf(trans, cfg)
	}
	return thrift.NewTBinaryProtocolConf(trans, cfg)
}
