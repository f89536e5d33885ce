# spanlog: `make run` starts everything in one process; `make test` installs
# what the tests need into ./bin and runs them.

GO          ?= go
# Tools live in ./bin; targets name them relatively (make bin/minio), and
# go install needs the absolute path.
BIN         := bin
export PATH := $(CURDIR)/bin:$(PATH)

# Pinned tool versions, installed into ./bin by the targets that need them.
STATICCHECK_VERSION  := v0.8.2
TELEMETRYGEN_VERSION := v0.161.0
HELM_VERSION         := v4.3.2
# MinIO has no tagged Go module versions; this pseudo-version is the server
# the object-store tests run against.
MINIO_VERSION        := v0.0.0-20260212201848-7aac2a2c5b7c
# The code generators of make proto. protoc-gen-go is the version of
# google.golang.org/protobuf in go.mod, so that the generated code and the
# runtime it calls agree.
BUF_VERSION                := v1.75.0
PROTOC_GEN_GO_VERSION      = $(shell $(GO) list -m -f '{{.Version}}' google.golang.org/protobuf)
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2

# spanlog's version, in its log when it starts. /api/status/buildinfo
# reports the version of Tempo whose API spanlog serves instead, which
# Grafana reads (cmd/spanlog/server.go, tempoVersion).
VERSION  := 0.4.0
REVISION := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
BRANCH   := $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -X main.version=$(VERSION) -X main.revision=$(REVISION) -X main.branch=$(BRANCH) \
            -X main.buildUser=$(USER) -X main.buildDate=$(shell date -u +%Y-%m-%dT%H:%M:%SZ)

# Tests time out well inside CI's budget; the e2e package builds the binary itself.
TEST_TIMEOUT ?= 12m

# The tests of deploy/ (compose file, dashboards, alert rules) and of the
# Dockerfile are a module of their own: compose-go and Prometheus' rule
# and PromQL parsers stay out of spanlog's go.mod. After a change to
# spanlog's go.mod, run go mod tidy there too.
DEPLOY_CHECK := deploy/check

.PHONY: all build run test unit lint chart-check proto soak bench bench-read bench-compact bench-catchup bench-search-workload bench-memory bench-ingest bench-clean fuzz tools clean

all: build

build: $(BIN)/spanlog

$(BIN)/spanlog: FORCE
	$(GO) build -ldflags '$(LDFLAGS)' -o $@ ./cmd/spanlog

$(BIN)/spanlog-loadgen: FORCE
	$(GO) build -o $@ ./cmd/spanlog-loadgen

## run: all roles in one process, embedded Kafka and local storage under ./data
# RUN_MEMORY_LIMIT is Go's soft memory limit (server.memory-limit-bytes):
# it keeps the collector from letting the heap grow to twice what is live,
# so that under issue 11's load the process stays under 600 MB of RSS
# (docs/benchmarks.md, Memory under load). 0 leaves it to GOMEMLIMIT.
RUN_MEMORY_LIMIT ?= 536870912
# RUN_GOMAXPROCS (server.gomaxprocs) is two threads more than the CPUs:
# with every role in one process, the block-builders' and the live tail's
# CPU-bound work would otherwise hold every thread while writes wait to
# be woken (docs/design.md, Threads of one process). 0 leaves it to Go.
RUN_GOMAXPROCS ?= $(shell echo $$(( $$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1) + 2 )))
# RUN_PARTITIONS (kafka.partitions) are the partitions of the embedded
# Kafka's topic when make run creates it; a data directory made before
# keeps its own. One process reads them all, so more partitions spread no
# work; but a write touches most of them, and each one touched costs the
# group commit's round another fdatasync. Two keep the block-builder's two
# flush slots busy (docs/design.md, Ack means on disk).
RUN_PARTITIONS ?= 2
run: build
	$(BIN)/spanlog -target=all -server.memory-limit-bytes=$(RUN_MEMORY_LIMIT) -server.gomaxprocs=$(RUN_GOMAXPROCS) -kafka.partitions=$(RUN_PARTITIONS)

## test: vet, staticcheck, and every test (unit, integration on kfake and MinIO, end to end with telemetrygen)
# -count=1: tests always run, never answered from Go's test cache. The
# end-to-end package runs verbosely: the fault-injection test prints its
# counts (acked, found, duplicates, missing).
test: lint chart-check $(BIN)/minio $(BIN)/telemetrygen $(BIN)/otelcol-spanlog
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $$($(GO) list ./... | grep -v /e2e$$)
	cd $(DEPLOY_CHECK) && $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) -v ./e2e/

