package query

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// This file serves Tempo's trace by ID: GET /api/traces/{traceID} (v1,
// on the Tempo port) and /api/v2/traces/{traceID}. JSON unless the
// Accept header asks for application/protobuf, as Grafana does.
//
// Protobuf, in Tempo's message layout (pkg/tempopb/tempo.proto):
//
//	v1: Trace { repeated ResourceSpans resourceSpans = 1; }, which is
//	    OTLP's TracesData field for field;
//	v2: TraceByIDResponse { Trace trace = 1; TraceByIDMetrics metrics = 2; }
//	    with TraceByIDMetrics { uint64 inspectedBytes = 1; }.
//
// JSON: v1 is {"batches": [ResourceSpans...]}, the name Tempo kept for
// its Trace's one field there; v2 is {"trace": {"resourceSpans": [...]},
// "metrics": {"inspectedBytes": "n"}}. The ResourceSpans are OTLP JSON
// as model/otlpjson writes it (hex IDs, as the OTLP specification asks;
// Tempo's own JSON has base64 IDs).

const contentTypeProtobuf = "application/protobuf"

func (h *handler) tempoTraceV1(w http.ResponseWriter, r *http.Request) { h.tempoTrace(w, r, false) }
func (h *handler) tempoTraceV2(w http.ResponseWriter, r *http.Request) { h.tempoTrace(w, r, true) }

func (h *handler) tempoTrace(w http.ResponseWriter, r *http.Request, v2 bool) {
	raw := r.PathValue(tempoTraceIDParam)
	id, err := model.ParseTraceID(raw)
	if err != nil {
		h.tempoFail(w, r, badTempo("invalid trace ID %q: want 1 to 32 hex digits", raw))
		return
	}
	v := r.URL.Query()
	var hint storage.TimeHint
	start, _, err := parseSeconds(v, tempoParamStart)
	if err == nil {
		var end uint64
		if end, _, err = parseSeconds(v, tempoParamEnd); err == nil {
			hint.Start = start * uint64(time.Second)
			if end != 0 {
				hint.End = end*uint64(time.Second) + uint64(time.Second) - 1
			}
		}
	}
	if err != nil {
		h.tempoFail(w, r, err)
		return
	}
	spans, err := h.reader.GetTrace(r.Context(), id, hint)
	if err == nil && len(spans) == 0 {
		err = storage.ErrTraceNotFound
	}
	if err != nil {
		if errors.Is(err, storage.ErrTraceNotFound) {
			h.tempoError(w, r, http.StatusNotFound, fmt.Errorf("trace not found: %s", id))
			return
		}
		h.tempoFail(w, r, fmt.Errorf("cannot get trace %s: %w", id, err))
		return
	}
	td := &tracepb.TracesData{ResourceSpans: model.SpansToOTLP(spans)}
	if strings.Contains(r.Header.Get("Accept"), contentTypeProtobuf) {
		body, err := proto.Marshal(td)
		if err != nil {
			h.tempoError(w, r, http.StatusInternalServerError, fmt.Errorf("cannot encode trace: %w", err))
			return
		}
		if v2 {
			body = traceByIDResponse(body)
		}
		hd := w.Header()
		hd.Set("Content-Type", contentTypeProtobuf)
		hd.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
		return
	}
	js, err := otlpJSON(spans)
	if err != nil {
		h.tempoError(w, r, http.StatusInternalServerError, err)
		return
	}
	if v2 {
		h.writeJSON(w, r, http.StatusOK, struct {
			Trace   json.RawMessage   `json:"trace"`
			Metrics map[string]string `json:"metrics"`
		}{js, map[string]string{"inspectedBytes": fmt.Sprint(len(js))}})
		return
	}
	var fields struct {
		ResourceSpans json.RawMessage `json:"resourceSpans"`
	}
	if err := json.Unmarshal(js, &fields); err != nil {
		h.tempoError(w, r, http.StatusInternalServerError, fmt.Errorf("cannot encode trace: %w", err))
		return
	}
	h.writeJSON(w, r, http.StatusOK, struct {
		Batches json.RawMessage `json:"batches"`
	}{fields.ResourceSpans})
}

// traceByIDResponse wraps an encoded Trace (TracesData) in Tempo's
// TraceByIDResponse: trace = 1, metrics = 2 { inspectedBytes = 1 }.
func traceByIDResponse(trace []byte) []byte {
	var metrics []byte
	metrics = protowire.AppendTag(metrics, 1, protowire.VarintType)
	metrics = protowire.AppendVarint(metrics, uint64(len(trace)))
	out := make([]byte, 0, len(trace)+len(metrics)+16)
	out = protowire.AppendTag(out, 1, protowire.BytesType)
	out = protowire.AppendBytes(out, trace)
	out = protowire.AppendTag(out, 2, protowire.BytesType)
	out = protowire.AppendBytes(out, metrics)
	return out
}
