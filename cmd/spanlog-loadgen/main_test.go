package main

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/spanlog/spanlog/internal/loadgen"
	"github.com/spanlog/spanlog/internal/loadgen/loadgentest"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		change   func(*loadgen.Config) // applied to DefaultConfig for the want
		duration time.Duration
		err      string
	}{
		{name: "defaults", change: func(*loadgen.Config) {}},
		{
			name: "http defaults to its own port",
			args: []string{"-protocol", "http"},
			change: func(c *loadgen.Config) {
				c.Protocol, c.Endpoint = loadgen.ProtocolHTTP, "127.0.0.1:4318"
			},
		},
		{
			name: "http with an endpoint",
			args: []string{"-protocol", "http", "-endpoint", "10.0.0.1:80"},
			change: func(c *loadgen.Config) {
				c.Protocol, c.Endpoint = loadgen.ProtocolHTTP, "10.0.0.1:80"
			},
		},
		{
			name: "every flag",
			args: []string{"-endpoint", "h:1", "-client", "collector", "-tenant", "t1", "-workers", "8", "-rate", "2000",
				"-spans-per-trace", "3", "-attributes-per-span", "4", "-batch-traces", "5",
				"-services", "6", "-request-timeout", "2s", "-seed", "9", "-traces", "100", "-duration", "30s"},
			change: func(c *loadgen.Config) {
				c.Endpoint, c.Client, c.Tenant, c.Workers, c.Rate = "h:1", loadgen.ClientCollector, "t1", 8, 2000
				c.SpansPerTrace, c.AttributesPerSpan, c.BatchTraces = 3, 4, 5
				c.Services, c.RequestTimeout, c.Seed, c.Traces = 6, 2*time.Second, 9, 100
			},
			duration: 30 * time.Second,
		},
		{
			name: "collector client over http",
			args: []string{"-client", "collector", "-protocol", "http"},
			change: func(c *loadgen.Config) {
				c.Client, c.Protocol, c.Endpoint = loadgen.ClientCollector, loadgen.ProtocolHTTP, "127.0.0.1:4318"
			},
		},
		{name: "bad number", args: []string{"-rate", "fast"}, err: "invalid value"},
		{name: "stray argument", args: []string{"now"}, err: "unexpected arguments"},
		{name: "negative duration", args: []string{"-duration", "-1s"}, err: "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, duration, err := parseFlags(tt.args, io.Discard)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want one about %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := loadgen.DefaultConfig()
			tt.change(&want)
			if cfg != want || duration != tt.duration {
				t.Errorf("got %+v for %v, want %+v for %v", cfg, duration, want, tt.duration)
			}
		})
	}
}

func TestRunReportsAckedAndFailed(t *testing.T) {
	rcv := loadgentest.NewGRPC(t, loadgentest.Options{FailEvery: 4})
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"-endpoint", rcv.Endpoint, "-rate", "300", "-duration", "1500ms", "-tenant", "t1"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit status %d, stderr: %s", code, errOut.String())
	}
	for _, want := range []string{"sending to " + rcv.Endpoint, "1s  sent", "acked:", "grpc Unavailable: ", "throughput:", "p99", "loadgen CPU: ", "µs per acked span"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunSendsACountOfTraces(t *testing.T) {
	tests := []struct {
		name      string
		client    string
		failEvery int
		code      int
	}{
		{"all acked", "sdk", 0, 0},
		{"all acked, collector client", "collector", 0, 0},
		// A counted run loads a data set: one that is not whole fails.
		{"some failed", "sdk", 4, 1},
		{"some failed, collector client", "collector", 4, 1},
		{"unknown client", "curl", 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := loadgentest.NewGRPC(t, loadgentest.Options{FailEvery: tt.failEvery})
			var out, errOut bytes.Buffer
			args := []string{"-endpoint", rcv.Endpoint, "-client", tt.client, "-rate", "0", "-traces", "30", "-batch-traces", "4", "-spans-per-trace", "2"}
			if code := run(t.Context(), args, &out, &errOut); code != tt.code {
				t.Fatalf("exit status %d, want %d; output:\n%s%s", code, tt.code, out.String(), errOut.String())
			}
			if tt.code == 2 {
				return
			}
			if want := "sending 30 traces to"; !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q:\n%s", want, out.String())
			}
			var spans int64
			for _, req := range rcv.Requests() {
				for _, s := range req.Spans {
					spans += int64(len(s))
				}
			}
			if spans != 60 {
				t.Errorf("receiver got %d spans, want 60", spans)
			}
		})
	}
}

func TestRunFailsWhenNothingIsAcked(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	var out bytes.Buffer
	if code := run(t.Context(), []string{"-endpoint", addr, "-protocol", "http", "-duration", "300ms"}, &out, io.Discard); code != 1 {
		t.Errorf("exit status %d, want 1; output:\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "http no response") {
		t.Errorf("output lacks the failure class:\n%s", out.String())
	}
}
