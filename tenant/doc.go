// Package tenant owns who a request belongs to: the header that names the
// tenant, whether multi-tenancy is on, and which tenant IDs are acceptable.
// Tenant IDs become object-storage path segments and Kafka headers, so this
// is the one place that decides what a safe ID is.
//
// It does not authenticate anyone: a proxy in front of spanlog is expected to
// set the header for authenticated users.
package tenant
