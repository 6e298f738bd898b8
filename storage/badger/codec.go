package badger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/scrytrace/scry/model"
)

// This file encodes a group of spans of one trace (one value under a data
// key) in Scry's compact binary form; FORMAT.md describes it.

const groupCodecVersion = 1

// span flag bits in the encoded form.
const (
	flagParent = 1 << iota
	flagTraceState
	flagEvents
	flagLinks
	flagDropped
	flagStatusMessage
	flagWarnings
	flagFlags
)

// encoder builds one encoded group. It is reused through a pool; reset
// before each group.
type encoder struct {
	strs    map[string]uint32
	strList []string
	res     map[*model.Resource]uint32
	resList []*model.Resource
	scp     map[*model.Scope]uint32
	scpList []*model.Scope
	body    []byte // spans, written before the tables are known
	out     []byte

	// dict, when set, gives the store-wide dictionary ID of a resource or
	// scope; those are written as references instead of inline.
	dict *groupDict
}

// groupDict maps the resources and scopes of one write to dictionary IDs.
type groupDict struct {
	res map[*model.Resource]uint32
	scp map[*model.Scope]uint32
}

func newEncoder() *encoder {
	return &encoder{
		strs: make(map[string]uint32, 64),
		res:  make(map[*model.Resource]uint32, 4),
		scp:  make(map[*model.Scope]uint32, 4),
	}
}

func (e *encoder) reset() {
	clear(e.strs)
	clear(e.res)
	clear(e.scp)
	e.strList = e.strList[:0]
	e.resList = e.resList[:0]
	e.scpList = e.scpList[:0]
	e.body = e.body[:0]
	e.out = e.out[:0]
}

func (e *encoder) str(s string) uint32 {
	if i, ok := e.strs[s]; ok {
		return i
	}
	i := uint32(len(e.strList))
	e.strs[s] = i
	e.strList = append(e.strList, s)
	return i
}

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func (e *encoder) appendStr(b []byte, s string) []byte {
	return appendUvarint(b, uint64(e.str(s)))
}

func (e *encoder) appendValue(b []byte, v *model.Value) []byte {
	b = append(b, byte(v.Type))
	switch v.Type {
	case model.ValueString:
		b = e.appendStr(b, v.Str)
	case model.ValueBool:
		if v.Bool {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	case model.ValueInt:
		b = binary.AppendVarint(b, v.Int)
	case model.ValueDouble:
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v.Double))
	case model.ValueBytes:
		b = appendUvarint(b, uint64(len(v.Bytes)))
		b = append(b, v.Bytes...)
	case model.ValueArray:
		b = appendUvarint(b, uint64(len(v.Array)))
		for i := range v.Array {
			b = e.appendValue(b, &v.Array[i])
		}
	case model.ValueMap:
		b = e.appendAttrs(b, v.Map)
	}
	return b
}

func (e *encoder) appendAttrs(b []byte, kvs []model.KeyValue) []byte {
	b = appendUvarint(b, uint64(len(kvs)))
	for i := range kvs {
		b = e.appendStr(b, kvs[i].Key)
		b = e.appendValue(b, &kvs[i].Value)
	}
	return b
}

