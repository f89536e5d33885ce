package grpcapi

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/spanlog/spanlog/querier/grpcapi/tempopb"
)

// endlessQuerier sends search messages until a send fails, and reports
// that error.
type endlessQuerier struct {
	tempopb.UnimplementedStreamingQuerierServer
	returned chan error
}

func (s *endlessQuerier) Search(_ *tempopb.SearchRequest, stream grpc.ServerStreamingServer[tempopb.SearchResponse]) error {
	m := &tempopb.SearchResponse{Message: strings.Repeat("x", 1<<20)}
	for {
		if err := stream.Send(m); err != nil {
			s.returned <- err
			return err
		}
	}
}

// A stream whose client stops reading is cut off at maxStream, rather
// than holding its handler in a blocked write for as long as the client
// likes.
func TestAClientThatStopsReadingIsCutOff(t *testing.T) {
	s := &endlessQuerier{returned: make(chan error, 1)}
	g := grpc.NewServer()
	tempopb.RegisterStreamingQuerierServer(g, s)
	srv := &http.Server{Handler: Handler(g, http.NotFoundHandler(), 200*time.Millisecond), Protocols: new(http.Protocols)}
	srv.Protocols.SetUnencryptedHTTP2(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		_ = srv.Close()
		g.Stop()
	}()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := tempopb.NewStreamingQuerierClient(conn).Search(ctx, &tempopb.SearchRequest{}); err != nil {
		t.Fatal(err)
	}
	// Far longer than maxStream: only a write that blocks for as long as
	// the client likes gets here.
	select {
	case <-s.returned:
	case <-time.After(30 * time.Second):
		t.Fatal("a stream to a client that reads nothing was still writing after 30s")
	}
}
