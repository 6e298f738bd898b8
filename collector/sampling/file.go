package sampling

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"

	"github.com/scrytrace/scry/model/jaegersampling"
)

// The strategies file, in the format of Jaeger's --sampling.strategies-file
// (see README.md).
type fileStrategies struct {
	DefaultStrategy   *fileServiceStrategy  `json:"default_strategy"`
	ServiceStrategies []fileServiceStrategy `json:"service_strategies"`
}

type fileServiceStrategy struct {
	Service             string                  `json:"service"`
	Type                string                  `json:"type"`
	Param               *float64                `json:"param"`
	OperationStrategies []fileOperationStrategy `json:"operation_strategies"`
}

type fileOperationStrategy struct {
	Operation string   `json:"operation"`
	Type      string   `json:"type"`
	Param     *float64 `json:"param"`
}

// Strategy types as the file names them.
const (
	fileProbabilistic = "probabilistic"
	fileRateLimiting  = "ratelimiting"
)

// Strategies is a parsed strategies file: a strategy per service and the
// default for every other service. It is immutable, so safe for concurrent
// use.
type Strategies struct {
	services   map[string]jaegersampling.Response
	def        jaegersampling.Response
	encoded    map[string][]byte // JSON of services' responses
	encodedDef []byte
}

// DefaultStrategies returns the strategies used without a file: every
// service gets jaegersampling.DefaultResponse.
func DefaultStrategies() *Strategies {
	s, err := newStrategies(jaegersampling.DefaultResponse(), nil)
	if err != nil {
		panic(err) // the default always encodes
	}
	return s
}

func newStrategies(def jaegersampling.Response, services map[string]jaegersampling.Response) (*Strategies, error) {
	s := &Strategies{services: services, def: def, encoded: make(map[string][]byte, len(services))}
	var err error
	if s.encodedDef, err = json.Marshal(def); err != nil {
		return nil, fmt.Errorf("cannot encode default strategy: %w", err)
	}
	for name, r := range services {
		if s.encoded[name], err = json.Marshal(r); err != nil {
			return nil, fmt.Errorf("cannot encode strategy of service %q: %w", name, err)
		}
	}
	return s, nil
}

// Strategy returns the strategy of service: its own, or the default.
func (s *Strategies) Strategy(service string) jaegersampling.Response {
	if r, ok := s.services[service]; ok {
		return r
	}
	return s.def
}

// JSON returns Strategy(service) encoded as Jaeger's collector answers it.
// The caller must not modify the bytes.
func (s *Strategies) JSON(service string) []byte {
	if b, ok := s.encoded[service]; ok {
		return b
	}
	return s.encodedDef
}

// Services returns the number of services with a strategy of their own.
func (s *Strategies) Services() int { return len(s.services) }

// maxFileBytes bounds a strategies file.
const maxFileBytes = 16 << 20

// Parse reads a strategies file in Jaeger's format. It is stricter than
// Jaeger, which logs a warning and goes on: an unknown field, an unknown
// strategy type, a missing param, a probability outside 0..1, a rate that is
// not a whole number from 0 to 2^31-1, a service without a name, and a
// service or an operation listed twice are errors, each naming where it is.
// Like Jaeger, it skips (with a warning on logger) a ratelimiting strategy
// given to an operation, which api_v2 cannot express.
//
// Like Jaeger's, the result merges the default strategy's operation
// strategies into every service's: a service without operation strategies
// gets the default's, with its own probability as the default probability
// when it is probabilistic; a service with some gets the default's for the
// operations it does not list. logger may be nil.
func Parse(b []byte, logger *slog.Logger) (*Strategies, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("strategies file has %d bytes, more than the limit of %d", len(b), maxFileBytes)
	}
	var f fileStrategies
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("strategies file is empty; write {} for the defaults")
		}
		return nil, fmt.Errorf("cannot parse strategies file: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("cannot parse strategies file: unexpected data after the top-level object")
	}

	var errs []error
	def := jaegersampling.DefaultResponse()
	if f.DefaultStrategy != nil {
		r, err := f.DefaultStrategy.response(logger)
		if err != nil {
			errs = append(errs, fmt.Errorf("default_strategy: %w", err))
		} else {
			def = r
		}
	}
	services := make(map[string]jaegersampling.Response, len(f.ServiceStrategies))
	for i, ss := range f.ServiceStrategies {
		where := fmt.Sprintf("service_strategies[%d]", i)
		if ss.Service == "" {
			errs = append(errs, fmt.Errorf("%s: service name is missing", where))
			continue
		}
		where = fmt.Sprintf("%s (service %q)", where, ss.Service)
		if _, dup := services[ss.Service]; dup {
			errs = append(errs, fmt.Errorf("%s: service is listed twice", where))
			continue
		}
		r, err := ss.response(logger)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		services[ss.Service] = mergeDefault(r, def)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("invalid strategies file: %w", err)
	}
	return newStrategies(def, services)
}

