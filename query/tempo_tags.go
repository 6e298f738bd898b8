package query

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/query/traceql"
	"github.com/scrytrace/scry/storage"
)

// This file serves Tempo's tag names and values: /api/search/tags,
// /api/v2/search/tags, /api/search/tag/{tag}/values and
// /api/v2/search/tag/{tag}/values.
//
// Where they come from: service names from storage.Reader.Services and
// span names from Operations (complete); status and kind are TraceQL's
// keywords; every other name and value from a sample of the traces in the
// window (start, end; default the last DefaultLookback): the newest
// Config.TagSampleTraces of them, as FindTraceIDs orders them. The store
// keeps no index of attribute names, so names and values seen only in
// older or rarer traces are not offered. With a TraceQL q (v2), the sample
// is of the traces q matches, and names and values come from the spans it
// answers; a q that does not parse (Grafana sends the query being typed)
// is left out rather than refused.

// Tag scopes of /api/v2/search/tags, in the order of the answer.
var tempoScopes = []string{"resource", "span", "event", "link", "instrumentation"}

const scopeIntrinsic = "intrinsic"

// tempoIntrinsics are the intrinsics offered as tag names, as Tempo lists
// them (pkg/search/util.go GetVirtualIntrinsicValues).
var tempoIntrinsics = []string{
	"duration", "name", "status", "statusMessage", "kind",
	"trace:rootService", "trace:rootName", "trace:duration",
	"event:name", "event:timeSinceStart", "link:spanID", "link:traceID",
	"instrumentation:name", "instrumentation:version",
	"trace:id", "span:id", "span:parentID", "span:status", "span:statusMessage",
	"span:duration", "span:name", "span:kind",
}

type tempoTagValue struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

type tempoTagScope struct {
	Name string   `json:"name"`
	Tags []string `json:"tags"`
}

// tagSample is the sample names and values are read from.
type tagSample struct {
	traces []sampledTrace
}

type sampledTrace struct {
	all     []*model.Span // every span of the trace
	matched []*model.Span // the spans q answers; all of them without q
}

// sampleTags fetches the sample of w, of the traces q matches when q is
// not nil.
func (h *handler) sampleTags(ctx context.Context, w tempoWindow, q *traceql.Query) (*tagSample, error) {
	conds := anySpan()
	if q != nil {
		conds = queryConds(q)
	}
	s := &tagSample{}
	if conds.impossible {
		return s, nil
	}
	n := h.cfg.TagSampleTraces
	if n <= 0 {
		n = DefaultTagSampleTraces
	}
	refs, err := h.reader.FindTraceIDs(ctx, conds.storageQuery(w, n))
	if err != nil {
		return nil, fmt.Errorf("cannot sample traces for tags: %w", err)
	}
	for len(refs) > 0 {
		batch := refs[:min(len(refs), tempoBatch)]
		refs = refs[len(batch):]
		ids := make([]model.TraceID, len(batch))
		for i, ref := range batch {
			ids[i] = ref.TraceID
		}
		traces, err := h.fetchTraces(ctx, ids, storage.TimeHint{Start: w.start, End: w.end})
		if err != nil {
			return nil, err
		}
		for _, tr := range traces {
			if len(tr) == 0 {
				continue
			}
			st := sampledTrace{all: tr, matched: tr}
			if q != nil {
				sets, ok := q.Match(tr)
				if !ok || !anyInWindow(sets, w) {
					continue
				}
				st.matched = nil
				seen := map[*model.Span]bool{}
				for _, set := range sets {
					for _, sp := range set.Spans {
						if !seen[sp] {
							seen[sp] = true
							st.matched = append(st.matched, sp)
						}
					}
				}
			}
			s.traces = append(s.traces, st)
		}
	}
	return s, nil
}

// names returns the attribute names of one scope in the sample.
func (s *tagSample) names(scope string) []string {
	set := map[string]bool{}
	add := func(kvs []model.KeyValue) {
		for i := range kvs {
			set[kvs[i].Key] = true
		}
	}
	for _, tr := range s.traces {
		for _, sp := range tr.matched {
			switch scope {
			case "span":
				add(sp.Attributes)
			case "resource":
				add(sp.Resource.Attributes)
			case "instrumentation":
				add(sp.Scope.Attributes)
			case "event":
				for _, ev := range sp.Events {
					add(ev.Attributes)
				}
			case "link":
				for _, l := range sp.Links {
					add(l.Attributes)
				}
			}
		}
	}
	return sortedKeys(set)
}

func sortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// parseTagQuery reads the optional TraceQL q of a tags request; nil when
// absent, empty, a metrics query, or not TraceQL.
func parseTagQuery(v url.Values) *traceql.Query {
	s := strings.TrimSpace(v.Get(tempoParamQuery))
	if s == "" || s == "{}" {
		return nil
	}
	q, err := traceql.Parse(s)
	if err != nil || q.IsMetrics() {
		return nil
	}
	return q
}

// tempoTags serves GET /api/search/tags: {"tagNames": [...]}, span and
// resource attribute names together (scope= span, resource or intrinsic
// for one kind only).
func (h *handler) tempoTags(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	scope := v.Get(tempoParamScope)
	var scopes []string
	switch scope {
	case "", "none":
		scopes = []string{"span", "resource"}
	case "span", "resource":
		scopes = []string{scope}
	case scopeIntrinsic:
		h.writeJSON(w, r, http.StatusOK, map[string][]string{"tagNames": slices.Clone(tempoIntrinsics)})
		return
	default:
		h.tempoFail(w, r, badTempo("invalid scope: %s (want span, resource, intrinsic or none)", scope))
		return
	}
	win, err := h.parseTempoWindow(v)
	if err != nil {
		h.tempoFail(w, r, err)
		return
	}
	sample, err := h.sampleTags(r.Context(), win, nil)
	if err != nil {
		h.tempoFail(w, r, err)
		return
	}
	set := map[string]bool{}
	for _, sc := range scopes {
		for _, n := range sample.names(sc) {
			set[n] = true
		}
	}
	if slices.Contains(scopes, "resource") {
		if svcs, err := h.reader.Services(r.Context()); err == nil && len(svcs) > 0 {
			set[model.ServiceNameKey] = true
		} else if err != nil {
			h.tempoFail(w, r, fmt.Errorf("cannot list services: %w", err))
			return
		}
	}
	h.writeJSON(w, r, http.StatusOK, map[string][]string{"tagNames": sortedKeys(set)})
}

// tempoTagsV2 serves GET /api/v2/search/tags: {"scopes": [{"name":
// "resource", "tags": [...]}, ...]}, with scope= one of span, resource,
// event, link, instrumentation, intrinsic, or none (all, as absent), and
// an optional TraceQL q whose answered spans the names come from.
func (h *handler) tempoTagsV2(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	scope := v.Get(tempoParamScope)
	var scopes []string
	intrinsic := false
	switch {
	case scope == "" || scope == "none":
		scopes, intrinsic = tempoScopes, true
	case scope == scopeIntrinsic:
		intrinsic = true
	case slices.Contains(tempoScopes, scope):
		scopes = []string{scope}
	default:
		h.tempoFail(w, r, badTempo("invalid scope: %s (want span, resource, event, link, instrumentation, intrinsic or none)", scope))
		return
	}
	win, err := h.parseTempoWindow(v)
	if err != nil {
		h.tempoFail(w, r, err)
		return
	}
	out := struct {
		Scopes []tempoTagScope `json:"scopes"`
	}{Scopes: []tempoTagScope{}}
	if len(scopes) > 0 {
		q := parseTagQuery(v)
		sample, err := h.sampleTags(r.Context(), win, q)
		if err != nil {
			h.tempoFail(w, r, err)
			return
		}
		for _, sc := range scopes {
			names := sample.names(sc)
			if sc == "resource" && q == nil && !slices.Contains(names, model.ServiceNameKey) {
				svcs, err := h.reader.Services(r.Context())
				if err != nil {
					h.tempoFail(w, r, fmt.Errorf("cannot list services: %w", err))
					return
				}
				if len(svcs) > 0 {
					names = append(names, model.ServiceNameKey)
					slices.Sort(names)
				}
			}
			// An explicit scope is answered even when empty; all scopes
			// list those that have names, and span and resource always.
			if len(names) > 0 || len(scopes) == 1 || sc == "span" || sc == "resource" {
				out.Scopes = append(out.Scopes, tempoTagScope{Name: sc, Tags: names})
			}
		}
	}
	if intrinsic {
		out.Scopes = append(out.Scopes, tempoTagScope{Name: scopeIntrinsic, Tags: slices.Clone(tempoIntrinsics)})
	}
	h.writeJSON(w, r, http.StatusOK, out)
}

