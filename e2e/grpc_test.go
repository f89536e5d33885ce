package e2e

import (
	"cmp"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/spanlog/spanlog/querier/grpcapi/tempopb"
)

// A gRPC client streams a search from the HTTP port of spanlog -target=all,
// as Grafana and tempo-cli --use-grpc do, and gets the most recent
// matching traces, as the HTTP API on the same port answers them.
func TestGRPCSearchOnTheQueryPort(t *testing.T) {
	n := newNode(t)
	p := n.start(t)
	sent := sendTraces(t, "grpc", n.OTLPGRPC, "checkout", 12)
	for id, spans := range sendTraces(t, "http", n.OTLPHTTP, "payments", 12) {
		sent[id] = spans
	}
	// The five most recent checkout traces, by the sender's account.
	type started struct {
		id    string
		start time.Time
	}
	var checkout []started
	for id, spans := range sent {
		if service(spans[0]) != "checkout" {
			continue
		}
		first := slices.MinFunc(spans, func(a, b sdktrace.ReadOnlySpan) int { return a.StartTime().Compare(b.StartTime()) })
		checkout = append(checkout, started{id, first.StartTime()})
	}
	slices.SortFunc(checkout, func(a, b started) int { return cmp.Or(b.start.Compare(a.start), cmp.Compare(a.id, b.id)) })
	var want []string
	for _, c := range checkout[:5] {
		want = append(want, c.id)
	}

	conn, err := grpc.NewClient(n.HTTP, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := tempopb.NewStreamingQuerierClient(conn)
	const query = `{ resource.service.name = "checkout" }`
	stream, err := client.Search(context.Background(), &tempopb.SearchRequest{Query: query, Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	var last *tempopb.SearchResponse
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		last = m
	}
	if last == nil {
		t.Fatal("the stream ended without an answer")
	}
	var got []string
	for _, tr := range last.Traces {
		got = append(got, tr.TraceID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("gRPC answer %v, want %v", got, want)
	}

	// HTTP/1.1 on the same port: the same answer.
	resp, err := http.Get("http://" + n.HTTP + "/api/search?limit=5&q=" + url.QueryEscape(query))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var fromHTTP tempopb.SearchResponse
	if resp.StatusCode != http.StatusOK || protojson.Unmarshal(body, &fromHTTP) != nil {
		t.Fatalf("HTTP search: %d %s", resp.StatusCode, body)
	}
	// What was read differs between two searches (the search cache):
	// the traces may not.
	fromHTTP.Metrics, last.Metrics = nil, nil
	if !proto.Equal(&fromHTTP, last) {
		t.Errorf("gRPC answer\n%v\nHTTP answer\n%v", last, &fromHTTP)
	}
	p.stop(t)
}
