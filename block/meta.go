package block

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// ErrInvalidMeta is returned (wrapped) for a meta.json that was read but
// is not one this build can use: garbage, cut short, of a newer format, or
// naming another block. Reading it again gives the same answer, unlike an
// error on the way to the bucket.
var ErrInvalidMeta = errors.New("invalid block meta")

// ReadMeta returns the meta of block id of tenant. A block whose meta does
// not exist does not exist: the error then satisfies objstore.IsNotExist.
// A meta that exists but cannot be used satisfies ErrInvalidMeta.
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
		return nil, fmt.Errorf("read meta of block %s/%s: %w: %w", tenant, id, ErrInvalidMeta, err)
	}
	// A meta that names another block was copied or moved by hand;
	// trusting it would serve one tenant's data under another's name.
	if m.Tenant != tenant || m.BlockID != id {
		return nil, fmt.Errorf("read meta of block %s/%s: %w: it names block %s/%s", tenant, id, ErrInvalidMeta, m.Tenant, m.BlockID)
	}
	return m, nil
}
