package block

import (
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// A block's objects live under <tenant>/<blockID>/.
const (
	dataObject = "data.parquet"
	metaObject = "meta.json"
)

// Prefix returns the prefix of every object of block id of tenant.
func Prefix(tenant string, id uuid.UUID) string {
	return tenant + "/" + id.String() + "/"
}

// DataName returns the name of the Parquet object of block id of tenant.
func DataName(tenant string, id uuid.UUID) string {
	return Prefix(tenant, id) + dataObject
}

// MetaName returns the name of the meta.json object of block id of tenant.
func MetaName(tenant string, id uuid.UUID) string {
	return Prefix(tenant, id) + metaObject
}

// checkTenant rejects tenants that would not be exactly one segment of an
// object name, and so could read or overwrite another tenant's blocks.
func checkTenant(tenant string) error {
	if tenant == "" || tenant == "." || tenant == ".." || strings.Contains(tenant, "/") {
		return fmt.Errorf("invalid tenant %q", tenant)
	}
	return nil
}
