package query

import (
	"encoding/json"
	"fmt"
	"strings"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/query/traceql"
	"github.com/scrytrace/scry/storage"
)

// This file holds what the Tempo search shows of spans (the attributes a
// query names, as Tempo returns them with each span of a spanset) and the
// logfmt tags search.

// shownAttributes lists the fields q names that a search result shows on
// each span, in the order of the query, once each by name, and
// service.name, which Grafana shows as the span's service. Like Tempo it
// leaves out the name, durations and IDs, which the span carries anyway,
// and the trace-level intrinsics.
func shownAttributes(q *traceql.Query) []traceql.Attribute {
	var out []traceql.Attribute
	seen := map[string]bool{}
	add := func(a traceql.Attribute) {
		switch a.Intrinsic {
		case traceql.IntrinsicNone, traceql.IntrinsicStatus, traceql.IntrinsicStatusMessage, traceql.IntrinsicKind:
		default:
			return
		}
		if !seen[a.Name] {
			seen[a.Name] = true
			out = append(out, a)
		}
	}
	var expr func(traceql.Expr)
	expr = func(e traceql.Expr) {
		switch e := e.(type) {
		case traceql.Attribute:
			add(e)
		case *traceql.BinaryOperation:
			expr(e.Left)
			expr(e.Right)
		case *traceql.UnaryOperation:
			expr(e.Expr)
		case *traceql.Aggregate:
			if e.Field != nil {
				expr(e.Field)
			}
		}
	}
	var stage func(traceql.Stage)
	stage = func(st traceql.Stage) {
		switch st := st.(type) {
		case *traceql.SpansetFilter:
			if st.Expr != nil {
				expr(st.Expr)
			}
		case *traceql.SpansetOperation:
			stage(st.Left)
			stage(st.Right)
		case *traceql.Pipeline:
			for _, s := range st.Stages {
				stage(s)
			}
		case *traceql.ScalarFilter:
			expr(st.Expr)
		case *traceql.GroupBy:
			for _, f := range st.Fields {
				expr(f)
			}
		case *traceql.Select:
			for _, f := range st.Fields {
				expr(f)
			}
		}
	}
	for _, pl := range q.Pipelines() {
		stage(pl)
	}
	add(traceql.Attribute{Scope: traceql.ScopeResource, Name: model.ServiceNameKey})
	return out
}

// shownValue is the value of a on sp: an attribute by its scope (unscoped:
// the span's, else the resource's; events and links: the first that has
// it), or the status, status message or kind.
func shownValue(a traceql.Attribute, sp *model.Span) (model.Value, bool) {
	switch a.Intrinsic {
	case traceql.IntrinsicStatus:
		return model.StringValue(statusKeyword(sp.Status.Code)), true
	case traceql.IntrinsicStatusMessage:
		return model.StringValue(sp.Status.Message), sp.Status.Message != ""
	case traceql.IntrinsicKind:
		return model.StringValue(kindKeyword(sp.Kind)), true
	}
	find := func(kvs []model.KeyValue) (model.Value, bool) {
		for i := range kvs {
			if kvs[i].Key == a.Name {
				return kvs[i].Value, true
			}
		}
		return model.Value{}, false
	}
	switch a.Scope {
	case traceql.ScopeSpan:
		return find(sp.Attributes)
	case traceql.ScopeResource:
		return find(sp.Resource.Attributes)
	case traceql.ScopeNone:
		if v, ok := find(sp.Attributes); ok {
			return v, true
		}
		return find(sp.Resource.Attributes)
	case traceql.ScopeInstrumentation:
		return find(sp.Scope.Attributes)
	case traceql.ScopeEvent:
		for _, ev := range sp.Events {
			if v, ok := find(ev.Attributes); ok {
				return v, true
			}
		}
	case traceql.ScopeLink:
		for _, l := range sp.Links {
			if v, ok := find(l.Attributes); ok {
				return v, true
			}
		}
	}
	return model.Value{}, false
}

// statusKeyword is a status as TraceQL writes it: error, ok, unset.
func statusKeyword(c model.StatusCode) string { return strings.ToLower(c.String()) }

// kindKeyword is a span kind as TraceQL writes it.
func kindKeyword(k model.SpanKind) string {
	if k == model.SpanKindUnspecified {
		return "unspecified"
	}
	return k.String()
}

// staticValue converts a TraceQL value (a by() group's) to an attribute
// value; statuses, kinds and durations as their TraceQL text.
func staticValue(s traceql.Static) model.Value {
	switch s.Type {
	case traceql.TypeString:
		return model.StringValue(s.Str)
	case traceql.TypeInt:
		return model.IntValue(s.Int)
	case traceql.TypeFloat:
		return model.DoubleValue(s.Float)
	case traceql.TypeBool:
		return model.BoolValue(s.Bool)
	case traceql.TypeNil:
		return model.Value{}
	}
	return model.StringValue(s.String())
}

