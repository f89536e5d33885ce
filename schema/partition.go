package schema

import (
	"hash/fnv"

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
