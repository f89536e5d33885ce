package block

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// ReadMeta returns the meta of block id of tenant. A block whose meta does
// not exist does not exist: the error then satisfies objstore.IsNotExist.
func ReadMeta(ctx context.Context, bkt objstore.Bucket, tenant string, id uuid.UUID) (*schema.BlockMeta, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, fmt.Errorf("read meta of block %s: %w", id, err)
	}
	b, err := objstore.ReadAll(ctx, bkt, MetaName(tenant, id))
	if err != nil {
		return nil, fmt.Errorf("read meta of block %s/%s: %w", tenant, id, err)
	}
	m, err := schema.UnmarshalMeta(b)
	if err != nil {
		return nil, fmt.Errorf("read meta of block %s/%s: %w", tenant, id, err)
	}
	// A meta that names another block was copied or moved by hand;
	// trusting it would serve one tenant's data under another's name.
	if m.Tenant != tenant || m.BlockID != id {
		return nil, fmt.Errorf("read meta of block %s/%s: meta names block %s/%s", tenant, id, m.Tenant, m.BlockID)
	}
	return m, nil
}
