package main

import (
	"net"
	"os"
	"testing"
)

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
