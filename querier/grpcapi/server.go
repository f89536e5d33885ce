package grpcapi

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/spanlog/spanlog/querier"
	"github.com/spanlog/spanlog/querier/api"
	"github.com/spanlog/spanlog/querier/grpcapi/tempopb"
	"github.com/spanlog/spanlog/tenant"
)

// Server serves tempopb.StreamingQuerier.
type Server struct {
	tempopb.UnimplementedStreamingQuerierServer
	api  *api.API
	q    *querier.Querier
	grpc *grpc.Server
}

// New returns the gRPC query API of q, which a serves over HTTP. Serve it
// with Handler, and end it with Stop.
func New(a *api.API, q *querier.Querier) *Server {
	s := &Server{api: a, q: q, grpc: grpc.NewServer()}
	tempopb.RegisterStreamingQuerierServer(s.grpc, s)
	return s
}

// Handler serves the gRPC requests it receives, and the others with next
// (see the function Handler). A stream's writes end a moment after its
// query's timeout.
func (s *Server) Handler(next http.Handler) http.Handler {
	return Handler(s.grpc, next, s.q.QueryTimeout()+writeGrace)
}

// writeGrace is how long past its query's timeout a stream may still
// write: time to send the status that ends it.
const writeGrace = time.Second

// Stop ends the streams under way, cancelling their queries, and returns
// once their handlers did.
func (s *Server) Stop() {
	s.grpc.Stop()
}

// sender sends the messages of one stream, each within the response
// limit of the stream's tenants, as an HTTP answer is.
type sender[T any] struct {
	stream grpc.ServerStreamingServer[T]
	limit  querier.ResponseLimit
}

func (s sender[T]) send(m *T) error {
	if err := s.limit.Check(proto.Size(any(m).(proto.Message))); err != nil {
		return err
	}
	return s.stream.Send(m)
}

// serve runs one query of route as the HTTP API runs its own (see
// api.API.Serve), for the tenants of the stream's X-Scope-OrgID metadata,
// and returns its error as a gRPC status.
func serve[T any](s *Server, stream grpc.ServerStreamingServer[T], route string, h func(ctx context.Context, tenants []string, out sender[T]) error) error {
	ctx := stream.Context()
	err := s.api.Serve(ctx, route, tenantHeaders(ctx), func(ctx context.Context, tenants []string) error {
		return h(ctx, tenants, sender[T]{stream: stream, limit: s.q.ResponseLimit(tenants)})
	})
	return statusOf(err)
}

// tenantHeaders returns the values of the X-Scope-OrgID metadata of ctx,
// as the HTTP routes see the header's: its name in any case (gRPC's
// metadata keys are lower case), and the blanks around each value
// stripped, which HTTP/1.1 strips before a handler sees them and HTTP/2
// may carry.
func tenantHeaders(ctx context.Context) []string {
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get(tenant.Header)
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = strings.Trim(v, " \t")
	}
	return out
}

// Search streams the traces of the answer as they become certain, most
// recent first, then the answer, as GET /api/search has it.
func (s *Server) Search(req *tempopb.SearchRequest, stream grpc.ServerStreamingServer[tempopb.SearchResponse]) error {
	return serve(s, stream, "grpc_search", func(ctx context.Context, tenants []string, out sender[tempopb.SearchResponse]) error {
		params, err := searchParams(req)
		if err != nil {
			return err
		}
		res, err := s.api.Search(ctx, tenants, params, out.send)
		if err != nil {
			return err
		}
		return out.send(res)
	})
}

// SearchTags sends the answer of GET /api/search/tags.
func (s *Server) SearchTags(req *tempopb.SearchTagsRequest, stream grpc.ServerStreamingServer[tempopb.SearchTagsResponse]) error {
	return serve(s, stream, "grpc_search_tags", func(ctx context.Context, tenants []string, out sender[tempopb.SearchTagsResponse]) error {
		res, err := s.api.TagNames(ctx, tenants, tagsParams(req.Query, req.Start, req.End))
		if err != nil {
			return err
		}
		return out.send(res)
	})
}

// SearchTagsV2 sends the answer of GET /api/v2/search/tags.
func (s *Server) SearchTagsV2(req *tempopb.SearchTagsRequest, stream grpc.ServerStreamingServer[tempopb.SearchTagsV2Response]) error {
	return serve(s, stream, "grpc_search_tags_v2", func(ctx context.Context, tenants []string, out sender[tempopb.SearchTagsV2Response]) error {
		params := tagsParams(req.Query, req.Start, req.End)
		setIf(params, "scope", req.Scope)
		res, err := s.api.TagNamesV2(ctx, tenants, params)
		if err != nil {
			return err
		}
		return out.send(res)
	})
}

