package otlphttp

import (
	"fmt"
	"mime"
	"net/http"
	"strconv"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/scrytrace/scry/collector"
	"github.com/scrytrace/scry/collector/internal/httpintake"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/model/otlpjson"
)

// encoding is a request's (and so its response's) content type.
type encoding int

const (
	encProtobuf encoding = iota
	encJSON
)

const (
	contentTypeProtobuf = "application/x-protobuf"
	contentTypeJSON     = "application/json"
)

func (e encoding) contentType() string {
	if e == encJSON {
		return contentTypeJSON
	}
	return contentTypeProtobuf
}

func (r *Receiver) handleTraces(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httpintake.WriteText(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed, use POST", req.Method))
		return
	}
	enc, ok := parseContentType(req.Header.Get("Content-Type"))
	if !ok {
		httpintake.WriteText(w, http.StatusUnsupportedMediaType, fmt.Sprintf(
			"unsupported content type %q, use %s or %s", req.Header.Get("Content-Type"), contentTypeProtobuf, contentTypeJSON))
		return
	}
	body, herr := httpintake.ReadBody(w, req, r.base.Settings.MaxRequestBytes)
	if herr != nil {
		if herr.Code == http.StatusUnsupportedMediaType {
			httpintake.WriteText(w, herr.Code, herr.Msg)
			return
		}
		r.writeError(w, enc, herr.Code, herr.Msg)
		return
	}

	var msg coltracepb.ExportTraceServiceRequest
	var rejected []error
	var err error
	if enc == encJSON {
		rejected, err = otlpjson.Unmarshal(body, &msg)
	} else if err = proto.Unmarshal(body, &msg); err != nil {
		err = fmt.Errorf("cannot decode protobuf request: %w", err)
	}
	if err != nil {
		r.writeError(w, enc, http.StatusBadRequest, err.Error())
		return
	}

	spans, bad := model.SpansFromOTLP(msg.GetResourceSpans())
	res, err := r.base.Deliver(req.Context(), spans, append(rejected, bad...), len(body))
	if err != nil {
		switch collector.Classify(err) {
		case collector.KindTooLarge:
			r.writeError(w, enc, http.StatusRequestEntityTooLarge, err.Error())
		case collector.KindRateLimited:
			w.Header().Set("Retry-After", httpintake.RetryAfter(collector.RetryAfterOf(err, r.base.Settings.RetryAfter)))
			r.writeError(w, enc, http.StatusTooManyRequests, err.Error())
		case collector.KindInvalid:
			r.base.Logger.Debug("otlp http export rejected", "error", err)
			r.writeError(w, enc, http.StatusBadRequest, err.Error())
		default:
			w.Header().Set("Retry-After", httpintake.RetryAfter(r.base.Settings.RetryAfter))
			r.writeError(w, enc, http.StatusServiceUnavailable, err.Error())
		}
		return
	}
	resp := &coltracepb.ExportTraceServiceResponse{}
	if res.Rejected > 0 {
		r.base.Logger.Debug("otlp http export partially rejected", "spans", res.Spans, "rejected", res.Rejected, "reason", res.Message)
		resp.PartialSuccess = &coltracepb.ExportTracePartialSuccess{
			RejectedSpans: int64(res.Rejected),
			ErrorMessage:  res.Message,
		}
	}
	r.writeMessage(w, enc, http.StatusOK, resp)
}

// parseContentType accepts the two OTLP content types, with parameters.
func parseContentType(v string) (encoding, bool) {
	mt, _, err := mime.ParseMediaType(v)
	if err != nil {
		return 0, false
	}
	switch mt {
	case contentTypeProtobuf:
		return encProtobuf, true
	case contentTypeJSON:
		return encJSON, true
	}
	return 0, false
}

// writeError answers with a google.rpc.Status in the request's encoding.
func (r *Receiver) writeError(w http.ResponseWriter, enc encoding, code int, msg string) {
	r.writeMessage(w, enc, code, &statuspb.Status{Code: int32(grpcCode(code)), Message: msg})
}

// grpcCode is the google.rpc.Code that matches an HTTP status.
func grpcCode(httpCode int) codes.Code {
	switch httpCode {
	case http.StatusBadRequest:
		return codes.InvalidArgument
	case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case http.StatusServiceUnavailable:
		return codes.Unavailable
	}
	return codes.Internal
}

func (r *Receiver) writeMessage(w http.ResponseWriter, enc encoding, code int, m proto.Message) {
	var b []byte
	var err error
	if enc == encJSON {
		b, err = protojson.Marshal(m)
	} else {
		b, err = proto.Marshal(m)
	}
	if err != nil {
		r.base.Logger.Error("cannot encode otlp http response", "error", err)
		httpintake.WriteText(w, http.StatusInternalServerError, "cannot encode response")
		return
	}
	w.Header().Set("Content-Type", enc.contentType())
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	_, _ = w.Write(b)
}
