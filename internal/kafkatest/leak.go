package kafkatest

import "go.uber.org/goleak"

// IgnoreBroker leaves the broker's own goroutines out of a goleak check.
// kfake reads and writes a connection in a goroutine started anew for
// each request and response, so a connection opened before the check's
// snapshot, such as a test's own client, starts new ones during it. A
// component that leaves a client open still shows: its side of the
// connection runs in franz-go's goroutines.
//
// The connection's own reader and writer are the broker's too: after a
// client closes, they end only once the request in flight when it closed
// (a fetch waiting out its max wait, a group join) is answered, which on
// a loaded machine can be after goleak stops retrying.
func IgnoreBroker() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/twmb/franz-go/pkg/kfake.(*clientConn).read"),
		goleak.IgnoreAnyFunction("github.com/twmb/franz-go/pkg/kfake.(*clientConn).write"),
		goleak.IgnoreAnyFunction("github.com/twmb/franz-go/pkg/kfake.(*clientConn).read.func1"),
		goleak.IgnoreAnyFunction("github.com/twmb/franz-go/pkg/kfake.(*clientConn).write.func1"),
	}
}
