package agent

import (
	"unsafe"

	"github.com/scrytrace/scry/model"
)

// Sizes of the model's structs, for spansSize.
const (
	spanSize  = int64(unsafe.Sizeof(model.Span{})) + 8 // and its pointer
	kvSize    = int64(unsafe.Sizeof(model.KeyValue{}))
	valueSize = int64(unsafe.Sizeof(model.Value{}))
	eventSize = int64(unsafe.Sizeof(model.Event{}))
	linkSize  = int64(unsafe.Sizeof(model.Link{}))
	resSize   = int64(unsafe.Sizeof(model.Resource{}))
	scopeSize = int64(unsafe.Sizeof(model.Scope{}))
)

// spansSize estimates the memory that spans take: their structs, strings,
// attributes, events and links, and each resource and scope once per run
// of spans sharing it (as the decoders share them). It is what the buffer
// bounds.
func spansSize(spans []*model.Span) int64 {
	var n int64
	var res *model.Resource
	var scope *model.Scope
	for _, s := range spans {
		n += spanSize + int64(len(s.Name)+len(s.TraceState)+len(s.Status.Message)) + kvsSize(s.Attributes)
		for i := range s.Events {
			e := &s.Events[i]
			n += eventSize + int64(len(e.Name)) + kvsSize(e.Attributes)
		}
		for i := range s.Links {
			l := &s.Links[i]
			n += linkSize + int64(len(l.TraceState)) + kvsSize(l.Attributes)
		}
		for _, w := range s.Warnings {
			n += 16 + int64(len(w))
		}
		if s.Resource != nil && s.Resource != res {
			res = s.Resource
			n += resSize + int64(len(res.SchemaURL)) + kvsSize(res.Attributes)
		}
		if s.Scope != nil && s.Scope != scope {
			scope = s.Scope
			n += scopeSize + int64(len(scope.Name)+len(scope.Version)+len(scope.SchemaURL)) + kvsSize(scope.Attributes)
		}
	}
	return n
}

func kvsSize(kvs []model.KeyValue) int64 {
	n := int64(len(kvs)) * kvSize
	for i := range kvs {
		n += int64(len(kvs[i].Key)) + valueExtra(&kvs[i].Value)
	}
	return n
}

// valueExtra is what a value refers to beyond its own struct.
func valueExtra(v *model.Value) int64 {
	n := int64(len(v.Str) + len(v.Bytes))
	if len(v.Array) > 0 {
		n += int64(len(v.Array)) * valueSize
		for i := range v.Array {
			n += valueExtra(&v.Array[i])
		}
	}
	if len(v.Map) > 0 {
		n += kvsSize(v.Map)
	}
	return n
}
