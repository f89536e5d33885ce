#!/usr/bin/env bash
# bench-search-workload: issue 11's search table on a fresh system. It
# starts bin/spanlog alone (-target=all: embedded Kafka, blocks in a local
# directory, as make run does) on a new temporary directory, loads SEARCH_SPANS
# spans from 4 OTLP clients with a fixed seed (20 traces of 10 spans per
# request, 10 services, the load generator's HTTP attributes), waits until
# the queries can read only blocks (SEARCH_AFTER=blocks) or not at all
# (SEARCH_AFTER=load: live tail and blocks mixed, what a user sees first),
# then runs the load generator's default searches SEARCH_REPEAT times each and
# prints the table. The process and the directory go at the end, also on
# failure or Ctrl-C. make bench-search-workload runs it.
set -euo pipefail

BIN=${BIN:-bin}
SEARCH_SPANS=${SEARCH_SPANS:-1400000}
SEARCH_SEED=${SEARCH_SEED:-1}
SEARCH_REPEAT=${SEARCH_REPEAT:-5}
SEARCH_AFTER=${SEARCH_AFTER:-blocks}
SEARCH_WAIT_TIMEOUT=${SEARCH_WAIT_TIMEOUT:-1800} # seconds the builders get to catch up
# Longer than make run's 30s, so that the slowest query gets a latency
# rather than a 504 (at most 4m40s: compactor.deletion-grace, 5m, must
# exceed it and two blocklist polls).
SEARCH_TIMEOUT=${SEARCH_TIMEOUT:-4m}
# Ports away from make run's, so that both can run at once.
SEARCH_HTTP_PORT=${SEARCH_HTTP_PORT:-13200}
SEARCH_INTERNAL_PORT=${SEARCH_INTERNAL_PORT:-13201}
SEARCH_OTLP_PORT=${SEARCH_OTLP_PORT:-14317}
SEARCH_OTLP_HTTP_PORT=${SEARCH_OTLP_HTTP_PORT:-14318}
SEARCH_KAFKA_PORT=${SEARCH_KAFKA_PORT:-19092}
# More flags for spanlog, split on spaces: -block-builder.cycle-duration=1h
# with SEARCH_AFTER=load keeps every span in the live tail while the
# queries run.
SEARCH_FLAGS=${SEARCH_FLAGS:-}

SPANS_PER_TRACE=10
case $SEARCH_AFTER in blocks | load) ;; *)
	echo "SEARCH_AFTER must be blocks or load, got $SEARCH_AFTER" >&2
	exit 2
	;;