// tempoTagValues serves GET /api/search/tag/{tag}/values: {"tagValues":
// [...]}, the values of an unscoped tag as text: service.name from the
// store's services, status.code and error as Tempo offers them, any other
// a span or resource attribute's values in the sample.
func (h *handler) tempoTagValues(w http.ResponseWriter, r *http.Request) {
	tag := r.PathValue(tempoTagParam)
	v := r.URL.Query()
	win, err := h.parseTempoWindow(v)
	if err != nil {
		h.tempoFail(w, r, err)
		return
	}
	var values []string
	switch tag {
	case model.ServiceNameKey:
		if values, err = h.reader.Services(r.Context()); err != nil {
			h.tempoFail(w, r, fmt.Errorf("cannot list services: %w", err))
			return
		}
	case tagStatusCode:
		values = []string{"unset", "ok", "error"}
	case tagError:
		values = []string{"true"}
	default:
		sample, err := h.sampleTags(r.Context(), win, nil)
		if err != nil {
			h.tempoFail(w, r, err)
			return
		}
		set := map[string]bool{}
		for _, tr := range sample.traces {
			for _, sp := range tr.matched {
				for _, a := range []traceql.Attribute{{Scope: traceql.ScopeSpan, Name: tag}, {Scope: traceql.ScopeResource, Name: tag}} {
					if val, ok := shownValue(a, sp); ok {
						set[val.String()] = true
					}
				}
			}
		}
		values = sortedKeys(set)
	}
	if values == nil {
		values = []string{}
	}
	h.writeJSON(w, r, http.StatusOK, map[string][]string{"tagValues": values})
}

// tempoTagValuesV2 serves GET /api/v2/search/tag/{tag}/values, the tag
// scoped as TraceQL writes it (resource.service.name, span.http.method,
// .x, name, status, span:kind, trace:rootService, ...): {"tagValues":
// [{"type": "string", "value": "x"}, ...]}, typed as Tempo types them
// (string, int, float, bool; keyword for status and kind), from the spans
// q answers when q is given.
func (h *handler) tempoTagValuesV2(w http.ResponseWriter, r *http.Request) {
	tag := r.PathValue(tempoTagParam)
	attr, err := parseTagName(tag)
	if err != nil {
		h.tempoFail(w, r, err)
		return
	}
	v := r.URL.Query()
	win, err := h.parseTempoWindow(v)
	if err != nil {
		h.tempoFail(w, r, err)
		return
	}
	q := parseTagQuery(v)
	values, err := h.tagValuesV2(r.Context(), attr, win, q)
	if err != nil {
		h.tempoFail(w, r, err)
		return
	}
	slices.SortFunc(values, func(a, b tempoTagValue) int {
		return cmp.Or(cmp.Compare(a.Value, b.Value), cmp.Compare(a.Type, b.Type))
	})
	values = slices.Compact(values)
	h.writeJSON(w, r, http.StatusOK, map[string][]tempoTagValue{"tagValues": values})
}

// parseTagName reads a scoped tag name with the TraceQL parser.
func parseTagName(tag string) (traceql.Attribute, error) {
	bad := badTempo("invalid tag %q: want a TraceQL attribute or intrinsic such as resource.service.name, span.http.method or name", tag)
	if tag == "" || strings.ContainsAny(tag, "{}|()") {
		return traceql.Attribute{}, bad
	}
	q, err := traceql.Parse("{ " + tag + " != nil }")
	if err != nil || q.Pipeline == nil || len(q.Pipeline.Stages) != 1 {
		return traceql.Attribute{}, bad
	}
	f, ok := q.Pipeline.Stages[0].(*traceql.SpansetFilter)
	if !ok {
		return traceql.Attribute{}, bad
	}
	b, ok := f.Expr.(*traceql.BinaryOperation)
	if !ok {
		return traceql.Attribute{}, bad
	}
	a, ok := b.Left.(traceql.Attribute)
	if !ok {
		return traceql.Attribute{}, bad
	}
	return a, nil
}

func keywords(words ...string) []tempoTagValue {
	out := make([]tempoTagValue, len(words))
	for i, w := range words {
		out[i] = tempoTagValue{Type: "keyword", Value: w}
	}
	return out
}