// response converts a service's (or the default) strategy.
func (ss *fileServiceStrategy) response(logger *slog.Logger) (jaegersampling.Response, error) {
	r, err := strategy(ss.Type, ss.Param)
	if err != nil {
		return jaegersampling.Response{}, err
	}
	if len(ss.OperationStrategies) == 0 {
		return r, nil
	}
	ops := &jaegersampling.PerOperationSamplingStrategies{DefaultSamplingProbability: jaegersampling.DefaultSamplingProbability}
	if r.ProbabilisticSampling != nil {
		ops.DefaultSamplingProbability = r.ProbabilisticSampling.SamplingRate
	}
	seen := make(map[string]bool, len(ss.OperationStrategies))
	var errs []error
	for i, op := range ss.OperationStrategies {
		where := fmt.Sprintf("operation_strategies[%d]", i)
		if op.Operation == "" {
			errs = append(errs, fmt.Errorf("%s: operation name is missing", where))
			continue
		}
		where = fmt.Sprintf("%s (operation %q)", where, op.Operation)
		if seen[op.Operation] {
			errs = append(errs, fmt.Errorf("%s: operation is listed twice", where))
			continue
		}
		seen[op.Operation] = true
		or, err := strategy(op.Type, op.Param)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		if or.ProbabilisticSampling == nil {
			logger.Warn("ignoring a ratelimiting strategy for an operation: operations can only have probabilistic ones",
				"service", ss.Service, "operation", op.Operation)
			continue
		}
		ops.PerOperationStrategies = append(ops.PerOperationStrategies, jaegersampling.OperationSamplingStrategy{
			Operation: op.Operation, ProbabilisticSampling: or.ProbabilisticSampling,
		})
	}
	if err := errors.Join(errs...); err != nil {
		return jaegersampling.Response{}, err
	}
	r.OperationSampling = ops
	return r, nil
}

// strategy converts a type and param.
func strategy(typ string, param *float64) (jaegersampling.Response, error) {
	if typ != fileProbabilistic && typ != fileRateLimiting {
		return jaegersampling.Response{}, fmt.Errorf("type %q is not %q or %q", typ, fileProbabilistic, fileRateLimiting)
	}
	if param == nil {
		return jaegersampling.Response{}, fmt.Errorf("%s strategy has no param", typ)
	}
	p := *param
	if typ == fileProbabilistic {
		if !(p >= 0 && p <= 1) {
			return jaegersampling.Response{}, fmt.Errorf("probabilistic param %v is not a probability from 0 to 1", p)
		}
		return jaegersampling.Response{StrategyType: jaegersampling.Probabilistic, ProbabilisticSampling: &jaegersampling.ProbabilisticSamplingStrategy{SamplingRate: p}}, nil
	}
	if !(p >= 0 && p <= math.MaxInt32) || p != math.Trunc(p) {
		return jaegersampling.Response{}, fmt.Errorf("ratelimiting param %v is not a whole number of traces per second from 0 to %d", p, math.MaxInt32)
	}
	return jaegersampling.Response{StrategyType: jaegersampling.RateLimiting, RateLimitingSampling: &jaegersampling.RateLimitingSamplingStrategy{MaxTracesPerSecond: int32(p)}}, nil
}

// mergeDefault gives a service's strategy the default's operation
// strategies, as Jaeger's file-based strategy provider does.
func mergeDefault(r, def jaegersampling.Response) jaegersampling.Response {
	if def.OperationSampling == nil {
		return r
	}
	if r.OperationSampling == nil {
		ops := *def.OperationSampling
		ops.PerOperationStrategies = append([]jaegersampling.OperationSamplingStrategy(nil), ops.PerOperationStrategies...)
		if r.ProbabilisticSampling != nil {
			ops.DefaultSamplingProbability = r.ProbabilisticSampling.SamplingRate
		}
		r.OperationSampling = &ops
		return r
	}
	own := make(map[string]bool, len(r.OperationSampling.PerOperationStrategies))
	for _, o := range r.OperationSampling.PerOperationStrategies {
		own[o.Operation] = true
	}
	for _, o := range def.OperationSampling.PerOperationStrategies {
		if !own[o.Operation] {
			r.OperationSampling.PerOperationStrategies = append(r.OperationSampling.PerOperationStrategies, o)
		}
	}
	return r
}
