package tenant

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Header carries the tenant ID of a request, the name Grafana, Tempo, Mimir
// and Loki use, so existing proxies and data sources work unchanged.
const Header = "X-Scope-OrgID"

// readSeparator joins several tenants in the header of a read.
const readSeparator = "|"

// headerJoin joins the values of several headers. No tenant ID contains
// it, so a request that names its tenant in two headers is refused rather
// than attributed to whichever header a proxy happened to put first.
const headerJoin = ","

// HeaderValue returns the one value Write and Read take, given every value
// of Header a request carries (HTTP header values or gRPC metadata).
func HeaderValue(values []string) string {
	return strings.Join(values, headerJoin)
}

// ErrMissing is returned when multi-tenancy is on and a request names no
// tenant. HTTP maps it to 401, gRPC to Unauthenticated.
var ErrMissing = errors.New("no tenant ID: the " + Header + " header is required")

// Config says how requests are attributed to tenants.
type Config struct {
	// MultiTenancy makes the tenant header mandatory. When off, every
	// request belongs to Default and the header is ignored. Default false.
	MultiTenancy bool `yaml:"multitenancy-enabled" help:"Require the X-Scope-OrgID header and keep each tenant's data apart."`
	// Default is the tenant of every request when multi-tenancy is off.
	// Default "single-tenant".
	Default string `yaml:"default-tenant" help:"Tenant of all data when multi-tenancy is disabled."`
}

// DefaultConfig returns a single-tenant configuration.
func DefaultConfig() Config {
	return Config{Default: "single-tenant"}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if err := ValidateID(c.Default); err != nil {
		return fmt.Errorf("default tenant: %w", err)
	}
	return nil
}

// Write returns the tenant a write belongs to, given the value of Header.
// A write has exactly one tenant.
func (c Config) Write(headerValue string) (string, error) {
	if !c.MultiTenancy {
		return c.Default, nil
	}
	if headerValue == "" {
		return "", ErrMissing
	}
	if err := checkOneHeader(headerValue); err != nil {
		return "", err
	}
	if err := ValidateID(headerValue); err != nil {
		return "", err
	}
	return headerValue, nil
}

// Read returns the tenants a read covers, given the value of Header: one
// tenant, or several joined by "|", each listed once in the order given.
func (c Config) Read(headerValue string) ([]string, error) {
	if !c.MultiTenancy {
		return []string{c.Default}, nil
	}
	if headerValue == "" {
		return nil, ErrMissing
	}
	if err := checkOneHeader(headerValue); err != nil {
		return nil, err
	}
	var ids []string
	for id := range strings.SplitSeq(headerValue, readSeparator) {
		if err := ValidateID(id); err != nil {
			return nil, err
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func checkOneHeader(headerValue string) error {
	if strings.Contains(headerValue, headerJoin) {
		return fmt.Errorf("%w: several %s headers; send one, with tenants joined by %q", ErrInvalid, Header, readSeparator)
	}
	return nil
}
