// Package producer is the distributor: it receives spans over OTLP (gRPC and
// HTTP), attributes them to a tenant, validates them, enforces the limits
// that must hold before an ack, partitions them by tenant and trace, and
// writes them to the trace log in Kafka. A client gets OK only once Kafka
// acknowledged every record of its request.
//
// It owns nothing stored: the log is Kafka's, the record format schema's,
// the topic's set-up tracelog's, and what a tenant ID may be tenant's. A
// distributor can be killed at any moment without losing acked data.
package producer
