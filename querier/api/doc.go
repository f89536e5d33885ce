// Package api serves Grafana Tempo's HTTP query API from a querier: its
// routes, the parsing of their parameters, Tempo's response shapes in JSON
// and protobuf (and, beyond Tempo's, the streamed batch lookup by trace
// ID), and the one mapping of errors to status codes. It calls only the
// exported methods of package querier, which decides the per-tenant
// limits (ReadTenants, Admit, SearchWindow, ResponseLimit), so that any
// other protocol serving the same queries keeps the same ones. Its
// search and tag queries answer Tempo's protobuf messages (package
// tempopb), which the routes render in JSON, and API.Serve runs them for
// another protocol (package grpcapi) as the routes run their own.
//
// It holds no lookup, search or live tail logic: package querier looks
// traces up and searches them, in blocks and in the live tails of
// querier/live. Nor does it serve the queriers' peer routes, which
// querier/live owns and querier.Querier.RegisterPeerRoutes adds to a
// listener of their own.
package api
