package limits

import (
	"unicode/utf8"

	"github.com/scrytrace/scry/model"
)

// Truncated counts what Truncate cut.
type Truncated struct {
	Attributes, Events, Links int // dropped (and added to the dropped counts)
	Values                    int // string or bytes values shortened
}

// Any reports whether anything was cut.
func (t Truncated) Any() bool { return t != Truncated{} }

// Truncate cuts spans down to l in place, as OpenTelemetry SDKs do with
// their span limits: past MaxAttributesPerSpan the last attributes of a
// span (and of each of its events and links) are dropped, past
// MaxEventsPerSpan and MaxLinksPerSpan the last events and links, each
// counted in the dropped count of what held them; string and bytes values
// (in arrays and maps too) longer than MaxAttributeValueLength are cut to
// it, a string on a UTF-8 boundary. Resource and scope attributes are left
// as they are (they are shared by the spans of a batch).
func Truncate(spans []*model.Span, l Limits) Truncated {
	var t Truncated
	if l.MaxAttributesPerSpan == 0 && l.MaxEventsPerSpan == 0 && l.MaxLinksPerSpan == 0 && l.MaxAttributeValueLength == 0 {
		return t
	}
	for _, sp := range spans {
		sp.Attributes = t.attrs(sp.Attributes, &sp.DroppedAttributesCount, l)
		if n := l.MaxEventsPerSpan; n > 0 && len(sp.Events) > n {
			cut := len(sp.Events) - n
			sp.Events = sp.Events[:n:n]
			sp.DroppedEventsCount += uint32(cut)
			t.Events += cut
		}
		for i := range sp.Events {
			e := &sp.Events[i]
			e.Attributes = t.attrs(e.Attributes, &e.DroppedAttributesCount, l)
		}
		if n := l.MaxLinksPerSpan; n > 0 && len(sp.Links) > n {
			cut := len(sp.Links) - n
			sp.Links = sp.Links[:n:n]
			sp.DroppedLinksCount += uint32(cut)
			t.Links += cut
		}
		for i := range sp.Links {
			k := &sp.Links[i]
			k.Attributes = t.attrs(k.Attributes, &k.DroppedAttributesCount, l)
		}
	}
	return t
}

func (t *Truncated) attrs(kvs []model.KeyValue, dropped *uint32, l Limits) []model.KeyValue {
	if n := l.MaxAttributesPerSpan; n > 0 && len(kvs) > n {
		cut := len(kvs) - n
		kvs = kvs[:n:n]
		*dropped += uint32(cut)
		t.Attributes += cut
	}
	if l.MaxAttributeValueLength > 0 {
		for i := range kvs {
			t.value(&kvs[i].Value, l.MaxAttributeValueLength)
		}
	}
	return kvs
}

func (t *Truncated) value(v *model.Value, n int) {
	switch v.Type {
	case model.ValueString:
		if len(v.Str) > n {
			cut := n
			for cut > 0 && !utf8.RuneStart(v.Str[cut]) {
				cut--
			}
			v.Str = v.Str[:cut]
			t.Values++
		}
	case model.ValueBytes:
		if len(v.Bytes) > n {
			v.Bytes = v.Bytes[:n:n]
			t.Values++
		}
	case model.ValueArray:
		for i := range v.Array {
			t.value(&v.Array[i], n)
		}
	case model.ValueMap:
		for i := range v.Map {
			t.value(&v.Map[i].Value, n)
		}
	}
}