// keyValueJSON is an OTLP KeyValue in proto3 JSON ({"key": ..., "value":
// {"intValue": "500"}}), as Tempo writes span attributes.
func keyValueJSON(key string, v model.Value) json.RawMessage {
	b, err := protojson.Marshal(&commonpb.KeyValue{Key: key, Value: model.ValueToOTLP(v)})
	if err != nil { // cannot happen for the values model produces
		b, _ = json.Marshal(map[string]string{"key": key})
	}
	return b
}

// tempoTag is one key=value of a tags search.
type tempoTag struct{ key, value string }

// parseTempoTags reads logfmt: key=value pairs separated by spaces, a value
// in double quotes when it has spaces (with \" and \\ escapes).
func parseTempoTags(s string) ([]tempoTag, error) {
	var out []tempoTag
	seen := map[string]bool{}
	i := 0
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n') {
			i++
		}
		if i == len(s) {
			return out, nil
		}
		start := i
		for i < len(s) && s[i] != '=' && s[i] != ' ' && s[i] != '"' {
			i++
		}
		key := s[start:i]
		if key == "" {
			return nil, badTempo("invalid tags: expected a key at pos %d", i+1)
		}
		if i == len(s) || s[i] != '=' {
			return nil, badTempo("invalid tags: tag %s has no =value (pos %d)", key, i+1)
		}
		i++
		var val string
		if i < len(s) && s[i] == '"' {
			var b strings.Builder
			i++
			closed := false
			for i < len(s) {
				c := s[i]
				if c == '\\' && i+1 < len(s) {
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				i++
				if c == '"' {
					closed = true
					break
				}
				b.WriteByte(c)
			}
			if !closed {
				return nil, badTempo("invalid tags: unterminated quoted value of %s", key)
			}
			val = b.String()
		} else {
			start := i
			for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' {
				if s[i] == '"' || s[i] == '=' {
					return nil, badTempo("invalid tags: unexpected %q in the value of %s at pos %d", s[i], key, i+1)
				}
				i++
			}
			val = s[start:i]
		}
		if seen[key] {
			return nil, badTempo("invalid tags: tag %s has been set twice", key)
		}
		seen[key] = true
		out = append(out, tempoTag{key: key, value: val})
	}
}

// Tag keys with a meaning of their own, as in Tempo's tag search.
const (
	tagSpanName    = "name"
	tagStatusCode  = "status.code"
	tagError       = "error"
	tagRootName    = "root.name"
	tagRootService = "root.service.name"
)

// matchTags reports whether every tag holds on a span of the trace that
// started in w (different tags may hold on different spans): name is the
// span name, status.code its status (error, ok, unset), error=true a span
// with status error, root.name and root.service.name the trace's root
// span (which must have started in w); any other key is a span or
// resource attribute whose value's text equals the tag's value.
func matchTags(tags []tempoTag, spans []*model.Span, w tempoWindow) bool {
	root := summarizeTempo(spans).root
	for _, t := range tags {
		found := false
		for _, sp := range spans {
			if w.contains(sp.StartTime) && tagHolds(t, sp, root) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func tagHolds(t tempoTag, sp, root *model.Span) bool {
	switch t.key {
	case tagSpanName:
		return sp.Name == t.value
	case tagStatusCode:
		return statusKeyword(sp.Status.Code) == strings.ToLower(t.value)
	case tagError:
		return t.value == "true" && sp.Status.Code == model.StatusError
	case tagRootName:
		return sp == root && sp.Name == t.value
	case tagRootService:
		return sp == root && sp.ServiceName() == t.value
	}
	for _, kvs := range [][]model.KeyValue{sp.Attributes, sp.Resource.Attributes} {
		for i := range kvs {
			if kvs[i].Key == t.key && kvs[i].Value.String() == t.value {
				return true
			}
		}
	}
	return false
}

// tagConds pushes the tags the store can test: the span name as the
// operation (the one span-level condition, so it needs a span of its
// own, as the tag does) and attributes as attribute conditions, which
// the store checks on span and resource attributes (and events: more
// candidates, never fewer).
func tagConds(tags []tempoTag) spanConds {
	c := anySpan()
	for _, t := range tags {
		switch t.key {
		case tagSpanName:
			c.operation = t.value
		case tagStatusCode, tagError, tagRootName, tagRootService:
		default:
			c.attrs = append(c.attrs, storage.Attribute{Key: t.key, Value: t.value})
		}
	}
	return c
}

// String is for error messages and tests.
func (t tempoTag) String() string { return fmt.Sprintf("%s=%q", t.key, t.value) }
