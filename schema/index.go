package schema

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// TenantIndexFormatV1 is the gzip-compressed JSON of TenantIndex.
const TenantIndexFormatV1 = "spanlog-tenant-index-v1"

// TenantIndex lists every block of a tenant, so that a poll of the
// blocklist is one read per tenant instead of a listing plus a read per
// block.
type TenantIndex struct {
	Format  string    `json:"format"`
	Tenant  string    `json:"tenant"`
	BuiltAt time.Time `json:"builtAt"`
	// Committed is the block-builders' committed offset of each partition,
	// read before the blocks were listed. Every block covering offsets below
	// it had been written by then, so it is in Metas: an index is complete
	// up to Committed and makes no promise beyond.
	Committed map[int32]int64 `json:"committed"`
	Metas     []*BlockMeta    `json:"metas"`
}

// Covers reports whether the index holds every block below start, for
// every partition in start.
func (x *TenantIndex) Covers(start map[int32]int64) bool {
	for p, off := range start {
		if x.Committed[p] < off {
			return false
		}
	}
	return true
}

// MarshalTenantIndex encodes x for object storage.
func MarshalTenantIndex(x *TenantIndex) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(x); err != nil {
		return nil, fmt.Errorf("encode tenant index: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("encode tenant index: %w", err)
	}
	return buf.Bytes(), nil
}

// UnmarshalTenantIndex decodes an index written by MarshalTenantIndex.
func UnmarshalTenantIndex(b []byte) (*TenantIndex, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("decode tenant index: %w", err)
	}
	var x TenantIndex
	if err := json.NewDecoder(io.LimitReader(zr, maxIndexBytes)).Decode(&x); err != nil {
		return nil, fmt.Errorf("decode tenant index: %w", err)
	}
	if x.Format != TenantIndexFormatV1 {
		return nil, fmt.Errorf("decode tenant index: unknown format %q", x.Format)
	}
	for _, m := range x.Metas {
		if m == nil || !KnownBlockFormat(m.Format) || m.Tenant != x.Tenant {
			return nil, fmt.Errorf("decode tenant index of %s: invalid block meta", x.Tenant)
		}
	}
	return &x, nil
}

// maxIndexBytes bounds a decompressed index (about a million blocks), so a
// corrupt or hostile object cannot exhaust memory.
const maxIndexBytes = 1 << 30
