package jaegersampling

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// StrategyType is a strategy's kind, as api_v2.SamplingStrategyType.
type StrategyType int32

// Strategy types. Their numbers are api_v2's; in JSON they are names (or,
// in LegacyJSON, these numbers).
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
	return fmt.Sprintf("StrategyType(%d)", int32(t))
}

func (t StrategyType) known() bool { return t == Probabilistic || t == RateLimiting }

// MarshalText writes the type's name ("PROBABILISTIC", "RATE_LIMITING").
func (t StrategyType) MarshalText() ([]byte, error) {
	if !t.known() {
		return nil, fmt.Errorf("cannot encode sampling strategy type %d", int32(t))
	}
	return []byte(t.String()), nil
}

// UnmarshalJSON accepts the name, the number, or null (Probabilistic, the
// zero value, as protobuf JSON leaves it out).
func (t *StrategyType) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*t = Probabilistic
		return nil
	}
	var name string
	if err := json.Unmarshal(b, &name); err == nil {
		for _, k := range []StrategyType{Probabilistic, RateLimiting} {
			if k.String() == name {
				*t = k
				return nil
			}
		}
		return fmt.Errorf("unknown sampling strategy type %q", name)
	}
	var n int32
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("sampling strategy type %s is neither a name nor a number", b)
	}
	if !StrategyType(n).known() {
		return fmt.Errorf("unknown sampling strategy type %d", n)
	}
	*t = StrategyType(n)
	return nil
}

// Response is a service's sampling strategy: api_v2.SamplingStrategyResponse.
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

// LegacyJSON encodes r as json.Marshal does but with strategyType as its
// number, as Jaeger's agent answers on / for clients built on Thrift 0.9.2.
func (r Response) LegacyJSON() ([]byte, error) {
	if !r.StrategyType.known() {
		return nil, fmt.Errorf("cannot encode sampling strategy type %d", int32(r.StrategyType))
	}
	return json.Marshal(struct {
		StrategyType          int32                           `json:"strategyType"`
		ProbabilisticSampling *ProbabilisticSamplingStrategy  `json:"probabilisticSampling,omitempty"`
		RateLimitingSampling  *RateLimitingSamplingStrategy   `json:"rateLimitingSampling,omitempty"`
		OperationSampling     *PerOperationSamplingStrategies `json:"operationSampling,omitempty"`
	}{int32(r.StrategyType), r.ProbabilisticSampling, r.RateLimitingSampling, r.OperationSampling})
}

// DefaultSamplingProbability is the strategy of every service when nothing
// else is known, as in Jaeger: probabilistic, one trace in 1000.
const DefaultSamplingProbability = 0.001

// DefaultResponse returns Jaeger's default strategy: probabilistic with
// DefaultSamplingProbability.
func DefaultResponse() Response {
	return Response{
		StrategyType:          Probabilistic,
		ProbabilisticSampling: &ProbabilisticSamplingStrategy{SamplingRate: DefaultSamplingProbability},
	}
}

// Parse reads a strategy as a collector or a Jaeger agent serves it (type
// as a name or a number, or left out for probabilistic; unknown fields
// ignored) and checks with Validate that a client can use it.
func Parse(b []byte) (Response, error) {
	var r Response
	if err := json.Unmarshal(b, &r); err != nil {
		return Response{}, fmt.Errorf("cannot parse sampling strategy: %w", err)
	}
	if err := r.Validate(); err != nil {
		return Response{}, fmt.Errorf("unusable sampling strategy: %w", err)
	}
	return r, nil
}

func validRate(r float64) bool { return !math.IsNaN(r) && r >= 0 && r <= 1 }

// Validate reports what makes r unusable by a client, if anything: a known
// type with its sub-strategy (a probabilistic strategy may have only
// operation strategies), probabilities from 0 to 1, no negative rates or
// bounds, and a probability for every listed operation.
func (r Response) Validate() error {
	if !r.StrategyType.known() {
		return fmt.Errorf("unknown sampling strategy type %d", int32(r.StrategyType))
	}
	if o := r.OperationSampling; o != nil {
		if !validRate(o.DefaultSamplingProbability) {
			return fmt.Errorf("default sampling probability %v is not in [0, 1]", o.DefaultSamplingProbability)
		}
		if math.IsNaN(o.DefaultLowerBoundTracesPerSecond) || o.DefaultLowerBoundTracesPerSecond < 0 {
			return fmt.Errorf("default lower bound %v is negative", o.DefaultLowerBoundTracesPerSecond)
		}
		for _, op := range o.PerOperationStrategies {
			if op.ProbabilisticSampling == nil || !validRate(op.ProbabilisticSampling.SamplingRate) {
				return fmt.Errorf("operation %q has no sampling rate in [0, 1]", op.Operation)
			}
		}
	}
	switch r.StrategyType {
	case Probabilistic:
		if p := r.ProbabilisticSampling; p == nil && r.OperationSampling == nil {
			return errors.New("probabilistic strategy without a sampling rate")
		} else if p != nil && !validRate(p.SamplingRate) {
			return fmt.Errorf("sampling rate %v is not in [0, 1]", p.SamplingRate)
		}
	case RateLimiting:
		if rl := r.RateLimitingSampling; rl == nil || rl.MaxTracesPerSecond < 0 {
			return errors.New("rate limiting strategy without a non-negative rate")
		}
	}
	return nil
}
