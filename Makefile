# Scry. `make run` starts the all-in-one server; `make test` runs every test.
GO       ?= go
# An execution count, not a duration: with a duration, Go 1.26's fuzzing
# coordinator can fail a clean run with "context deadline exceeded" when it
# stops its workers (golang/go#75804, fixed in Go 1.27).
FUZZTIME ?= 100000x
# The spool's target writes files: ~2,500 runs/s against ~25,000 for the others.
FUZZTIME_SPOOL ?= 20000x
PKGS     := ./...

.PHONY: all build bin ui ui-test run test unit fuzz bench bench-storage bench-query bench-agent bench-e2e bench-security bench-scaleout lint clean images

all: build

build:
	$(GO) build ./...

# The all-in-one server with the web UI, data in ./scry-data.
run: ui bin
	./bin/scry

# The web UI (ui/web, built into ui/dist and embedded in the binaries).
# Without npm the binaries serve a page that says how to build it.
ui:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) -C ui build; \
	else echo "npm not found: building without the web UI (see ui/web/README.md)" >&2; fi

ui-test:
	$(MAKE) -C ui test

# The UI is built first so that the browser tests (ui/uitest) run.
test: lint ui unit ui-test fuzz

unit:
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

# Short fuzz runs of every decoder that takes bytes from outside, and of the
# TraceQL parser.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzSpansFromOTLP$$' -fuzztime $(FUZZTIME) ./model/
	$(GO) test -run '^$$' -fuzz '^FuzzUnmarshal$$' -fuzztime $(FUZZTIME) ./model/otlpjson/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeGroup$$' -fuzztime $(FUZZTIME) ./storage/badger/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeEmitBatch$$' -fuzztime $(FUZZTIME) ./model/jaegerthrift/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeBatch$$' -fuzztime $(FUZZTIME) ./model/jaegerthrift/
	$(GO) test -run '^$$' -fuzz '^FuzzZipkinJSON$$' -fuzztime $(FUZZTIME) ./model/zipkin/
	$(GO) test -run '^$$' -fuzz '^FuzzZipkinProto$$' -fuzztime $(FUZZTIME) ./model/zipkin/
	$(GO) test -run '^$$' -fuzz '^FuzzReplay$$' -fuzztime $(FUZZTIME_SPOOL) ./agent/spool/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./query/traceql/
	$(GO) test -run '^$$' -fuzz '^FuzzAuthenticate$$' -fuzztime $(FUZZTIME) ./internal/auth/

# Benchmarks on the reference workload (DESIGN.md). Figures go in the README
# and in issue notes; compare runs with benchstat.
# SCRY_BENCH_LARGE=10000000 also builds a 10M-span store and reports its
# open time and resident memory (BenchmarkLargeStore; several minutes).
bench: bench-storage bench-query bench-agent bench-e2e bench-security bench-scaleout

# Ingest with TLS, auth and tenancy on against plain text, alternated on
# fresh stores (SCRY_BENCH_DURATION per phase, SCRY_BENCH_ROUNDS rounds).
bench-security:
	$(GO) test -run '^$$' -bench BenchmarkSecurity -benchtime 1x -timeout 30m ./e2e/

# The scale-out topology (3 nats-servers, a collector, two ingesters,
# scry-query) beside the all-in-one scry: ingest, export latency at 10k
# spans/s, trace by ID (SCRY_BENCH_DURATION per phase).
bench-scaleout:
	$(GO) test -run '^$$' -bench BenchmarkScaleOut -benchtime 1x -timeout 30m ./e2e/

# Agent forwarding throughput and UDP intake at 20k spans/s.
bench-agent:
	$(GO) test -run '^$$' -bench . -benchtime 3s ./agent/

bench-storage:
	$(GO) test -run '^$$' -bench . -benchtime 2s -timeout 60m ./storage/badger/

# The Tempo API (search, tags) over a Badger store of 1M spans (SCRY_BENCH_TEMPO_SPANS).
bench-query:
	$(GO) test -run '^$$' -bench . -benchtime 30x -timeout 30m ./query/

# A fresh scry loaded by scry-tracegen (scripts/bench.sh).
bench-e2e: bin
	./scripts/bench.sh

bin:
	$(GO) build -o bin/ ./cmd/...

lint:
	@out="$$(gofmt -l .)"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

clean:
	rm -rf bin

# Container images, one per binary, from deploy/docker/Dockerfile (needs
# Docker with BuildKit; the web UI is built inside the build). Tags
# $(IMAGE_REPO)/<binary>:$(IMAGE_TAG), as the manifests in deploy/ expect.
IMAGE_REPO ?= ghcr.io/scrytrace
IMAGE_TAG  ?= latest
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
DOCKER     ?= docker
IMAGES     := scry scry-collector scry-ingester scry-query scry-agent

images: $(addprefix image-,$(IMAGES))

image-%:
	DOCKER_BUILDKIT=1 $(DOCKER) build -f deploy/docker/Dockerfile --target $* \
		--build-arg VERSION=$(VERSION) -t $(IMAGE_REPO)/$*:$(IMAGE_TAG) .
