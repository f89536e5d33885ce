// Package querybench measures searches as a Grafana user makes them: it
// runs TraceQL queries through a querier's GET /api/search with the
// parameters Grafana's Tempo data source sends by default (limit 20, spss 3,
// start and end in unix seconds), each several times, and reports their
// latency, how many traces each answer held, and what the querier says it
// inspected.
//
// It only reads. Loading the data it searches is internal/loadgen's job,
// and DefaultQueries is written for the traces loadgen sends.
package querybench
