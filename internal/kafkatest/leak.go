package kafkatest

import "go.uber.org/goleak"

// IgnoreBroker leaves the broker's own goroutines out of a goleak check.
// kfake reads and writes a connection in a goroutine started anew for
// each request and response, so a connection opened before the check's
// snapshot, such as a test's own client, starts new ones during it. A
// component that leaves a client open still shows: its side of the
// connection runs in franz-go's goroutines.
func IgnoreBroker() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/twmb/franz-go/pkg/kfake.(*clientConn).read.func1"),
		goleak.IgnoreAnyFunction("github.com/twmb/franz-go/pkg/kfake.(*clientConn).write.func1"),
	}
}
