package schema

import (
	"encoding/hex"
	"hash/fnv"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Partition returns the log partition that holds the spans of traceID for
// tenant, out of n partitions. It is stable across processes and releases:
// the distributor writes with it and the querier reads with it, so changing
// it would hide traces already written.
func Partition(tenant string, traceID pcommon.TraceID, n int32) int32 {
	h := fnv.New64a()
	h.Write([]byte(tenant))
	h.Write([]byte{0}) // separates tenant "ab"+id from "a"+"b"+id
	h.Write(traceID[:])
	return int32(h.Sum64() % uint64(n))
}

// CollectorPartition returns the partition, out of n, where an OpenTelemetry
// Collector's kafka exporter with partition_traces_by_id writes the spans
// of traceID: it keys each record with the trace ID in lowercase hex, and
// its default record partitioner hashes keys as Sarama did (FNV-1a, 32
// bits, taken as a signed number, mod n, sign dropped).
func CollectorPartition(traceID pcommon.TraceID, n int32) int32 {
	var key [2 * len(pcommon.TraceID{})]byte
	hex.Encode(key[:], traceID[:])
	return int32(kgo.SaramaCompatHasher(fnv32a)(key[:], int(n)))
}

func fnv32a(key []byte) uint32 {
	h := fnv.New32a()
	h.Write(key)
	return h.Sum32()
}

// TracePartitions returns the partitions, out of n, that may hold spans of
// traceID for tenant, appended to dst: the distributor's (Partition) and
// the Collector's kafka exporter's (CollectorPartition), once each. Readers
// of a trace read both, so that records another writer partitioned by
// trace ID are found as surely as spanlog's own.
func TracePartitions(dst []int32, tenant string, traceID pcommon.TraceID, n int32) []int32 {
	p, c := Partition(tenant, traceID, n), CollectorPartition(traceID, n)
	if p == c {
		return append(dst, p)
	}
	return append(dst, p, c)
}
