package sampling

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// StrategyType is Jaeger's SamplingStrategyType.
type StrategyType int32

// The strategy types; the numbers are Jaeger's.
const (
	Probabilistic StrategyType = 0
	RateLimiting  StrategyType = 1
)

var typeNames = map[StrategyType]string{Probabilistic: "PROBABILISTIC", RateLimiting: "RATE_LIMITING"}

// UnmarshalJSON accepts the name or the number.
func (t *StrategyType) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*t = Probabilistic
		return nil
	}
	var name string
	if err := json.Unmarshal(b, &name); err == nil {
		for k, v := range typeNames {
			if v == name {
				*t = k
				return nil
			}
		}
		return fmt.Errorf("unknown strategy type %q", name)
	}
	var n int32
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("strategy type %s is neither a name nor a number", b)
	}
	if _, ok := typeNames[StrategyType(n)]; !ok {
		return fmt.Errorf("unknown strategy type %d", n)
	}
	*t = StrategyType(n)
	return nil
}

// Strategy is Jaeger's SamplingStrategyResponse, with its JSON field names.
type Strategy struct {
	StrategyType          StrategyType                 `json:"strategyType"`
	ProbabilisticSampling *ProbabilisticStrategy       `json:"probabilisticSampling,omitempty"`
	RateLimitingSampling  *RateLimitingStrategy        `json:"rateLimitingSampling,omitempty"`
	OperationSampling     *PerOperationSamplingOptions `json:"operationSampling,omitempty"`
}

// ProbabilisticStrategy samples a fraction of traces.
type ProbabilisticStrategy struct {
	SamplingRate float64 `json:"samplingRate"`
}

// RateLimitingStrategy samples up to a number of traces per second.
type RateLimitingStrategy struct {
	MaxTracesPerSecond int32 `json:"maxTracesPerSecond"`
}

// OperationStrategy is the probabilistic strategy of one operation.
type OperationStrategy struct {
	Operation             string                 `json:"operation"`
	ProbabilisticSampling *ProbabilisticStrategy `json:"probabilisticSampling,omitempty"`
}

// PerOperationSamplingOptions are per-operation strategies with defaults.
type PerOperationSamplingOptions struct {
	DefaultSamplingProbability       float64             `json:"defaultSamplingProbability"`
	DefaultLowerBoundTracesPerSecond float64             `json:"defaultLowerBoundTracesPerSecond"`
	PerOperationStrategies           []OperationStrategy `json:"perOperationStrategies"`
	DefaultUpperBoundTracesPerSecond float64             `json:"defaultUpperBoundTracesPerSecond,omitempty"`
}

// DefaultStrategy is Jaeger's default: probabilistic, rate 0.001.
func DefaultStrategy() *Strategy {
	return &Strategy{StrategyType: Probabilistic, ProbabilisticSampling: &ProbabilisticStrategy{SamplingRate: 0.001}}
}

// ParseStrategy parses a strategy as a collector or a Jaeger agent serves it
// (type as a name or a number; unknown fields ignored) and checks that a
// client can use it.
func ParseStrategy(b []byte) (*Strategy, error) {
	var s Strategy
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("cannot parse sampling strategy: %w", err)
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("unusable sampling strategy: %w", err)
	}
	if o := s.OperationSampling; o != nil && o.PerOperationStrategies == nil {
		o.PerOperationStrategies = []OperationStrategy{} // [] rather than null
	}
	return &s, nil
}

func validRate(r float64) bool { return !math.IsNaN(r) && r >= 0 && r <= 1 }

func (s *Strategy) validate() error {
	if o := s.OperationSampling; o != nil {
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
	switch s.StrategyType {
	case Probabilistic:
		if p := s.ProbabilisticSampling; p == nil && s.OperationSampling == nil {
			return errors.New("probabilistic strategy without a sampling rate")
		} else if p != nil && !validRate(p.SamplingRate) {
			return fmt.Errorf("sampling rate %v is not in [0, 1]", p.SamplingRate)
		}
	case RateLimiting:
		if r := s.RateLimitingSampling; r == nil || r.MaxTracesPerSecond < 0 {
			return errors.New("rate limiting strategy without a non-negative rate")
		}
	}
	return nil
}

// Encode returns the JSON a client gets: the strategy type as its name, or
// with legacy as its number (Thrift 0.9.2 clients on "/").
func (s *Strategy) Encode(legacy bool) []byte {
	var typ any = typeNames[s.StrategyType]
	if legacy {
		typ = int32(s.StrategyType)
	}
	b, err := json.Marshal(struct {
		StrategyType          any                          `json:"strategyType"`
		ProbabilisticSampling *ProbabilisticStrategy       `json:"probabilisticSampling,omitempty"`
		RateLimitingSampling  *RateLimitingStrategy        `json:"rateLimitingSampling,omitempty"`
		OperationSampling     *PerOperationSamplingOptions `json:"operationSampling,omitempty"`
	}{typ, s.ProbabilisticSampling, s.RateLimitingSampling, s.OperationSampling})
	if err != nil { // only NaN or Inf can do this, and validate rejects those in rates
		return DefaultStrategy().Encode(legacy)
	}
	return b
}