lint: $(BIN)/staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt needed'; exit 1; }
	$(GO) vet ./...
	$(BIN)/staticcheck ./...
	cd $(DEPLOY_CHECK) && $(GO) vet ./... && $(CURDIR)/$(BIN)/staticcheck ./...

CHART := deploy/helm/spanlog

## chart-check: helm lint of deploy/helm/spanlog with each values file of its ci/, and its manifests rendered with each and checked against the Kubernetes API types (deploy/helm/chartcheck, a module of its own); cmd/spanlog's tests load each pod's configuration
chart-check: $(BIN)/helm $(BIN)/staticcheck
	for f in $(CHART)/ci/*.yaml; do $(BIN)/helm lint --strict $(CHART) -f $$f || exit 1; done
	cd deploy/helm/chartcheck && $(GO) vet ./... && $(CURDIR)/$(BIN)/staticcheck ./... && $(GO) test -count=1 ./...

## soak: SOAK_DURATION (10m) of steady load with days compressed into minutes, in one process and one per role on MinIO: blocks, bucket and log bytes and RSS must level off, every acked trace within retention be found once, and those past it be gone
# make test runs a minute of it (TestSoak without SPANLOG_SOAK_DURATION).
# SOAK_FLAGS adds flags to every process, e.g. -compactor.block-retention=0
# to watch the soak fail.
SOAK_DURATION ?= 10m
soak: $(BIN)/minio
	SPANLOG_SOAK_DURATION=$(SOAK_DURATION) SPANLOG_SOAK_FLAGS='$(SOAK_FLAGS)' \
		$(GO) test -count=1 -timeout 3h -run '^TestSoak$$' -v ./e2e/

# The read-path benchmarks over millions of spans; make bench leaves them
# to make bench-read.
READ_BENCHMARKS := ^(BenchmarkTraceByIDBlocks|BenchmarkSearch|BenchmarkSearchBlocks)$$
# The merge of 1,000 blocks; make bench leaves it to make bench-compact.
COMPACT_BENCHMARKS := ^BenchmarkCompact$$/^inputs=1000/
# Where bench-read keeps its datasets between runs (internal/blocktest).
SPANLOG_BENCH_DATA ?= $(or $(TMPDIR),/tmp)/spanlog-bench-data
export SPANLOG_BENCH_DATA

## bench: the benchmarks behind docs/benchmarks.md, but for bench-read's
bench: $(BIN)/minio
	$(GO) test -run '^$$' -bench . -skip '$(COMPACT_BENCHMARKS)' -benchmem -benchtime 2s ./producer/ ./block/
	$(GO) test -run '^$$' -bench . -skip '$(READ_BENCHMARKS)' -benchtime 3x ./blocklist/ ./querier/

## bench-read: trace by ID over 1,000 and 10,000 blocks, before and after compaction, and search over 5 million spans, in MinIO and a local dir; the first run builds the datasets into SPANLOG_BENCH_DATA (~2 GB, some minutes)
# Lookups that open every block (cold, and warm-default over 10,000 blocks)
# take seconds each: fewer of them.
bench-read: $(BIN)/minio
	$(GO) test -run '^$$' -bench 'TraceByIDBlocks/blocks=1000$$/cold' -benchtime 50x -timeout 60m ./querier/
	$(GO) test -run '^$$' -bench 'TraceByIDBlocks/blocks=10000/(cold|warm-default)' -benchtime 5x -timeout 60m ./querier/
	$(GO) test -run '^$$' -bench 'TraceByIDBlocks/compacted=.*/cold' -benchtime 20x -timeout 60m ./querier/
	$(GO) test -run '^$$' -bench 'TraceByIDBlocks/.*/warm$$' -benchtime 400x -timeout 60m ./querier/
	$(GO) test -run '^$$' -bench '^BenchmarkSearch$$' -benchtime 1x -timeout 60m ./querier/
	$(GO) test -run '^$$' -bench '^BenchmarkSearchBlocks$$' -benchtime 1x -timeout 60m ./querier/

## bench-compact: the merge of 10, 100 and 1,000 blocks (block.Compact), throughput and peak heap; the first run builds the datasets into SPANLOG_BENCH_DATA (~400 MB)
bench-compact:
	$(GO) test -run '^$$' -bench '^BenchmarkCompact$$' -benchtime 1x -timeout 60m ./block/

