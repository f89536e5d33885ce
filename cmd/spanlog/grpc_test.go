package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/spanlog/spanlog/querier/grpcapi"
	"github.com/spanlog/spanlog/querier/grpcapi/tempopb"
)

// slowQuerier streams two search messages wait apart, or, if wait is
// zero, one and then nothing until its stream ends; started receives a
// value once a search is under way, and ended once it returned.
type slowQuerier struct {
	tempopb.UnimplementedStreamingQuerierServer
	wait           time.Duration
	started, ended chan struct{}
}

func (s *slowQuerier) Search(_ *tempopb.SearchRequest, stream grpc.ServerStreamingServer[tempopb.SearchResponse]) error {
	defer func() { s.ended <- struct{}{} }()
	if err := stream.Send(&tempopb.SearchResponse{}); err != nil {
		return err
	}
	s.started <- struct{}{}
	if s.wait == 0 {
		<-stream.Context().Done()
		return stream.Context().Err()
	}
	time.Sleep(s.wait)
	return stream.Send(&tempopb.SearchResponse{})
}

// serveSlow serves s on the HTTP server of cfg, and returns it with a
// gRPC client of it and its address.
func serveSlow(t *testing.T, cfg ServerConfig, s *slowQuerier) (listening, tempopb.StreamingQuerierClient, string) {
	t.Helper()
	cfg.HTTPListenAddress = "127.0.0.1:0"
	g := grpc.NewServer()
	tempopb.RegisterStreamingQuerierServer(g, s)
	withGRPC := func(h http.Handler) http.Handler { return grpcapi.Handler(g, h, time.Minute) }
	srv, ln, err := newServer(cfg, prometheus.NewRegistry(), func() error { return nil }, nil, withGRPC)
	if err != nil {
		t.Fatal(err)
	}
	l := listening{name: "http server", srv: srv, ln: ln, stopStreams: g.Stop}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		g.Stop()
	})
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return l, tempopb.NewStreamingQuerierClient(conn), ln.Addr().String()
}

// A gRPC stream on the HTTP port outlives server.http-read-timeout, which
// bounds the reading of a request, not the answer; and the port still
// serves HTTP/1.1.
func TestGRPCStreamOutlivesTheReadTimeout(t *testing.T) {
	cfg := defaultConfig().Server
	cfg.HTTPReadTimeout = 100 * time.Millisecond
	// The second message comes well after the read timeout: waiting
	// that long is the point.
	s := &slowQuerier{wait: 5 * cfg.HTTPReadTimeout, started: make(chan struct{}, 1), ended: make(chan struct{}, 1)}
	_, client, addr := serveSlow(t, cfg, s)
	stream, err := client.Search(context.Background(), &tempopb.SearchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := stream.Recv(); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("end of stream: %v", err)
	}
	resp, err := http.Get("http://" + addr + "/api/echo")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "echo" || resp.ProtoMajor != 1 {
		t.Errorf("HTTP/1.1 GET /api/echo: %s %d %q", resp.Proto, resp.StatusCode, body)
	}
}

// A graceful shutdown ends the gRPC streams still open when its grace is
// over: their handlers return, and their clients see the stream end.
func TestShutdownEndsGRPCStreams(t *testing.T) {
	s := &slowQuerier{started: make(chan struct{}, 1), ended: make(chan struct{}, 1)}
	l, client, _ := serveSlow(t, defaultConfig().Server, s)
	stream, err := client.Search(context.Background(), &tempopb.SearchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	<-s.started
	grace, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	stopped := make(chan struct{})
	go func() {
		l.shutdown(grace)
		close(stopped)
	}()
	select {
	case <-s.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream's handler still runs 10s after the grace")
	}
	<-stopped
	if _, err := stream.Recv(); err == nil {
		t.Error("the client's stream still open after the shutdown")
	}
}
