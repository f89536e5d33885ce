package block

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// indexObject is the tenant index, beside the tenant's block folders.
const indexObject = "index.json.gz"

// IndexName returns the name of tenant's index object.
func IndexName(tenant string) string {
	return tenant + "/" + indexObject
}

// WriteIndex uploads tenant index x, replacing the previous one.
func WriteIndex(ctx context.Context, bkt objstore.Bucket, x *schema.TenantIndex) error {
	if err := checkTenant(x.Tenant); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	b, err := schema.MarshalTenantIndex(x)
	if err != nil {
		return err
	}
	if err := bkt.Upload(ctx, IndexName(x.Tenant), bytes.NewReader(b)); err != nil {
		return fmt.Errorf("write index of %s: %w", x.Tenant, err)
	}
	return nil
}

// ReadIndex returns tenant's index. A missing index satisfies
// objstore.IsNotExist.
func ReadIndex(ctx context.Context, bkt objstore.Bucket, tenant string) (*schema.TenantIndex, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, fmt.Errorf("read index: %w", err)
	}
	b, err := objstore.ReadAll(ctx, bkt, IndexName(tenant))
	if err != nil {
		return nil, fmt.Errorf("read index of %s: %w", tenant, err)
	}
	x, err := schema.UnmarshalTenantIndex(b)
	if err != nil {
		return nil, err
	}
	if x.Tenant != tenant {
		return nil, fmt.Errorf("read index of %s: index names tenant %s", tenant, x.Tenant)
	}
	return x, nil
}

// ListTenants returns the tenants that have objects in bkt.
func ListTenants(ctx context.Context, bkt objstore.Bucket) ([]string, error) {
	var tenants []string
	err := bkt.List(ctx, "", func(name string) error {
		if t, ok := strings.CutSuffix(name, "/"); ok && checkTenant(t) == nil {
			tenants = append(tenants, t)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	return tenants, nil
}

// ListBlocks returns the IDs of tenant's block folders. A folder whose meta
// is not written yet is listed too: the caller reads the meta to know
// whether the block exists.
func ListBlocks(ctx context.Context, bkt objstore.Bucket, tenant string) ([]uuid.UUID, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, fmt.Errorf("list blocks: %w", err)
	}
	var ids []uuid.UUID
	err := bkt.List(ctx, tenant+"/", func(name string) error {
		dir, ok := strings.CutSuffix(strings.TrimPrefix(name, tenant+"/"), "/")
		if !ok {
			return nil // the index, or another object beside the blocks
		}
		if id, err := uuid.Parse(dir); err == nil {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list blocks of %s: %w", tenant, err)
	}
	return ids, nil
}