## bench-catchup: a block-builder drains CATCHUP_BACKLOG of load-generator traffic at CATCHUP_RATE traces/s; time and peak RSS, against CATCHUP_BASELINE (another spanlog binary) when set
CATCHUP_BACKLOG ?= 5m
CATCHUP_RATE    ?= 100
CATCHUP_PARTITIONS ?= 8
bench-catchup:
	SPANLOG_CATCHUP_BACKLOG=$(CATCHUP_BACKLOG) SPANLOG_CATCHUP_RATE=$(CATCHUP_RATE) SPANLOG_CATCHUP_PARTITIONS=$(CATCHUP_PARTITIONS) SPANLOG_CATCHUP_BASELINE=$(CATCHUP_BASELINE) \
		$(GO) test -count=1 -timeout 90m -run '^TestCatchUpBacklog$$' -v ./e2e/

## bench-search-workload: issue 11's search table: SEARCH_SPANS of load-generator traffic into a fresh bin/spanlog (all roles, temporary data dir), then its ten default searches as Grafana makes them (limit 20, spss 3), SEARCH_REPEAT times each, once the block-builders caught up (SEARCH_AFTER=load: right after the load)
SEARCH_SPANS  ?= 1400000
SEARCH_REPEAT ?= 5
SEARCH_AFTER  ?= blocks
bench-search-workload: $(BIN)/spanlog $(BIN)/spanlog-loadgen
	BIN=$(BIN) SEARCH_SPANS=$(SEARCH_SPANS) SEARCH_REPEAT=$(SEARCH_REPEAT) SEARCH_AFTER=$(SEARCH_AFTER) \
		scripts/bench-search-workload.sh

## bench-memory: issue 11's memory under load: MEMORY_SPANS of load-generator traffic, as fast as it is acked, into a fresh bin/spanlog with make run's settings (temporary data dir, free ports); peak RSS during and after the load, with the machine's load average. MEMORY_FLAGS adds flags
MEMORY_SPANS ?= 1400000
MEMORY_AFTER ?= 60
bench-memory: $(BIN)/spanlog $(BIN)/spanlog-loadgen
	BIN=$(BIN) MEMORY_SPANS=$(MEMORY_SPANS) MEMORY_AFTER=$(MEMORY_AFTER) \
		MEMORY_FLAGS='-server.memory-limit-bytes=$(RUN_MEMORY_LIMIT) -server.gomaxprocs=$(RUN_GOMAXPROCS) -kafka.partitions=$(RUN_PARTITIONS) $(MEMORY_FLAGS)' scripts/bench-memory.sh

## bench-ingest: -target=all on a fresh data directory, INGEST_WORKERS OTLP clients sending 20 traces of 10 spans per request as fast as they are acked, for INGEST_DURATION: spans/s, export p50/p99, and the CPU of spanlog and of the load generator per acked span
# spanlog runs with make run's RUN_GOMAXPROCS and RUN_PARTITIONS. The ingestion rate limit (15 MiB/s per tenant, ~39,000 spans/s of this
# load) is off: the bench measures the write path, not the limit.
# INGEST_FLAGS adds flags to spanlog; INGEST_CLIENT=collector has the load
# generator build its requests as the Collector does, at a third of the
# SDK's CPU per span (docs/benchmarks.md, *The load generator's own cost*).
INGEST_DURATION ?= 30s
INGEST_WORKERS  ?= 4
INGEST_CLIENT   ?= sdk
bench-ingest: build
	@set -e; dir=$$(mktemp -d); trap 'kill $$pid 2>/dev/null; wait $$pid 2>/dev/null; rm -rf "$$dir"' EXIT; \
	$(GO) build -o "$$dir/spanlog-loadgen" ./cmd/spanlog-loadgen; \
	$(BIN)/spanlog -target=all -limits.ingestion-rate-bytes=0 -server.gomaxprocs=$(RUN_GOMAXPROCS) -kafka.partitions=$(RUN_PARTITIONS) -embedded-kafka.port=0 \
		-embedded-kafka.data-dir="$$dir/kafka" -storage.local.path="$$dir/blocks" \
		-distributor.grpc-listen-address=127.0.0.1:0 -distributor.http-listen-address=127.0.0.1:0 \
		-server.http-listen-address=127.0.0.1:0 -server.internal-listen-address=127.0.0.1:0 \
		$(INGEST_FLAGS) >"$$dir/spanlog.log" 2>&1 & pid=$$!; \
	for i in $$(seq 300); do grep -q 'msg="distributor ready"' "$$dir/spanlog.log" && break; kill -0 $$pid || { cat "$$dir/spanlog.log"; exit 1; }; sleep 0.1; done; \
	otlp=$$(sed -n 's/.*msg="distributor serving OTLP".* grpc=\([^ ]*\).*/\1/p' "$$dir/spanlog.log"); \
	cpu() { awk '{print $$14 + $$15}' /proc/$$pid/stat; }; \
	echo "load before: $$(cat /proc/loadavg)"; \
	t0=$$(cpu); s0=$$(date +%s.%N); \
	"$$dir/spanlog-loadgen" -endpoint "$$otlp" -client $(INGEST_CLIENT) -workers $(INGEST_WORKERS) -batch-traces 20 -spans-per-trace 10 \
		-services 10 -rate 0 -duration $(INGEST_DURATION) >"$$dir/loadgen.out"; \
	t1=$$(cpu); s1=$$(date +%s.%N); \
	tail -5 "$$dir/loadgen.out"; \
	acked=$$(sed -n 's/^acked: *\([0-9]*\) spans.*/\1/p' "$$dir/loadgen.out"); \
	awk -v t0=$$t0 -v t1=$$t1 -v s0=$$s0 -v s1=$$s1 -v hz=$$(getconf CLK_TCK) -v acked=$${acked:-0} -v load="$$(cat /proc/loadavg)" \
		'BEGIN { cpu = (t1 - t0) / hz; printf "spanlog CPU: %.2f cores, %.1f µs per acked span; load after: %s\n", cpu / (s1 - s0), acked ? cpu * 1e6 / acked : 0, load }'

