#!/usr/bin/env bash
# bench-memory: issue 11's memory under load. It starts bin/spanlog alone
# (-target=all: embedded Kafka, blocks in a local directory, as make run
# does, with MEMORY_FLAGS added) on a new temporary directory and free
# ports, loads MEMORY_SPANS spans from 4 OTLP clients as fast as they are
# acked (20 traces of 10 spans per request, 10 services, the load
# generator's HTTP attributes), and samples the process's resident memory
# every 0.2s during the load and for MEMORY_AFTER seconds after it. It
# prints the peak RSS during the load and after it, the RSS at the end,
# the load average of the machine beside them (it is shared), and the
# ingest rate. The process and the directory go at the end, also on
# failure or Ctrl-C. make bench-memory runs it.
set -euo pipefail

BIN=${BIN:-bin}
MEMORY_SPANS=${MEMORY_SPANS:-1400000}
MEMORY_AFTER=${MEMORY_AFTER:-60}
MEMORY_FLAGS=${MEMORY_FLAGS:-}
SPANS_PER_TRACE=10

dir=$(mktemp -d "${TMPDIR:-/tmp}/spanlog-memory.XXXXXX")
pid=
sampler=
cleanup() {
	[[ -n $sampler ]] && kill "$sampler" 2>/dev/null
	if [[ -n $pid ]]; then
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Free ports everywhere, so that runs beside other spanlogs do not collide;
# the log says where each listener ended up. The ingestion rate limit is
# off: a load sent as fast as it goes may pass the default 15 MB/s.
# shellcheck disable=SC2086 # MEMORY_FLAGS holds several flags
"$BIN/spanlog" -target=all -limits.ingestion-rate-bytes=0 \
	-embedded-kafka.port=0 -embedded-kafka.data-dir="$dir/kafka" -storage.local.path="$dir/blocks" \
	-distributor.grpc-listen-address=127.0.0.1:0 -distributor.http-listen-address=127.0.0.1:0 \
	-server.http-listen-address=127.0.0.1:0 -server.internal-listen-address=127.0.0.1:0 \
	$MEMORY_FLAGS >"$dir/spanlog.log" 2>&1 &
pid=$!
for ((i = 0; ; i++)); do
	kill -0 "$pid" 2>/dev/null || {
		tail -n 20 "$dir/spanlog.log" >&2
		exit 1
	}
	grep -q 'msg="distributor ready"' "$dir/spanlog.log" 2>/dev/null && break
	((i < 600)) || {
		echo "bench-memory: spanlog not started after 60s" >&2
		exit 1
	}
	sleep 0.1
done
otlp=$(sed -n 's/.*msg="distributor serving OTLP".* grpc=\([^ ]*\).*/\1/p' "$dir/spanlog.log")
api=$(sed -n 's/.*msg="spanlog started".* http=\([^ ]*\).*/\1/p' "$dir/spanlog.log")

# cpu is the CPU time spanlog used so far, in clock ticks; gcs the
# collections its runtime ran.
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
gcs() { curl -sf "http://$api/metrics" | awk '/^go_gc_duration_seconds_count / {print $2}'; }

# Samples: milliseconds since the start, VmRSS in KiB, 1-minute load
# average, and every fifth sample the collector's heap goal in bytes
# (without a limit, twice what was live at the last collection).
samples=$dir/samples
(
	start=$(date +%s%N)
	for ((i = 0; ; i++)); do
		rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null) || break
		goal=
		((i % 5)) || goal=$(curl -sf "http://$api/metrics" | awk '/^go_memstats_next_gc_bytes / {printf "%d", $2}')
		echo "$((($(date +%s%N) - start) / 1000000)) $rss $(cut -d' ' -f1 /proc/loadavg) $goal"
		sleep 0.2
	done
) >"$samples" &
sampler=$!

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
cpu0=$(cpu) gc0=$(gcs)
t0=$(date +%s%N)
"$BIN/spanlog-loadgen" -endpoint "$otlp" -rate 0 -workers 4 -batch-traces 20 -spans-per-trace "$SPANS_PER_TRACE" \
	-services 10 -seed 1 -traces $((MEMORY_SPANS / SPANS_PER_TRACE)) >"$dir/loadgen.log" 2>&1 || {
	cat "$dir/loadgen.log" >&2
	exit 1
}
t1=$(date +%s%N)
cpu1=$(cpu) gc1=$(gcs)
load_during=$(cut -d' ' -f1-3 /proc/loadavg)
sleep "$MEMORY_AFTER"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
kill "$sampler" 2>/dev/null
wait "$sampler" 2>/dev/null || true
sampler=

loaded=$(((t1 - t0) / 1000000))
awk -v loaded="$loaded" -v hwm="$hwm" '
	$1 <= loaded { if ($2 > during) during = $2; if ($4 > goal) goal = $4 }
	$1 > loaded { if ($2 > after) after = $2; last = $2 }
	END {
		printf "peak RSS during the load: %d MiB (largest heap goal %d MiB)\n", during / 1024, goal / 1048576
		printf "peak RSS after the load:  %d MiB\n", after / 1024
		printf "RSS at the end:           %d MiB\n", last / 1024
		printf "VmHWM:                    %d MiB\n", hwm / 1024
	}' "$samples"
awk -v c0="$cpu0" -v c1="$cpu1" -v t="$loaded" -v hz="$(getconf CLK_TCK)" -v g="$((gc1 - gc0))" \
	'BEGIN { printf "spanlog during the load:  %.2f cores, %d collections\n", (c1 - c0) / hz / (t / 1000), g }'
echo "load average (1, 5, 15 min): before $load_before; at the end of the load $load_during; at the end $load_after"
grep -E '^(throughput|latency):' "$dir/loadgen.log"
