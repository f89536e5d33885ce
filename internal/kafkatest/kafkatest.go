// Package kafkatest is the one place tests get Kafka from: franz-go's kfake
// cluster on a random 127.0.0.1 port, reached over TCP like any broker.
package kafkatest

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Topic is the topic name tests use unless they need their own.
const Topic = "spanlog-test"

// Cluster is a running kfake cluster.
type Cluster struct {
	*kfake.Cluster
}

// New starts a one-broker cluster, closed when the test ends. Extra options
// are passed to kfake (a DataDir, more brokers, broker configs...).
func New(t testing.TB, opts ...kfake.Opt) *Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return &Cluster{c}
}

// Brokers returns the addresses clients connect to.
func (c *Cluster) Brokers() []string { return c.ListenAddrs() }