## bench-clean: delete bench-read's cached datasets
bench-clean:
	rm -rf '$(SPANLOG_BENCH_DATA)'

## fuzz: each fuzz target for FUZZTIME
# FUZZMINIMIZE bounds the runs spent shrinking each new interesting input.
# Go's default, 60 s each, left FuzzRowDecoder at 17 execs in 30 s from
# its seeds, and 5 s each at 300 to 400 in 90 s: the fuzzer spent its time
# minimizing the inputs its first mutations found, not mutating. With 200
# runs each, about 4,000 execs/s on this machine.
FUZZTIME ?= 30s
FUZZMINIMIZE ?= 200x
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzAnyValue$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./schema/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeRecord$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./schema/
	$(GO) test -run '^$$' -fuzz '^FuzzRowDecoder$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./schema/
	$(GO) test -run '^$$' -fuzz '^FuzzSpanFilter$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./schema/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeResourceScope$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./schema/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeEventsLinks$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./schema/
	$(GO) test -run '^$$' -fuzz '^FuzzHTTPDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./producer/
	$(GO) test -run '^$$' -fuzz '^FuzzProtoDepth$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./producer/
	$(GO) test -run '^$$' -fuzz '^FuzzJSONDepth$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./producer/
	$(GO) test -run '^$$' -fuzz '^FuzzWireSplit$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./producer/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./querier/traceql/
	$(GO) test -run '^$$' -fuzz '^FuzzParseMetrics$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./querier/traceql/
	$(GO) test -run '^$$' -fuzz '^FuzzRegex$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./querier/traceql/

tools: $(BIN)/staticcheck $(BIN)/telemetrygen

## proto: regenerate the Go code of the gRPC API (querier/grpcapi/tempopb) from its .proto files; the generated files are committed, so only a change to them needs this
proto: $(BIN)/buf $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc
	cd querier/grpcapi/proto && $(CURDIR)/$(BIN)/buf generate --path tempopb

$(BIN)/buf:
	GOBIN=$(CURDIR)/$(BIN) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)

$(BIN)/protoc-gen-go:
	GOBIN=$(CURDIR)/$(BIN) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

$(BIN)/protoc-gen-go-grpc:
	GOBIN=$(CURDIR)/$(BIN) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

$(BIN)/staticcheck:
	GOBIN=$(CURDIR)/$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(BIN)/helm:
	GOBIN=$(CURDIR)/$(BIN) $(GO) install helm.sh/helm/v4/cmd/helm@$(HELM_VERSION)

$(BIN)/telemetrygen:
	GOBIN=$(CURDIR)/$(BIN) $(GO) install github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen@$(TELEMETRYGEN_VERSION)

# The OpenTelemetry Collector the e2e tests run on both sides of the
# topic: a module of its own (tools/otelcol), whose go.mod pins the
# Collector and its contrib kafka components; spanlog's module never
# imports it. The first build takes a minute or more.
$(BIN)/otelcol-spanlog: tools/otelcol/go.mod tools/otelcol/go.sum tools/otelcol/main.go
	cd tools/otelcol && $(GO) build -o $(CURDIR)/$@ .

# The S3 tests start this server (internal/miniotest); the first build takes
# minutes, later ones come from the Go build cache.
$(BIN)/minio:
	GOBIN=$(CURDIR)/$(BIN) $(GO) install github.com/minio/minio@$(MINIO_VERSION)

clean:
	rm -rf $(BIN) ./data

FORCE:
