package grpcapi

import (
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc"
)

// Handler serves gRPC requests with g and every other with next, so that
// one port serves both, as Tempo's stream_over_http_enabled does: a gRPC
// request is HTTP/2 (h2c on a plain port) with a Content-Type of
// application/grpc or one of its +proto forms.
//
// A stream's writes end maxStream after it started: a write to a client
// that stopped reading blocks past any context, and would hold its
// handler for as long as the client likes. Its query ends before, at the
// query timeout.
func Handler(g *grpc.Server, next http.Handler, maxStream time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(maxStream))
			g.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
