// Package producer is the distributor: it receives spans over OTLP (gRPC and
// HTTP), attributes them to a tenant, validates them, enforces the limits
// that must hold before an ack (its own bounds on one request, checked
// before the request is decoded where decoding is what they guard, and each
// tenant's limits, which package limits holds), partitions them by tenant
// and trace, and writes them to the trace log in Kafka. A client gets OK only once Kafka
// acknowledged every record of its request.
//
// While Kafka is down or slow, requests fail with Unavailable (HTTP 503)
// within the write timeout, and at once when the records waiting for Kafka
// reach max-buffered-bytes, so memory stays bounded; both replies tell the
// client how long to back off. Writes succeed again as soon as Kafka is
// back, without a restart. When Run's context ends, the distributor stops
// accepting, lets the requests in flight get their ack or fail, and
// returns.
//
// It owns nothing stored: the log is Kafka's, the record format schema's,
// the topic's set-up tracelog's, and what a tenant ID may be tenant's. A
// distributor can be killed at any moment without losing acked data.
package producer
