package producer

import (
	"context"
	"net"
	"net/http"
	"testing"

	"go.uber.org/goleak"

	"github.com/spanlog/spanlog/internal/kafkatest"
)

// TestRunReleasesEverything checks that once Run returns, no goroutine
// started since the distributor was created is left, whoever started it
// (its servers, their connections, its Kafka client), and its ports are
// free again.
func TestRunReleasesEverything(t *testing.T) {
	cluster := kafkatest.New(t)
	before := goleak.IgnoreCurrent()
	d := newDistributor(t, cluster.Brokers(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	<-d.ready
	if err := exportGRPC(t, d.GRPCAddr(), "", testTraces(2, 2, 1)); err != nil {
		t.Fatal(err)
	}
	if code, msg := exportHTTP(t, d.HTTPAddr(), "", testTraces(2, 2, 1)); code != http.StatusOK {
		t.Fatalf("HTTP: %d %s", code, msg)
	}
	http.DefaultClient.CloseIdleConnections()

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	for _, addr := range []string{d.GRPCAddr(), d.HTTPAddr()} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("port still taken after Run: %v", err)
			continue
		}
		ln.Close()
	}
	goleak.VerifyNone(t, append(kafkatest.IgnoreBroker(), before)...)
}
