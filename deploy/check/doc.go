// Package check tests the deployment files under deploy/ with the
// libraries of their own formats, which spanlog itself does not need and
// which stay out of its go.mod: the compose file with compose-go (the
// loader Docker Compose uses), the alert rules with Prometheus' rule and
// PromQL parsers, the Grafana dashboards' queries with the PromQL parser;
// and the repository's Dockerfile, which nothing builds here.
// Every metric a dashboard or rule reads must be one a running spanlog
// exports: the tests start the real binary, exercise it, and scrape it.
//
// It holds tests only; make test runs them.
package check