func (h *handler) tagValuesV2(ctx context.Context, attr traceql.Attribute, win tempoWindow, q *traceql.Query) ([]tempoTagValue, error) {
	out := []tempoTagValue{}
	switch attr.Intrinsic {
	case traceql.IntrinsicStatus:
		return keywords("ok", "error", "unset"), nil
	case traceql.IntrinsicKind:
		return keywords("client", "server", "producer", "consumer", "internal", "unspecified"), nil
	case traceql.IntrinsicDuration, traceql.IntrinsicTraceDuration, traceql.IntrinsicEventTimeSinceStart,
		traceql.IntrinsicSpanID, traceql.IntrinsicParentID, traceql.IntrinsicTraceID,
		traceql.IntrinsicLinkSpanID, traceql.IntrinsicLinkTraceID, traceql.IntrinsicChildCount:
		return out, nil // not values to pick from a list, as in Tempo
	}
	if q == nil {
		switch {
		case attr.Intrinsic == traceql.IntrinsicNone && attr.Scope == traceql.ScopeResource && attr.Name == model.ServiceNameKey:
			svcs, err := h.reader.Services(ctx)
			if err != nil {
				return nil, fmt.Errorf("cannot list services: %w", err)
			}
			for _, s := range svcs {
				out = append(out, tempoTagValue{Type: "string", Value: s})
			}
			return out, nil
		case attr.Intrinsic == traceql.IntrinsicName:
			svcs, err := h.reader.Services(ctx)
			if err != nil {
				return nil, fmt.Errorf("cannot list services: %w", err)
			}
			for _, s := range svcs {
				ops, err := h.reader.Operations(ctx, s, storage.AnyKind)
				if err != nil {
					return nil, fmt.Errorf("cannot list operations of %s: %w", s, err)
				}
				for _, op := range ops {
					out = append(out, tempoTagValue{Type: "string", Value: op.Name})
				}
			}
			return out, nil
		}
	}
	sample, err := h.sampleTags(ctx, win, q)
	if err != nil {
		return nil, err
	}
	add := func(v model.Value) {
		switch v.Type {
		case model.ValueString:
			out = append(out, tempoTagValue{Type: "string", Value: v.Str})
		case model.ValueInt:
			out = append(out, tempoTagValue{Type: "int", Value: strconv.FormatInt(v.Int, 10)})
		case model.ValueDouble:
			out = append(out, tempoTagValue{Type: "float", Value: v.String()})
		case model.ValueBool:
			out = append(out, tempoTagValue{Type: "bool", Value: v.String()})
		}
	}
	addAll := func(v model.Value) {
		if v.Type == model.ValueArray {
			for _, e := range v.Array {
				add(e)
			}
			return
		}
		add(v)
	}
	for _, tr := range sample.traces {
		switch attr.Intrinsic {
		case traceql.IntrinsicTraceRootName, traceql.IntrinsicTraceRootService:
			if root := summarizeTempo(tr.all).root; root != nil {
				if attr.Intrinsic == traceql.IntrinsicTraceRootName {
					add(model.StringValue(root.Name))
				} else {
					add(model.StringValue(root.ServiceName()))
				}
			}
			continue
		}
		for _, sp := range tr.matched {
			switch attr.Intrinsic {
			case traceql.IntrinsicName:
				add(model.StringValue(sp.Name))
			case traceql.IntrinsicStatusMessage:
				if sp.Status.Message != "" {
					add(model.StringValue(sp.Status.Message))
				}
			case traceql.IntrinsicEventName:
				for _, ev := range sp.Events {
					add(model.StringValue(ev.Name))
				}
			case traceql.IntrinsicInstrumentationName:
				if sp.Scope.Name != "" {
					add(model.StringValue(sp.Scope.Name))
				}
			case traceql.IntrinsicInstrumentationVersion:
				if sp.Scope.Version != "" {
					add(model.StringValue(sp.Scope.Version))
				}
			case traceql.IntrinsicNone:
				switch attr.Scope {
				case traceql.ScopeEvent, traceql.ScopeLink:
					// every event's (link's) value, not only the first's
					var lists [][]model.KeyValue
					for _, ev := range sp.Events {
						if attr.Scope == traceql.ScopeEvent {
							lists = append(lists, ev.Attributes)
						}
					}
					for _, l := range sp.Links {
						if attr.Scope == traceql.ScopeLink {
							lists = append(lists, l.Attributes)
						}
					}
					for _, kvs := range lists {
						for i := range kvs {
							if kvs[i].Key == attr.Name {
								addAll(kvs[i].Value)
							}
						}
					}
				default:
					if val, ok := shownValue(attr, sp); ok {
						addAll(val)
					}
				}
			}
		}
	}
	return out, nil
}
