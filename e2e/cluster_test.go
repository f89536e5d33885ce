package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/spanlog/spanlog/internal/kafkatest"
)

// cluster is spanlog as production runs it: one process per role, around a
// Kafka that lives in the test process and is reached over TCP.
type cluster struct {
	kafka  *kafkatest.Cluster
	common []string // flags every process gets
}

// newCluster starts Kafka; storage are the -storage.* flags of every role.
func newCluster(t *testing.T, storage ...string) *cluster {
	return newClusterOn(kafkatest.New(t), storage...)
}

// newClusterOn is newCluster on a Kafka the test started, with a data
// directory or broker configs of its own.
func newClusterOn(k *kafkatest.Cluster, storage ...string) *cluster {
	return &cluster{
		kafka:  k,
		common: append(append([]string{"-kafka.brokers=" + strings.Join(k.Brokers(), ",")}, storage...), fastCycles...),
	}
}

// start runs one role and waits until it is ready. Queriers listen for
// each other on an internal port of their own, on loopback as every role
// here.
func (c *cluster) start(t *testing.T, name, target string, extra ...string) *process {
	t.Helper()
	http, args := c.args(t, target, extra...)
	return startProcess(t, name, http, args)
}

// args returns the flags of a process of target, and its HTTP address.
func (c *cluster) args(t *testing.T, target string, extra ...string) (string, []string) {
	t.Helper()
	http := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	args := append([]string{
		"-target=" + target,
		"-server.http-listen-address=" + http,
		fmt.Sprintf("-server.internal-listen-address=127.0.0.1:%d", freePort(t)),
	}, c.common...)
	return http, append(args, extra...)
}

// startDistributor runs a distributor and returns it with its OTLP/gRPC
// address.
func (c *cluster) startDistributor(t *testing.T) (*process, string) {
	t.Helper()
	grpc := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := c.start(t, "distributor", "distributor",
		"-distributor.grpc-listen-address="+grpc,
		fmt.Sprintf("-distributor.http-listen-address=127.0.0.1:%d", freePort(t)))
	return p, grpc
}