// encodeGroup encodes spans (all of one trace) into e.out and returns it.
// The slice is valid until the next reset.
func (e *encoder) encodeGroup(spans []*model.Span) []byte {
	e.reset()
	base := spans[0].StartTime
	for _, s := range spans {
		base = min(base, s.StartTime)
	}
	b := e.body
	b = appendUvarint(b, uint64(len(spans)))
	for _, s := range spans {
		ri, ok := e.res[s.Resource]
		if !ok {
			ri = uint32(len(e.resList))
			e.res[s.Resource] = ri
			e.resList = append(e.resList, s.Resource)
		}
		si, ok := e.scp[s.Scope]
		if !ok {
			si = uint32(len(e.scpList))
			e.scp[s.Scope] = si
			e.scpList = append(e.scpList, s.Scope)
		}
		var flags byte
		if !s.ParentSpanID.IsZero() {
			flags |= flagParent
		}
		if s.TraceState != "" {
			flags |= flagTraceState
		}
		if len(s.Events) > 0 {
			flags |= flagEvents
		}
		if len(s.Links) > 0 {
			flags |= flagLinks
		}
		if s.DroppedAttributesCount|s.DroppedEventsCount|s.DroppedLinksCount != 0 {
			flags |= flagDropped
		}
		if s.Status.Message != "" {
			flags |= flagStatusMessage
		}
		if len(s.Warnings) > 0 {
			flags |= flagWarnings
		}
		if s.Flags != 0 {
			flags |= flagFlags
		}
		b = append(b, flags)
		b = appendUvarint(b, uint64(ri))
		b = appendUvarint(b, uint64(si))
		b = append(b, s.SpanID[:]...)
		if flags&flagParent != 0 {
			b = append(b, s.ParentSpanID[:]...)
		}
		if flags&flagTraceState != 0 {
			b = e.appendStr(b, s.TraceState)
		}
		if flags&flagFlags != 0 {
			b = appendUvarint(b, uint64(s.Flags))
		}
		b = e.appendStr(b, s.Name)
		b = binary.AppendVarint(b, int64(s.Kind))
		b = appendUvarint(b, s.StartTime-base)
		b = appendUvarint(b, s.EndTime-s.StartTime)
		b = e.appendAttrs(b, s.Attributes)
		if flags&flagEvents != 0 {
			b = appendUvarint(b, uint64(len(s.Events)))
			for i := range s.Events {
				ev := &s.Events[i]
				b = binary.AppendVarint(b, int64(ev.Time-s.StartTime))
				b = e.appendStr(b, ev.Name)
				b = e.appendAttrs(b, ev.Attributes)
				b = appendUvarint(b, uint64(ev.DroppedAttributesCount))
			}
		}
		if flags&flagLinks != 0 {
			b = appendUvarint(b, uint64(len(s.Links)))
			for i := range s.Links {
				l := &s.Links[i]
				b = append(b, l.TraceID[:]...)
				b = append(b, l.SpanID[:]...)
				b = e.appendStr(b, l.TraceState)
				b = e.appendAttrs(b, l.Attributes)
				b = appendUvarint(b, uint64(l.DroppedAttributesCount))
				b = appendUvarint(b, uint64(l.Flags))
			}
		}
		if flags&flagDropped != 0 {
			b = appendUvarint(b, uint64(s.DroppedAttributesCount))
			b = appendUvarint(b, uint64(s.DroppedEventsCount))
			b = appendUvarint(b, uint64(s.DroppedLinksCount))
		}
		b = binary.AppendVarint(b, int64(s.Status.Code))
		if flags&flagStatusMessage != 0 {
			b = e.appendStr(b, s.Status.Message)
		}
		if flags&flagWarnings != 0 {
			b = appendUvarint(b, uint64(len(s.Warnings)))
			for _, w := range s.Warnings {
				b = e.appendStr(b, w)
			}
		}
	}
	e.body = b

	// Resources and scopes, encoded into a scratch tail of body so that
	// their strings enter the table before it is written out.
	tail := len(b)
	b = appendUvarint(b, uint64(len(e.resList)))
	for _, r := range e.resList {
		if id, ok := e.dict.resource(r); ok {
			b = append(b, entryRef)
			b = appendUvarint(b, uint64(id))
			continue
		}
		b = append(b, entryInline)
		b = e.appendResource(b, r)
	}
	b = appendUvarint(b, uint64(len(e.scpList)))
	for _, sc := range e.scpList {
		if id, ok := e.dict.scope(sc); ok {
			b = append(b, entryRef)
			b = appendUvarint(b, uint64(id))
			continue
		}
		b = append(b, entryInline)
		b = e.appendScope(b, sc)
	}
	e.body = b

	out := e.out
	out = append(out, groupCodecVersion)
	out = binary.LittleEndian.AppendUint64(out, base)
	out = e.appendStrTable(out)
	out = append(out, b[tail:]...) // resources and scopes
	out = append(out, b[:tail]...) // spans
	e.out = out
	return out
}

// Resource and scope table entries are inline or dictionary references.
const (
	entryInline = 0
	entryRef    = 1
)

func (d *groupDict) resource(r *model.Resource) (uint32, bool) {
	if d == nil {
		return 0, false
	}
	id, ok := d.res[r]
	return id, ok
}

func (d *groupDict) scope(sc *model.Scope) (uint32, bool) {
	if d == nil {
		return 0, false
	}
	id, ok := d.scp[sc]
	return id, ok
}

func (e *encoder) appendResource(b []byte, r *model.Resource) []byte {
	b = e.appendAttrs(b, r.Attributes)
	b = appendUvarint(b, uint64(r.DroppedAttributesCount))
	return e.appendStr(b, r.SchemaURL)
}

func (e *encoder) appendScope(b []byte, sc *model.Scope) []byte {
	b = e.appendStr(b, sc.Name)
	b = e.appendStr(b, sc.Version)
	b = e.appendAttrs(b, sc.Attributes)
	b = appendUvarint(b, uint64(sc.DroppedAttributesCount))
	return e.appendStr(b, sc.SchemaURL)
}

// encodeBlob encodes one resource or scope on its own, with its own string
// table: a dictionary value.
func (e *encoder) encodeBlob(r *model.Resource, sc *model.Scope) []byte {
	e.reset()
	if r != nil {
		e.body = e.appendResource(e.body, r)
	} else {
		e.body = e.appendScope(e.body, sc)
	}
	out := append(e.out, groupCodecVersion)
	out = e.appendStrTable(out)
	out = append(out, e.body...)
	e.out = out
	return out
}

