// Package kafkatest is the one place tests get Kafka from: franz-go's kfake
// cluster on a random 127.0.0.1 port, reached over TCP like any broker.
package kafkatest

import (
	"net"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/tracelog"
)

// Topic is the topic name tests use unless they need their own.
const Topic = "spanlog-test"

// Cluster is a running kfake cluster.
type Cluster struct {
	*kfake.Cluster
	// opts are what the cluster was started with, its ports included, so
	// that Restart can start it again as it was.
	opts []kfake.Opt
}

// New starts a one-broker cluster, closed when the test ends. Extra options
// are passed to kfake (a DataDir, more brokers, broker configs...).
func New(t testing.TB, opts ...kfake.Opt) *Cluster {
	t.Helper()
	c := &Cluster{opts: append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)}
	c.start(t)
	var ports []int
	for _, addr := range c.ListenAddrs() {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("kfake address %q: %v", addr, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			t.Fatalf("kfake address %q: %v", addr, err)
		}
		ports = append(ports, p)
	}
	c.opts = append(c.opts, kfake.Ports(ports...))
	return c
}

// Restart starts the cluster again after Close, with the same options and
// on the same ports, so that clients find it where it was: what they see of
// a Kafka outage that ends. It holds what it held only if it was started
// with a kfake.DataDir. The test fails if a port was taken meanwhile.
func (c *Cluster) Restart(t testing.TB) {
	t.Helper()
	c.Close()
	c.start(t)
}

func (c *Cluster) start(t testing.TB) {
	t.Helper()
	kc, err := kfake.NewCluster(c.opts...)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(kc.Close)
	c.Cluster = kc
}

// Brokers returns the addresses clients connect to.
func (c *Cluster) Brokers() []string { return c.ListenAddrs() }

// Log returns the configuration of a trace log on c: topic Topic with the
// given partitions, created before Log returns.
func (c *Cluster) Log(t testing.TB, partitions int32) tracelog.Config {
	t.Helper()
	log := tracelog.DefaultConfig()
	log.Brokers, log.Topic, log.Partitions = c.Brokers(), Topic, partitions
	cl, err := kgo.NewClient(log.ClientOpts("kafkatest")...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := tracelog.EnsureTopic(t.Context(), cl, log); err != nil {
		t.Fatalf("create topic %s: %v", Topic, err)
	}
	return log
}
