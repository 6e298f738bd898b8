package jaegersampling

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func perOperation() Response {
	return Response{
		StrategyType:          Probabilistic,
		ProbabilisticSampling: &ProbabilisticSamplingStrategy{SamplingRate: 0.5},
		OperationSampling: &PerOperationSamplingStrategies{
			DefaultSamplingProbability:       0.5,
			DefaultLowerBoundTracesPerSecond: 0.1,
			PerOperationStrategies: []OperationSamplingStrategy{
				{Operation: "GET /cart", ProbabilisticSampling: &ProbabilisticSamplingStrategy{SamplingRate: 1}},
			},
		},
	}
}

// TestJSONIsJaegers pins the bytes: Jaeger's SamplingStrategyResponseToJSON
// for /sampling and /api/sampling, the numbers for Thrift 0.9.2 clients.
func TestJSONIsJaegers(t *testing.T) {
	rate := Response{StrategyType: RateLimiting, RateLimitingSampling: &RateLimitingSamplingStrategy{MaxTracesPerSecond: 20}}
	noOps := Response{StrategyType: Probabilistic, OperationSampling: &PerOperationSamplingStrategies{DefaultSamplingProbability: 0.2}}
	for _, tc := range []struct {
		r            Response
		json, legacy string
	}{
		{DefaultResponse(),
			`{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.001}}`,
			`{"strategyType":0,"probabilisticSampling":{"samplingRate":0.001}}`},
		{rate,
			`{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":20}}`,
			`{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":20}}`},
		{perOperation(),
			`{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.5},"operationSampling":{"defaultSamplingProbability":0.5,"defaultLowerBoundTracesPerSecond":0.1,"perOperationStrategies":[{"operation":"GET /cart","probabilisticSampling":{"samplingRate":1}}],"defaultUpperBoundTracesPerSecond":0}}`,
			`{"strategyType":0,"probabilisticSampling":{"samplingRate":0.5},"operationSampling":{"defaultSamplingProbability":0.5,"defaultLowerBoundTracesPerSecond":0.1,"perOperationStrategies":[{"operation":"GET /cart","probabilisticSampling":{"samplingRate":1}}],"defaultUpperBoundTracesPerSecond":0}}`},
		{noOps,
			`{"strategyType":"PROBABILISTIC","operationSampling":{"defaultSamplingProbability":0.2,"defaultLowerBoundTracesPerSecond":0,"perOperationStrategies":[],"defaultUpperBoundTracesPerSecond":0}}`,
			`{"strategyType":0,"operationSampling":{"defaultSamplingProbability":0.2,"defaultLowerBoundTracesPerSecond":0,"perOperationStrategies":[],"defaultUpperBoundTracesPerSecond":0}}`},
	} {
		b, err := json.Marshal(tc.r)
		if err != nil || string(b) != tc.json {
			t.Errorf("json.Marshal:\n got %s (%v)\nwant %s", b, err, tc.json)
		}
		l, err := tc.r.LegacyJSON()
		if err != nil || string(l) != tc.legacy {
			t.Errorf("LegacyJSON:\n got %s (%v)\nwant %s", l, err, tc.legacy)
		}
		for _, in := range []string{tc.json, tc.legacy} {
			back, err := Parse([]byte(in))
			if err != nil {
				t.Errorf("Parse(%s): %v", in, err)
				continue
			}
			if again, _ := json.Marshal(back); string(again) != tc.json {
				t.Errorf("Parse(%s) encodes as %s", in, again)
			}
		}
	}
	if _, err := json.Marshal(Response{StrategyType: 7}); err == nil {
		t.Error("an unknown strategy type was encoded")
	}
	if _, err := (Response{StrategyType: 7}).LegacyJSON(); err == nil {
		t.Error("an unknown strategy type was encoded as a number")
	}
}

func TestParseAccepts(t *testing.T) {
	for in, want := range map[string]StrategyType{
		`{"probabilisticSampling":{"samplingRate":0.25}}`:                                         Probabilistic, // left out, as proto JSON does for 0
		`{"strategyType":null,"probabilisticSampling":{"samplingRate":0.25}}`:                     Probabilistic,
		`{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":0}}`:                      RateLimiting,
		`{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":3},"x":1}`:  RateLimiting, // unknown fields ignored
		`{"operationSampling":{"defaultSamplingProbability":0.1,"perOperationStrategies":[]}}`:    Probabilistic,
		`{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":1},"extra":[1]}`: Probabilistic,
	} {
		r, err := Parse([]byte(in))
		if err != nil || r.StrategyType != want {
			t.Errorf("Parse(%s) = %v, %v; want type %v", in, r.StrategyType, err, want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for in, want := range map[string]string{
		`not json`:                                     "cannot parse sampling strategy",
		`{"strategyType":"SOMETHING"}`:                 `unknown sampling strategy type "SOMETHING"`,
		`{"strategyType":2}`:                           "unknown sampling strategy type 2",
		`{"strategyType":true}`:                        "neither a name nor a number",
		`{"strategyType":0}`:                           "probabilistic strategy without a sampling rate",
		`{"strategyType":1}`:                           "rate limiting strategy without a non-negative rate",
		`{"probabilisticSampling":{"samplingRate":2}}`: "sampling rate 2 is not in [0, 1]",
		`{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":-1}}`:                                   "non-negative rate",
		`{"operationSampling":{"defaultSamplingProbability":1.5}}`:                                              "default sampling probability 1.5",
		`{"operationSampling":{"defaultSamplingProbability":0.1,"defaultLowerBoundTracesPerSecond":-1}}`:        "default lower bound -1 is negative",
		`{"operationSampling":{"defaultSamplingProbability":0.1,"perOperationStrategies":[{"operation":"x"}]}}`: `operation "x" has no sampling rate`,
	} {
		if _, err := Parse([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s): error %v, want one containing %q", in, err, want)
		}
	}
	nan := Response{StrategyType: Probabilistic, ProbabilisticSampling: &ProbabilisticSamplingStrategy{SamplingRate: math.NaN()}}
	if nan.Validate() == nil {
		t.Error("a NaN sampling rate is valid")
	}
}
