// Package grpcapi serves Grafana Tempo's gRPC query API, the
// StreamingQuerier service of package tempopb, from the same queries as
// the HTTP API of package api: Grafana and tempo-cli stream searches, tag
// lookups and TraceQL metrics over it, on the query port (cmd/spanlog routes gRPC requests
// there to it).
//
// It holds no query logic and no request rules: each method turns its
// request into the HTTP route's parameters and runs the same query,
// through api.API, within the same per-tenant limits, query timeout and
// metrics (api.API.Serve). What it owns is the gRPC side: tenants from
// the X-Scope-OrgID metadata, the streaming of messages, the response
// limit applied to each message, and the one mapping of errors to gRPC
// codes. The generated code is in tempopb, from the .proto files in
// proto/ (make proto).
package grpcapi
