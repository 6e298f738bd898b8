package sampling_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/scrytrace/scry/collector/sampling"
)

// jaegerExample is the example strategies file of Jaeger's documentation.
const jaegerExample = `{
  "service_strategies": [
    {
      "service": "foo",
      "type": "probabilistic",
      "param": 0.8,
      "operation_strategies": [
        {"operation": "op1", "type": "probabilistic", "param": 0.2},
        {"operation": "op2", "type": "probabilistic", "param": 0.4}
      ]
    },
    {"service": "bar", "type": "ratelimiting", "param": 5}
  ],
  "default_strategy": {
    "type": "probabilistic",
    "param": 0.5,
    "operation_strategies": [
      {"operation": "/health", "type": "probabilistic", "param": 0.0},
      {"operation": "/metrics", "type": "probabilistic", "param": 0.0}
    ]
  }
}`

func TestParseJaegerExample(t *testing.T) {
	s, err := sampling.Parse([]byte(jaegerExample), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Services() != 2 {
		t.Fatalf("%d services, want 2", s.Services())
	}
	for service, want := range map[string]string{
		// As a Jaeger collector answers for this file.
		"foo":   `{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.8},"operationSampling":{"defaultSamplingProbability":0.8,"defaultLowerBoundTracesPerSecond":0,"perOperationStrategies":[{"operation":"op1","probabilisticSampling":{"samplingRate":0.2}},{"operation":"op2","probabilisticSampling":{"samplingRate":0.4}},{"operation":"/health","probabilisticSampling":{"samplingRate":0}},{"operation":"/metrics","probabilisticSampling":{"samplingRate":0}}],"defaultUpperBoundTracesPerSecond":0}}`,
		"bar":   `{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":5},"operationSampling":{"defaultSamplingProbability":0.5,"defaultLowerBoundTracesPerSecond":0,"perOperationStrategies":[{"operation":"/health","probabilisticSampling":{"samplingRate":0}},{"operation":"/metrics","probabilisticSampling":{"samplingRate":0}}],"defaultUpperBoundTracesPerSecond":0}}`,
		"other": `{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.5},"operationSampling":{"defaultSamplingProbability":0.5,"defaultLowerBoundTracesPerSecond":0,"perOperationStrategies":[{"operation":"/health","probabilisticSampling":{"samplingRate":0}},{"operation":"/metrics","probabilisticSampling":{"samplingRate":0}}],"defaultUpperBoundTracesPerSecond":0}}`,
	} {
		if got := string(s.JSON(service)); got != want {
			t.Errorf("%s:\n got %s\nwant %s", service, got, want)
		}
		// JSON and Strategy agree.
		b, err := json.Marshal(s.Strategy(service))
		if err != nil || string(b) != want {
			t.Errorf("%s: Strategy encodes as %s (%v)", service, b, err)
		}
	}
}

func TestParseShapes(t *testing.T) {
	for name, tc := range map[string]struct{ file, service, want string }{
		"empty object": {`{}`, "x", `{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.001}}`},
		"null":         {`null`, "x", `{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.001}}`},
		"rate limiting": {`{"service_strategies":[{"service":"a","type":"ratelimiting","param":20}]}`, "a",
			`{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":20}}`},
		"probability one": {`{"default_strategy":{"type":"probabilistic","param":1}}`, "x",
			`{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":1}}`},
		"tiny probability": {`{"default_strategy":{"type":"probabilistic","param":1e-7}}`, "x",
			`{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":1e-7}}`},
		"rate limiting with operations": {`{"service_strategies":[{"service":"a","type":"ratelimiting","param":3,
			"operation_strategies":[{"operation":"op","type":"probabilistic","param":0.25}]}]}`, "a",
			`{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":3},"operationSampling":{"defaultSamplingProbability":0.001,"defaultLowerBoundTracesPerSecond":0,"perOperationStrategies":[{"operation":"op","probabilisticSampling":{"samplingRate":0.25}}],"defaultUpperBoundTracesPerSecond":0}}`},
		"operation rate limiting ignored": {`{"service_strategies":[{"service":"a","type":"probabilistic","param":0.5,
			"operation_strategies":[{"operation":"op","type":"ratelimiting","param":3}]}]}`, "a",
			`{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.5},"operationSampling":{"defaultSamplingProbability":0.5,"defaultLowerBoundTracesPerSecond":0,"perOperationStrategies":[],"defaultUpperBoundTracesPerSecond":0}}`},
		"service operations override the default's": {`{
			"default_strategy":{"type":"probabilistic","param":0.1,"operation_strategies":[{"operation":"op","type":"probabilistic","param":0},{"operation":"d","type":"probabilistic","param":0.3}]},
			"service_strategies":[{"service":"a","type":"probabilistic","param":0.5,"operation_strategies":[{"operation":"op","type":"probabilistic","param":1}]}]}`, "a",
			`{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.5},"operationSampling":{"defaultSamplingProbability":0.5,"defaultLowerBoundTracesPerSecond":0,"perOperationStrategies":[{"operation":"op","probabilisticSampling":{"samplingRate":1}},{"operation":"d","probabilisticSampling":{"samplingRate":0.3}}],"defaultUpperBoundTracesPerSecond":0}}`},
	} {
		s, err := sampling.Parse([]byte(tc.file), nil)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := string(s.JSON(tc.service)); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", name, got, tc.want)
		}
	}
}

