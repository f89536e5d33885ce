package querytest

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// Tenant is the tenant of every request when multi-tenancy is off.
const Tenant = "single-tenant"

// WriteBlock writes td as block n of Tenant. Its Kafka range is on a
// partition the log does not have, so that the block covers, and trims
// from the live tail, no record a test produces.
func WriteBlock(t testing.TB, bkt objstore.Bucket, n int, td ptrace.Traces) *schema.BlockMeta {
	t.Helper()
	b := block.NewBuilder(Tenant, block.DefaultOptions())
	b.Add(td)
	m, err := b.Write(context.Background(), bkt, []schema.OffsetRange{{Partition: int32(1000 + n), Start: 0, End: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
