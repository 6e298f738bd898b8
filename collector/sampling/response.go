package sampling

import (
	"encoding/json"
	"fmt"
)

// StrategyType is a strategy's kind, as api_v2.SamplingStrategyType.
type StrategyType int

// Strategy types. Their numbers are api_v2's; in JSON they are names.
const (
	Probabilistic StrategyType = 0
	RateLimiting  StrategyType = 1
)

// String returns the name as Jaeger's JSON writes it.
func (t StrategyType) String() string {
	switch t {
	case Probabilistic:
		return "PROBABILISTIC"
	case RateLimiting:
		return "RATE_LIMITING"
	}
	return fmt.Sprintf("StrategyType(%d)", int(t))
}

// MarshalText writes the type's name ("PROBABILISTIC", "RATE_LIMITING").
func (t StrategyType) MarshalText() ([]byte, error) {
	if t != Probabilistic && t != RateLimiting {
		return nil, fmt.Errorf("cannot encode sampling strategy type %d", int(t))
	}
	return []byte(t.String()), nil
}

// UnmarshalText reads a type's name.
func (t *StrategyType) UnmarshalText(b []byte) error {
	switch string(b) {
	case "PROBABILISTIC":
		*t = Probabilistic
	case "RATE_LIMITING":
		*t = RateLimiting
	default:
		return fmt.Errorf("unknown sampling strategy type %q", b)
	}
	return nil
}

// Response is a service's sampling strategy as Jaeger's collector answers
// GET /api/sampling: api_v2.SamplingStrategyResponse. Encoded with
// encoding/json it is byte for byte the JSON Jaeger writes (its
// SamplingStrategyResponseToJSON): fields in proto order, strategyType
// always present as a name, the absent sub-strategies left out, and every
// field of operationSampling present.
type Response struct {
	StrategyType          StrategyType                    `json:"strategyType"`
	ProbabilisticSampling *ProbabilisticSamplingStrategy  `json:"probabilisticSampling,omitempty"`
	RateLimitingSampling  *RateLimitingSamplingStrategy   `json:"rateLimitingSampling,omitempty"`
	OperationSampling     *PerOperationSamplingStrategies `json:"operationSampling,omitempty"`
}

// ProbabilisticSamplingStrategy samples a trace with probability
// SamplingRate (0 to 1).
type ProbabilisticSamplingStrategy struct {
	SamplingRate float64 `json:"samplingRate"`
}

// RateLimitingSamplingStrategy samples up to MaxTracesPerSecond traces a
// second.
type RateLimitingSamplingStrategy struct {
	MaxTracesPerSecond int32 `json:"maxTracesPerSecond"`
}

// PerOperationSamplingStrategies gives operations their own probabilities;
// operations not listed use DefaultSamplingProbability.
type PerOperationSamplingStrategies struct {
	DefaultSamplingProbability       float64                     `json:"defaultSamplingProbability"`
	DefaultLowerBoundTracesPerSecond float64                     `json:"defaultLowerBoundTracesPerSecond"`
	PerOperationStrategies           []OperationSamplingStrategy `json:"perOperationStrategies"`
	DefaultUpperBoundTracesPerSecond float64                     `json:"defaultUpperBoundTracesPerSecond"`
}

// OperationSamplingStrategy is one operation's probability.
type OperationSamplingStrategy struct {
	Operation             string                         `json:"operation"`
	ProbabilisticSampling *ProbabilisticSamplingStrategy `json:"probabilisticSampling"`
}

// MarshalJSON writes PerOperationStrategies as [] when empty, as Jaeger does.
func (p PerOperationSamplingStrategies) MarshalJSON() ([]byte, error) {
	type plain PerOperationSamplingStrategies
	if p.PerOperationStrategies == nil {
		p.PerOperationStrategies = []OperationSamplingStrategy{}
	}
	return json.Marshal(plain(p))
}

// DefaultSamplingProbability is the strategy of every service when no
// strategies file is given, as in Jaeger: probabilistic, one trace in 1000.
const DefaultSamplingProbability = 0.001

// DefaultResponse returns the strategy used without a strategies file:
// probabilistic with DefaultSamplingProbability.
func DefaultResponse() Response {
	return Response{
		StrategyType:          Probabilistic,
		ProbabilisticSampling: &ProbabilisticSamplingStrategy{SamplingRate: DefaultSamplingProbability},
	}
}