// SearchTagValues sends the answer of GET /api/search/tag/{tag}/values.
func (s *Server) SearchTagValues(req *tempopb.SearchTagValuesRequest, stream grpc.ServerStreamingServer[tempopb.SearchTagValuesResponse]) error {
	return serve(s, stream, "grpc_search_tag_values", func(ctx context.Context, tenants []string, out sender[tempopb.SearchTagValuesResponse]) error {
		res, err := s.api.TagValues(ctx, tenants, req.TagName, tagsParams(req.Query, req.Start, req.End))
		if err != nil {
			return err
		}
		return out.send(res)
	})
}

// SearchTagValuesV2 sends the answer of GET
// /api/v2/search/tag/{tag}/values, maxTagValues its limit.
func (s *Server) SearchTagValuesV2(req *tempopb.SearchTagValuesRequest, stream grpc.ServerStreamingServer[tempopb.SearchTagValuesV2Response]) error {
	return serve(s, stream, "grpc_search_tag_values_v2", func(ctx context.Context, tenants []string, out sender[tempopb.SearchTagValuesV2Response]) error {
		params := tagsParams(req.Query, req.Start, req.End)
		setUint(params, "limit", req.MaxTagValues)
		res, err := s.api.TagValuesV2(ctx, tenants, req.TagName, params)
		if err != nil {
			return err
		}
		return out.send(res)
	})
}

// MetricsQueryRange sends the answer of GET /api/metrics/query_range.
func (s *Server) MetricsQueryRange(req *tempopb.QueryRangeRequest, stream grpc.ServerStreamingServer[tempopb.QueryRangeResponse]) error {
	return serve(s, stream, "grpc_metrics_query_range", func(ctx context.Context, tenants []string, out sender[tempopb.QueryRangeResponse]) error {
		params := metricsParams(req.Query, req.Start, req.End)
		if req.Step != 0 {
			params.Set("step", time.Duration(req.Step).String())
		}
		setUint(params, "exemplars", req.Exemplars)
		res, err := s.api.MetricsQueryRange(ctx, tenants, params)
		if err != nil {
			return err
		}
		return out.send(res)
	})
}

// MetricsQueryInstant sends the answer of GET /api/metrics/query.
func (s *Server) MetricsQueryInstant(req *tempopb.QueryInstantRequest, stream grpc.ServerStreamingServer[tempopb.QueryInstantResponse]) error {
	return serve(s, stream, "grpc_metrics_query_instant", func(ctx context.Context, tenants []string, out sender[tempopb.QueryInstantResponse]) error {
		res, err := s.api.MetricsQueryInstant(ctx, tenants, metricsParams(req.Query, req.Start, req.End))
		if err != nil {
			return err
		}
		return out.send(res)
	})
}

// metricsParams returns the parameters of the metrics routes that a
// request's query and times (unix nanoseconds; 0 is absent) mean.
func metricsParams(query string, start, end uint64) url.Values {
	params := url.Values{}
	setIf(params, "q", query)
	for name, ns := range map[string]uint64{"start": start, "end": end} {
		if ns != 0 {
			params.Set(name, strconv.FormatUint(ns, 10))
		}
	}
	return params
}

// searchParams returns the parameters of GET /api/search that req means,
// so that both protocols read them by the same rules: a zero is an absent
// parameter, which is the default (limit and spss) or open (durations and
// times). The legacy tags become its logfmt.
func searchParams(req *tempopb.SearchRequest) (url.Values, error) {
	params := url.Values{}
	setIf(params, "q", req.Query)
	if len(req.Tags) > 0 {
		pairs := make([]string, 0, len(req.Tags))
		for _, k := range slices.Sorted(maps.Keys(req.Tags)) {
			if k == "" || strings.ContainsAny(k, " \t\n=\"") {
				return nil, fmt.Errorf("%w: tag name %q", querier.ErrBadRequest, k)
			}
			pairs = append(pairs, k+"="+strconv.Quote(req.Tags[k]))
		}
		params.Set("tags", strings.Join(pairs, " "))
	}
	if req.MinDurationMs > 0 {
		params.Set("minDuration", strconv.FormatUint(uint64(req.MinDurationMs), 10)+"ms")
	}
	if req.MaxDurationMs > 0 {
		params.Set("maxDuration", strconv.FormatUint(uint64(req.MaxDurationMs), 10)+"ms")
	}
	setUint(params, "limit", req.Limit)
	setUint(params, "spss", req.SpansPerSpanSet)
	setUint(params, "start", req.Start)
	setUint(params, "end", req.End)
	return params, nil
}

// tagsParams returns the parameters every tag route reads.
func tagsParams(query string, start, end uint32) url.Values {
	params := url.Values{}
	setIf(params, "q", query)
	setUint(params, "start", start)
	setUint(params, "end", end)
	return params
}

func setIf(params url.Values, name, v string) {
	if v != "" {
		params.Set(name, v)
	}
}

func setUint(params url.Values, name string, v uint32) {
	if v != 0 {
		params.Set(name, strconv.FormatUint(uint64(v), 10))
	}
}
