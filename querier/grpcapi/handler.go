package grpcapi

import (
	"net/http"
	"strings"

	"google.golang.org/grpc"
)

// Handler serves gRPC requests with g and every other with next, so that
// one port serves both, as Tempo's stream_over_http_enabled does: a gRPC
// request is HTTP/2 (h2c on a plain port) with a Content-Type of
// application/grpc or one of its +proto forms.
func Handler(g *grpc.Server, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			g.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
