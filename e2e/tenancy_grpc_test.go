package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/spanlog/spanlog/querier/grpcapi/tempopb"
)

// grpcReadRoutes are the gRPC calls on the query port that would show data
// of a and b if it leaked, the headers sent as metadata. Each answers with
// the HTTP status its code stands for.
func grpcReadRoutes(addr string, a, b *tenantData) []readRoute {
	allIDs := func(ds []*tenantData) []string {
		var ids []string
		for _, d := range ds {
			ids = append(ids, d.ids()...)
		}
		return ids
	}
	search := func(query string) func(*testing.T, [][2]string) (int, []string) {
		return grpcRoute(addr, func(ctx context.Context, c tempopb.StreamingQuerierClient) ([]string, error) {
			stream, err := c.Search(ctx, &tempopb.SearchRequest{Query: query, Limit: 1000})
			if err != nil {
				return nil, err
			}
			var ids []string
			for {
				m, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					return ids, nil
				}
				if err != nil {
					return nil, err
				}
				// Every message but the last holds traces of the
				// last, which holds them all.
				ids = ids[:0]
				for _, tr := range m.Traces {
					ids = append(ids, tr.TraceID)
				}
			}
		})
	}
	services := grpcRoute(addr, func(ctx context.Context, c tempopb.StreamingQuerierClient) ([]string, error) {
		stream, err := c.SearchTagValuesV2(ctx, &tempopb.SearchTagValuesRequest{TagName: "resource.service.name"})
		if err != nil {
			return nil, err
		}
		m, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		var out []string
		for _, v := range m.TagValues {
			out = append(out, v.Type+":"+v.Value)
		}
		return out, nil
	})
	return []readRoute{
		{"gRPC Search {}", search("{}"), allIDs},
		{"gRPC Search b's service", search(fmt.Sprintf(`{ resource.service.name = %q }`, b.service())), func(ds []*tenantData) []string {
			for _, d := range ds {
				if d == b {
					return b.ids()
				}
			}
			return nil
		}},
		{"gRPC SearchTagValuesV2 resource.service.name", services, func(ds []*tenantData) []string {
			var out []string
			for _, d := range ds {
				out = append(out, "string:"+d.service())
			}
			return out
		}},
	}
}

// grpcRoute calls call with headers as metadata, and returns the HTTP
// status the call's code stands for, with what it returned if OK.
func grpcRoute(addr string, call func(context.Context, tempopb.StreamingQuerierClient) ([]string, error)) func(*testing.T, [][2]string) (int, []string) {
	return func(t *testing.T, headers [][2]string) (int, []string) {
		t.Helper()
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		md := metadata.MD{}
		for _, h := range headers {
			// Metadata is printable ASCII: a gRPC client refuses a
			// tab, so it pads with blanks alone.
			md.Append(h[0], strings.ReplaceAll(h[1], "\t", " "))
		}
		got, err := call(metadata.NewOutgoingContext(context.Background(), md), tempopb.NewStreamingQuerierClient(conn))
		switch status.Code(err) {
		case codes.OK:
			return http.StatusOK, got
		case codes.Unauthenticated:
			return http.StatusUnauthorized, nil
		case codes.InvalidArgument:
			return http.StatusBadRequest, nil
		}
		t.Fatalf("gRPC call: %v", err)
		return 0, nil
	}
}