esac
if ! [[ $SEARCH_SPANS =~ ^[0-9]+$ ]] || ((SEARCH_SPANS < SPANS_PER_TRACE || SEARCH_SPANS % SPANS_PER_TRACE != 0)); then
	echo "SEARCH_SPANS must be a positive multiple of $SPANS_PER_TRACE, got $SEARCH_SPANS" >&2
	exit 2
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/spanlog-search-workload.XXXXXX")
pid=
log=${TMPDIR:-/tmp}/spanlog-search-workload.log
cleanup() {
	local status=$?
	if [[ -n $pid ]]; then
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	if ((status != 0)) && [[ -f $dir/spanlog.log ]]; then
		cp "$dir/spanlog.log" "$log" && echo "bench-search-workload: spanlog's log is in $log" >&2
	fi
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

api=127.0.0.1:$SEARCH_HTTP_PORT
read -ra search_flags <<<"$SEARCH_FLAGS"
# Beyond make run's settings: the ports; a query timeout that lets the
# slowest query finish; and no ingestion rate limit, as a load sent as fast
# as it goes may pass the default 15 MB/s on a fast machine, and a 429
# would leave the data set short.
"$BIN/spanlog" -target=all \
	-server.http-listen-address="$api" \
	-server.internal-listen-address=127.0.0.1:"$SEARCH_INTERNAL_PORT" \
	-distributor.grpc-listen-address=127.0.0.1:"$SEARCH_OTLP_PORT" \
	-distributor.http-listen-address=127.0.0.1:"$SEARCH_OTLP_HTTP_PORT" \
	-embedded-kafka.port="$SEARCH_KAFKA_PORT" \
	-embedded-kafka.data-dir="$dir/kafka" \
	-storage.local.path="$dir/blocks" \
	-querier.query-timeout="$SEARCH_TIMEOUT" \
	-limits.ingestion-rate-bytes=0 \
	${search_flags[@]+"${search_flags[@]}"} \
	>"$dir/spanlog.log" 2>&1 &
pid=$!

# fail says why the run stops, with the end of spanlog's log.
fail() {
	echo "bench-search-workload: $*" >&2
	echo "--- last lines of spanlog's log:" >&2
	tail -n 20 "$dir/spanlog.log" >&2
	exit 1
}

for ((i = 0; ; i++)); do
	kill -0 "$pid" 2>/dev/null || fail "spanlog exited before it was ready"
	[[ $(curl -s -o /dev/null -w '%{http_code}' "http://$api/ready") == 200 ]] && break
	((i < 600)) || fail "spanlog not ready after 60s"
	sleep 0.1
done

# rss is spanlog's resident memory, as the kernel reports it.
rss() { awk '/^VmRSS/ {printf "%.0f MB", $2 / 1024}' "/proc/$pid/status"; }

echo "== loading $SEARCH_SPANS spans into spanlog (pid $pid, data in $dir)"
start=$(date +%s)
"$BIN/spanlog-loadgen" -endpoint 127.0.0.1:"$SEARCH_OTLP_PORT" -rate 0 -workers 4 -batch-traces 20 \
	-spans-per-trace "$SPANS_PER_TRACE" -services 10 -seed "$SEARCH_SEED" -traces $((SEARCH_SPANS / SPANS_PER_TRACE)) ||
	fail "the load generator did not get every span acked"
end=$(date +%s)
echo "== loaded in $((end - start))s; spanlog RSS $(rss)"

# blocks says how many blocks the querier knows, and how many the compactor
# merged so far: a merge while the queries run takes its share of the CPU.
blocks() {
	curl -sf "http://$api/metrics" | awk '
		/^spanlog_blocklist_blocks\{component="querier"/ { b += $2 }
		/^spanlog_compactor_compacted_blocks_total / { c = $2 }
		END { printf "%d blocks, %d merged by the compactor so far", b, c }'
}

# metric_state prints, from one scrape of /metrics, the block-builders'
# lag, the live tail's lag (both in records, and how many partitions
# report one) and the records the live tail holds.
metric_state() {
	curl -sf "http://$api/metrics" | awk '
		/^spanlog_block_builder_lag_records\{/ { bl += $2; bn++ }
		/^spanlog_querier_live_tail_lag_records\{/ { ll += $2; ln++ }
		/^spanlog_querier_live_records / { live = $2 }
		END { printf "%d %d %d %d %d\n", bl, bn, ll, ln, live }'
}

if [[ $SEARCH_AFTER == blocks ]]; then
	# Caught up: every partition's records are in blocks, the live tail
	# has read the whole log, and it holds nothing, as the querier knows
	# blocks covering all it read. Queries then read blocks only.
	echo "== waiting for the block-builders to catch up and the querier to know their blocks"
	waited=$(date +%s)
	last=0
	while :; do
		read -r bl bn ll ln live < <(metric_state || echo "-1 0 -1 0 -1")
		((bn > 0 && bl == 0 && ln > 0 && ll == 0 && live == 0)) && break
		now=$(date +%s)
		((now - waited < SEARCH_WAIT_TIMEOUT)) || fail "not caught up after ${SEARCH_WAIT_TIMEOUT}s"
		if ((now - last >= 10)); then
			echo "   $((now - waited))s: block-builder lag $bl records, live tail lag $ll records, live tail holds $live records"
			last=$now
		fi
		sleep 1
	done
	echo "== caught up $(($(date +%s) - waited))s after the load; spanlog RSS $(rss)"
fi

echo "== searching: $(blocks)"
"$BIN/spanlog-loadgen" search -endpoint "http://$api" -start "$start" -end $((end + 1)) \
	-repeat "$SEARCH_REPEAT" -request-timeout "$SEARCH_TIMEOUT"
echo "== searched: $(blocks); spanlog RSS $(rss)"
