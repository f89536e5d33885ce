package main

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// A client that never finishes its headers (slowloris) is cut off after
// server.http-read-header-timeout, on the HTTP server and on the internal
// listener alike, rather than holding a connection for as long as it
// likes.
func TestSlowHeadersAreCutOff(t *testing.T) {
	cfg := defaultConfig().Server
	cfg.HTTPListenAddress = "127.0.0.1:0"
	cfg.HTTPReadHeaderTimeout = 100 * time.Millisecond
	api, apiLn, err := newServer(cfg, prometheus.NewRegistry(), func() error { return nil }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	internalLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	internal := newInternalServer(cfg, func(*http.ServeMux) {})
	for _, s := range []listening{{name: "http server", srv: api, ln: apiLn}, {name: "internal listener", srv: internal, ln: internalLn}} {
		go s.srv.Serve(s.ln)
		t.Cleanup(func() { s.srv.Close() })

		conn, err := net.Dial("tcp", s.ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, "GET /ready HTTP/1.1\r\nHost: spanlog\r\nX-Slow: "); err != nil {
			t.Fatal(err)
		}
		// Far longer than the timeout: only a server that never cuts the
		// client off gets here.
		if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(conn); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s: the connection of a client that never finished its headers was still open after 30s", s.name)
		}
	}
}

// The internal listener is on loopback when every querier that may ask
// this one runs on its host, and on every interface otherwise; a querier
// advertises the port it listens on, at its host name when it listens on
// every interface.
func TestInternalListenAddress(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "127.0.0.1:3201"},
		{[]string{"-embedded-kafka.enabled=false"}, ":3201"},
		{[]string{"-target=querier"}, ":3201"},
		{[]string{"-target=querier", "-server.internal-listen-address=10.0.0.7:4000"}, "10.0.0.7:4000"},
	} {
		cfg, err := load(t, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.internalListenAddress(); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.args, got, tc.want)
		}
	}

	hostname, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	bound := &net.TCPAddr{IP: net.IPv6unspecified, Port: 43210}
	for listen, want := range map[string]string{
		"127.0.0.1:0":  "127.0.0.1:43210",
		"10.0.0.7:0":   "10.0.0.7:43210",
		":3201":        net.JoinHostPort(hostname, "43210"),
		"0.0.0.0:3201": net.JoinHostPort(hostname, "43210"),
	} {
		got, err := advertiseAddress(listen, bound)
		if err != nil || got != want {
			t.Errorf("advertise address of %s bound to %s: %q, %v; want %q", listen, bound, got, err, want)
		}
	}
}

// The HTTP server serves Go's profiles, so that an operator can see where
// a slow query or a busy ingest spends its time, but not the command line,
// which may hold credentials, nor a profile that would hold a request for
// longer than a few minutes.
func TestServesProfiles(t *testing.T) {
	cfg := defaultConfig().Server
	cfg.HTTPListenAddress = "127.0.0.1:0"
	srv, ln, err := newServer(cfg, prometheus.NewRegistry(), func() error { return nil }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	for path, want := range map[string]int{
		"/debug/pprof/heap":                    http.StatusOK,
		"/debug/pprof/cmdline":                 http.StatusNotFound,
		"/debug/pprof/profile?seconds=1000000": http.StatusBadRequest,
		"/debug/pprof/trace?seconds=NaN":       http.StatusBadRequest,
		"/debug/pprof/heap?seconds=1e9":        http.StatusBadRequest,
	} {
		resp, err := http.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
		if want == http.StatusOK && len(body) == 0 {
			t.Errorf("GET %s: empty profile", path)
		}
	}
}