func TestParseMergeDoesNotAlias(t *testing.T) {
	s, err := sampling.Parse([]byte(`{
		"default_strategy":{"type":"probabilistic","param":0.1,"operation_strategies":[{"operation":"d","type":"probabilistic","param":0.3}]},
		"service_strategies":[{"service":"a","type":"probabilistic","param":0.5},{"service":"b","type":"probabilistic","param":0.7}]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b, def := s.Strategy("a"), s.Strategy("b"), s.Strategy("zzz")
	if a.OperationSampling.DefaultSamplingProbability != 0.5 || b.OperationSampling.DefaultSamplingProbability != 0.7 ||
		def.OperationSampling.DefaultSamplingProbability != 0.1 {
		t.Fatalf("default probabilities %v %v %v, want each service's own",
			a.OperationSampling.DefaultSamplingProbability, b.OperationSampling.DefaultSamplingProbability, def.OperationSampling.DefaultSamplingProbability)
	}
	if len(a.OperationSampling.PerOperationStrategies) != 1 || a.OperationSampling.PerOperationStrategies[0].Operation != "d" {
		t.Fatalf("a's operations %+v, want the default's", a.OperationSampling.PerOperationStrategies)
	}
}

func TestParseErrors(t *testing.T) {
	for name, tc := range map[string]struct{ file, want string }{
		"empty":                {``, "empty"},
		"syntax":               {`{"service_strategies": [`, "cannot parse"},
		"trailing":             {`{} {}`, "unexpected data"},
		"not an object":        {`[1]`, "cannot parse"},
		"typo":                 {`{"service_strategy": []}`, `unknown field "service_strategy"`},
		"typo in operation":    {`{"default_strategy":{"type":"probabilistic","param":1,"operation_strategies":[{"operation":"a","typ":"x"}]}}`, `unknown field "typ"`},
		"unknown type":         {`{"default_strategy":{"type":"adaptive","param":1}}`, `default_strategy: type "adaptive" is not`},
		"no type":              {`{"default_strategy":{"param":1}}`, `type "" is not`},
		"no param":             {`{"service_strategies":[{"service":"a","type":"probabilistic"}]}`, `service "a"): probabilistic strategy has no param`},
		"probability > 1":      {`{"service_strategies":[{"service":"a","type":"probabilistic","param":10}]}`, "not a probability"},
		"negative probability": {`{"default_strategy":{"type":"probabilistic","param":-0.1}}`, "not a probability"},
		"fractional rate":      {`{"default_strategy":{"type":"ratelimiting","param":0.5}}`, "not a whole number"},
		"huge rate":            {`{"default_strategy":{"type":"ratelimiting","param":1e12}}`, "not a whole number"},
		"no service name":      {`{"service_strategies":[{"type":"probabilistic","param":1}]}`, "service_strategies[0]: service name is missing"},
		"service twice": {`{"service_strategies":[{"service":"a","type":"probabilistic","param":1},{"service":"a","type":"probabilistic","param":0}]}`,
			`service_strategies[1] (service "a"): service is listed twice`},
		"operation twice": {`{"service_strategies":[{"service":"a","type":"probabilistic","param":1,"operation_strategies":[
			{"operation":"o","type":"probabilistic","param":1},{"operation":"o","type":"probabilistic","param":0}]}]}`, `operation "o"): operation is listed twice`},
		"no operation name": {`{"default_strategy":{"type":"probabilistic","param":1,"operation_strategies":[{"type":"probabilistic","param":1}]}}`, "operation name is missing"},
		"bad operation param": {`{"default_strategy":{"type":"probabilistic","param":1,"operation_strategies":[{"operation":"o","type":"probabilistic","param":2}]}}`,
			`operation_strategies[0] (operation "o"): probabilistic param 2`},
		"too large": {`{"service_strategies":[` + strings.Repeat(" ", 17<<20) + `]}`, "more than the limit"},
	} {
		_, err := sampling.Parse([]byte(tc.file), nil)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not say %q", name, err, tc.want)
		}
	}
	// Every mistake is reported at once.
	_, err := sampling.Parse([]byte(`{"service_strategies":[{"service":"a","type":"x","param":1},{"service":"b","type":"probabilistic","param":3}]}`), nil)
	if err == nil || !strings.Contains(err.Error(), `service "a"`) || !strings.Contains(err.Error(), `service "b"`) {
		t.Fatalf("error %v does not name both services", err)
	}
}
