package query

import (
	"encoding/json"
	"fmt"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/model/otlpjson"
)

// otlpJSON returns spans as an OTLP JSON TracesData object
// ({"resourceSpans": [...]}), grouped as model.SpansToOTLP groups them, as
// Jaeger's /api/v3 returns it: model/otlpjson's encoding (hex IDs, enums as
// numbers, 64-bit integers as strings, object keys sorted).
func otlpJSON(spans []*model.Span) (json.RawMessage, error) {
	b, err := otlpjson.Marshal(&tracepb.TracesData{ResourceSpans: model.SpansToOTLP(spans)})
	if err != nil {
		return nil, fmt.Errorf("cannot encode spans as OTLP JSON: %w", err)
	}
	return b, nil
}
