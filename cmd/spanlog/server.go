package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Build information, set at link time by the Makefile (-X main.version=...).
var (
	version   = "0.4.0-dev"
	revision  = "unknown"
	branch    = "unknown"
	buildUser = "unknown"
	buildDate = "unknown"
)

// tempoVersion is the version of Grafana Tempo whose query API spanlog
// serves, which /api/status/buildinfo reports: Grafana's Tempo data
// source reads it as semver to pick what it asks for: from 2.2.0 it
// streams searches over gRPC, from 2.7.0 TraceQL metrics too, both of
// which spanlog serves on the query port; no later version gates
// anything. (The tags and tag values v2 routes it tries first at any
// version.)
// spanlog's own version is in its log when it starts: the data source
// decodes this object strictly, Tempo's fields only.
const tempoVersion = "2.7.0"

// maxProfileSeconds bounds the seconds a profile request may ask for.
const maxProfileSeconds = 120

// profileSeconds refuses a profile request for more than
// maxProfileSeconds, with 400.
func profileSeconds(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query().Get("seconds"); v != "" {
			if n, err := strconv.ParseFloat(v, 64); err != nil || !(n <= maxProfileSeconds) {
				http.Error(w, fmt.Sprintf("seconds=%q: a profile lasts at most %d seconds", v, maxProfileSeconds), http.StatusBadRequest)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// newServer returns the process's HTTP server: the query API when a querier
// runs, and the endpoints every target has. withGRPC, if not nil, wraps
// them in the handler that takes the gRPC requests, HTTP/2 on the same
// port (h2c).
func newServer(cfg ServerConfig, gatherer prometheus.Gatherer, ready func() error, routes func(*http.ServeMux), withGRPC func(http.Handler) http.Handler) (*http.Server, net.Listener, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /api/echo", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, "echo")
	})
	mux.HandleFunc("GET /api/status/buildinfo", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"version":   tempoVersion,
			"revision":  revision,
			"branch":    branch,
			"buildUser": buildUser,
			"buildDate": buildDate,
			"goVersion": runtime.Version(),
		})
	})
	// Go's profiles, as Tempo and Mimir serve them (go tool pprof
	// http://host:3200/debug/pprof/profile), but for the command line,
	// which may hold credentials. A profile over seconds holds its
	// request, and the only CPU profile there can be, that long: it is
	// bounded.
	mux.Handle("GET /debug/pprof/", profileSeconds(http.HandlerFunc(pprof.Index)))
	mux.Handle("GET /debug/pprof/profile", profileSeconds(http.HandlerFunc(pprof.Profile)))
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.Handle("GET /debug/pprof/trace", profileSeconds(http.HandlerFunc(pprof.Trace)))
	if routes != nil {
		routes(mux)
	}
	ln, err := net.Listen("tcp", cfg.HTTPListenAddress)
	if err != nil {
		return nil, nil, fmt.Errorf("http server: %w", err)
	}
	var h http.Handler = mux
	if withGRPC != nil {
		h = withGRPC(mux)
	}
	srv := cfg.httpServer(h)
	// HTTP/1.1 for browsers and curl, HTTP/2 in clear text for gRPC
	// clients, which speak it without a TLS handshake (prior
	// knowledge). The read timeout bounds each HTTP/2 request's body
	// alone, which a streamed search's client sends at once: it never
	// cuts a stream's answer.
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	srv.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: cfg.HTTP2MaxConcurrentStreams}
	return srv, ln, nil
}

// newInternalServer returns the server of the traffic between queriers,
// with routes only: not even /metrics is served where any tenant's data is.
func newInternalServer(cfg ServerConfig, routes func(*http.ServeMux)) *http.Server {
	mux := http.NewServeMux()
	routes(mux)
	return cfg.httpServer(mux)
}

// httpServer returns a server of h within the timeouts of c. It sets no
// write timeout: the query routes bound each answer by its query's
// deadline, and the others answer at once.
func (c ServerConfig) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: c.HTTPReadHeaderTimeout,
		ReadTimeout:       c.HTTPReadTimeout,
		IdleTimeout:       c.HTTPIdleTimeout,
	}
}

// serveErr drops the error Serve returns after Shutdown, which is no failure.
func serveErr(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
