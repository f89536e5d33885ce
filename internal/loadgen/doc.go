// Package loadgen sends synthetic traces over OTLP and keeps an exact account
// of which spans the endpoint acknowledged. It serves two users: a
// fault-injection test that kills spanlog processes under load and then
// checks that every acknowledged span is stored exactly once, and the
// throughput figures in docs/benchmarks.md.
//
// Every export request is sent synchronously, without retries, through the
// OpenTelemetry SDK's OTLP exporter or, several times cheaper, as the
// Collector's OTLP exporters send (Config.Client), so each request has
// exactly one outcome: OK acknowledges every span in it, anything else
// fails all of them. A failed request may still have been stored; it is
// counted as failed, never as acknowledged, which is the side a durability
// check needs to err on.
//
// It does not read anything back from the endpoint: comparing what was
// acknowledged with what is stored is the caller's job.
package loadgen