func (e *encoder) appendStrTable(out []byte) []byte {
	out = appendUvarint(out, uint64(len(e.strList)))
	for _, s := range e.strList {
		out = appendUvarint(out, uint64(len(s)))
		out = append(out, s...)
	}
	return out
}

// blobDecoder starts decoding a dictionary value.
func blobDecoder(b []byte) *decoder {
	d := &decoder{b: b}
	if v := d.byte1("version"); v != groupCodecVersion {
		d.fail("dictionary entry version")
		return d
	}
	d.strTable()
	return d
}

func (d *decoder) strTable() {
	d.strs = make([]string, d.count("string table"))
	for i := range d.strs {
		n := d.count("string")
		d.strs[i] = string(d.bytes(n, "string"))
	}
}

func (d *decoder) resource() *model.Resource {
	r := &model.Resource{}
	r.Attributes = d.attrs()
	r.DroppedAttributesCount = d.u32("resource dropped count")
	r.SchemaURL = d.str("resource schema")
	return r
}

func (d *decoder) scope() *model.Scope {
	sc := &model.Scope{}
	sc.Name = d.str("scope name")
	sc.Version = d.str("scope version")
	sc.Attributes = d.attrs()
	sc.DroppedAttributesCount = d.u32("scope dropped count")
	sc.SchemaURL = d.str("scope schema")
	return sc
}

// dictReader returns a copy of a dictionary's resource (scope false) or
// scope, for the caller to keep, and false if the ID is unknown or its
// stored value is damaged.
type dictReader func(scope bool, id uint32) (*model.Resource, *model.Scope, bool)

func (d *decoder) dictEntry(dict dictReader, scope bool) (*model.Resource, *model.Scope) {
	switch d.byte1("table entry") {
	case entryInline:
		if scope {
			return nil, d.scope()
		}
		return d.resource(), nil
	case entryRef:
		id := d.u32("dictionary reference")
		if dict != nil {
			if r, sc, ok := dict(scope, id); ok {
				return r, sc
			}
		}
		d.fail("dictionary reference")
		return nil, nil
	}
	d.fail("table entry kind")
	return nil, nil
}

// decodeDictEntry decodes a stored dictionary value: a resource (scope
// false) or a scope, and false if it is damaged.
func decodeDictEntry(blob []byte, scope bool) (*model.Resource, *model.Scope, bool) {
	bd := blobDecoder(blob)
	var r *model.Resource
	var sc *model.Scope
	if scope {
		sc = bd.scope()
	} else {
		r = bd.resource()
	}
	return r, sc, bd.err == nil && len(bd.b) == 0
}

// errCorrupt is wrapped by every decoding error.
var errCorrupt = errors.New("corrupt span group")

// decoder reads an encoded group. Every count is checked against the bytes
// left, so a damaged value cannot make it allocate more than its size allows.
type decoder struct {
	b    []byte
	err  error
	strs []string
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", errCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) uvarint(what string) uint64 {
	v, n := fastUvarint(d.b, 0)
	if n < 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length whose elements each take at least one byte.
// skipUvarints moves past n uvarints, false if the bytes end first.
func (d *decoder) skipUvarints(n int) bool {
	b := d.b
	i := 0
	for ; n > 0; n-- {
		for i < len(b) && b[i] >= 0x80 {
			i++
		}
		if i == len(b) {
			return false
		}
		i++
	}
	d.b = b[i:]
	return true
}

func (d *decoder) count(what string) int {
	v := d.uvarint(what)
	if v > uint64(len(d.b)) {
		d.fail(what + " count")
		return 0
	}
	return int(v)
}

func (d *decoder) bytes(n int, what string) []byte {
	if n > len(d.b) {
		d.fail(what)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte1(what string) byte {
	if len(d.b) == 0 {
		d.fail(what)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) str(what string) string {
	i := d.uvarint(what)
	if i >= uint64(len(d.strs)) {
		d.fail(what + " string reference")
		return ""
	}
	return d.strs[i]
}

func (d *decoder) u32(what string) uint32 {
	v := d.uvarint(what)
	if v > math.MaxUint32 {
		d.fail(what)
	}
	return uint32(v)
}

func (d *decoder) value(depth int) model.Value {
	if depth > 64 {
		d.fail("value nesting")
		return model.Value{}
	}
	var v model.Value
	v.Type = model.ValueType(d.byte1("value type"))
	switch v.Type {
	case model.ValueEmpty:
	case model.ValueString:
		v.Str = d.str("string value")
	case model.ValueBool:
		v.Bool = d.byte1("bool value") != 0
	case model.ValueInt:
		v.Int = d.varint("int value")
	case model.ValueDouble:
		if b := d.bytes(8, "double value"); b != nil {
			v.Double = math.Float64frombits(binary.LittleEndian.Uint64(b))
		}
	case model.ValueBytes:
		n := d.count("bytes value")
		v.Bytes = append([]byte(nil), d.bytes(n, "bytes value")...)
	case model.ValueArray:
		n := d.count("array")
		v.Array = make([]model.Value, n)
		for i := range v.Array {
			v.Array[i] = d.value(depth + 1)
		}
	case model.ValueMap:
		v.Map = d.attrsDepth(depth + 1)
	default:
		d.fail("value type")
	}
	return v
}

func (d *decoder) attrs() []model.KeyValue { return d.attrsDepth(0) }

func (d *decoder) attrsDepth(depth int) []model.KeyValue {
	n := d.count("attributes")
	if n == 0 {
		return nil
	}
	kvs := make([]model.KeyValue, n)
	for i := range kvs {
		kvs[i].Key = d.str("attribute key")
		kvs[i].Value = d.value(depth)
	}
	return kvs
}

// decodeGroup decodes an encoded group of spans of trace id. dict resolves
// dictionary references (nil: there are none).
func decodeGroup(id model.TraceID, b []byte, dict dictReader) ([]*model.Span, error) {
	d := &decoder{b: b}
	if v := d.byte1("version"); v != groupCodecVersion {
		return nil, fmt.Errorf("%w: unknown group encoding version %d", errCorrupt, v)
	}
	baseB := d.bytes(8, "base time")
	if d.err != nil {
		return nil, d.err
	}
	base := binary.LittleEndian.Uint64(baseB)
	d.strTable()
	resources := make([]*model.Resource, d.count("resources"))
	for i := range resources {
		resources[i], _ = d.dictEntry(dict, false)
	}
	scopes := make([]*model.Scope, d.count("scopes"))
	for i := range scopes {
		_, scopes[i] = d.dictEntry(dict, true)
	}
	if d.err != nil {
		return nil, d.err
	}
	n := d.count("spans")
	spans := make([]*model.Span, n)
	store := make([]model.Span, n)
	for i := range spans {
		if d.err != nil {
			return nil, d.err
		}
		s := &store[i]
		spans[i] = s
		s.TraceID = id
		flags := d.byte1("span flags")
		ri, si := d.uvarint("resource index"), d.uvarint("scope index")
		if ri >= uint64(len(resources)) || si >= uint64(len(scopes)) {
			d.fail("resource or scope index")
			return nil, d.err
		}
		s.Resource, s.Scope = resources[ri], scopes[si]
		copy(s.SpanID[:], d.bytes(8, "span id"))
		if flags&flagParent != 0 {
			copy(s.ParentSpanID[:], d.bytes(8, "parent id"))
		}
		if flags&flagTraceState != 0 {
			s.TraceState = d.str("trace state")
		}
		if flags&flagFlags != 0 {
			s.Flags = d.u32("flags")
		}
		s.Name = d.str("name")
		s.Kind = model.SpanKind(d.varint("kind"))
		s.StartTime = base + d.uvarint("start")
		s.EndTime = s.StartTime + d.uvarint("duration")
		s.Attributes = d.attrs()
		if flags&flagEvents != 0 {
			s.Events = make([]model.Event, d.count("events"))
			for j := range s.Events {
				ev := &s.Events[j]
				ev.Time = s.StartTime + uint64(d.varint("event time"))
				ev.Name = d.str("event name")
				ev.Attributes = d.attrs()
				ev.DroppedAttributesCount = d.u32("event dropped count")
			}
		}
		if flags&flagLinks != 0 {
			s.Links = make([]model.Link, d.count("links"))
			for j := range s.Links {
				l := &s.Links[j]
				copy(l.TraceID[:], d.bytes(16, "link trace id"))
				copy(l.SpanID[:], d.bytes(8, "link span id"))
				l.TraceState = d.str("link trace state")
				l.Attributes = d.attrs()
				l.DroppedAttributesCount = d.u32("link dropped count")
				l.Flags = d.u32("link flags")
			}
		}
		if flags&flagDropped != 0 {
			s.DroppedAttributesCount = d.u32("dropped attributes")
			s.DroppedEventsCount = d.u32("dropped events")
			s.DroppedLinksCount = d.u32("dropped links")
		}
		s.Status.Code = model.StatusCode(d.varint("status"))
		if flags&flagStatusMessage != 0 {
			s.Status.Message = d.str("status message")
		}
		if flags&flagWarnings != 0 {
			s.Warnings = make([]string, d.count("warnings"))
			for j := range s.Warnings {
				s.Warnings[j] = d.str("warning")
			}
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(d.b))
	}
	return spans, nil
}
