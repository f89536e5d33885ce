package main

import (
	"context"
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/tracelog"
)

// offsetsLog is a log of three partitions, holding 10, 5 and 0 records,
// and a client of it.
func offsetsLog(t *testing.T) (tracelog.Config, *kgo.Client, []string) {
	t.Helper()
	log := kafkatest.New(t).Log(t, 3)
	cl, err := kgo.NewClient(append(log.ClientOpts("test"), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	for p, n := range map[int32]int{0: 10, 1: 5} {
		for range n {
			r := &kgo.Record{Topic: log.Topic, Partition: p, Value: []byte("x")}
			if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	args := []string{"-target=block-builder", "-kafka.brokers=" + strings.Join(log.Brokers, ","), "-kafka.topic=" + log.Topic}
	return log, cl, args
}

// joinGroup starts a member of group that holds the log's partitions
// until the test ends or leave is called.
func joinGroup(t *testing.T, log tracelog.Config, group string) (leave func()) {
	t.Helper()
	assigned := make(chan struct{}, 1)
	cl, err := kgo.NewClient(append(log.ClientOpts("spanlog-block-builder"),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(log.Topic), kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) {
			select {
			case assigned <- struct{}{}:
			default:
			}
		}))...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for ctx.Err() == nil {
			cl.PollFetches(ctx)
		}
	}()
	select {
	case <-assigned:
	case <-time.After(30 * time.Second):
		t.Fatal("the member got no partitions")
	}
	done := false
	leave = func() {
		if !done {
			done = true
			cancel()
			<-polled
			cl.Close()
		}
	}
	t.Cleanup(leave)
	return leave
}

// The table and JSON show each partition's offsets, the builders' commit
// and lag, and who holds it.
func TestOffsetsShowsCommitsAndLag(t *testing.T) {
	log, cl, args := offsetsLog(t)
	ctx := context.Background()
	if err := tracelog.CommitGroupOffsets(ctx, cl, "spanlog-block-builder", log.Topic, map[int32]int64{0: 4, 1: 5}); err != nil {
		t.Fatal(err)
	}
	joinGroup(t, log, "spanlog-block-builder")

	out, _, err := runTool(t, append([]string{"offsets", "-o=json"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	var report offsetsReport
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	lag := make(map[int32]int64)
	ends := make(map[int32]int64)
	for _, p := range report.Partitions {
		lag[p.Partition], ends[p.Partition] = p.Lag, p.End
		if p.Builder != "spanlog-block-builder@127.0.0.1" && !strings.HasPrefix(p.Builder, "spanlog-block-builder@127.0.0.1:") {
			t.Errorf("partition %d held by %q, want the member", p.Partition, p.Builder)
		}
	}
	if want := map[int32]int64{0: 6, 1: 0, 2: 0}; !maps.Equal(lag, want) {
		t.Fatalf("lag %v, want %v", lag, want)
	}
	if want := map[int32]int64{0: 10, 1: 5, 2: 0}; !maps.Equal(ends, want) {
		t.Fatalf("ends %v, want %v", ends, want)
	}
	if c := report.Partitions[2].Committed; c != nil {
		t.Fatalf("partition 2 committed %d, want none", *c)
	}
	if len(report.Builders.Members) != 1 || len(report.Queriers.Members) != 0 {
		t.Fatalf("members %+v %+v", report.Builders, report.Queriers)
	}

	table, _, err := runTool(t, append([]string{"offsets"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"BUILDERS COMMITTED", "\n0    ", "total", "Queriers commit no offsets"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if !strings.Contains(table, "6 ") || !strings.Contains(table, "spanlog-block-builder@127.0.0.1") {
		t.Errorf("table without the lag or the member:\n%s", table)
	}
}

// A reset is refused while the builders' group has a member, with what to
// do instead; a dry run changes nothing; without members it is done.
func TestOffsetsResetOnlyWithoutMembers(t *testing.T) {
	log, cl, args := offsetsLog(t)
	ctx := context.Background()
	group := "spanlog-block-builder"
	if err := tracelog.CommitGroupOffsets(ctx, cl, group, log.Topic, map[int32]int64{0: 4, 1: 5}); err != nil {
		t.Fatal(err)
	}
	committed := func() map[int32]int64 {
		c, err := tracelog.CommittedOffsets(ctx, cl, group, log.Topic)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	leave := joinGroup(t, log, group)

	for _, dry := range []bool{false, true} {
		a := append([]string{"offsets", "reset", "-to=earliest"}, args...)
		if dry {
			a = append(a, "-dry-run")
		}
		_, _, err := runTool(t, a...)
		if err == nil || !strings.Contains(err.Error(), "live members") || !strings.Contains(err.Error(), "Stop every block-builder") {
			t.Fatalf("reset (dry run %v) with a live builder: %v", dry, err)
		}
	}
	if c := committed(); !maps.Equal(c, map[int32]int64{0: 4, 1: 5}) {
		t.Fatalf("a refused reset moved the commits to %v", c)
	}

	leave()
	out, _, err := runTool(t, append([]string{"offsets", "reset", "-to=latest", "-dry-run"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "6 records skipped") || !strings.Contains(out, "spanlog replay") || !strings.Contains(out, "nothing changed") {
		t.Fatalf("dry run said:\n%s", out)
	}
	if c := committed(); !maps.Equal(c, map[int32]int64{0: 4, 1: 5}) {
		t.Fatalf("a dry run moved the commits to %v", c)
	}

	out, _, err = runTool(t, append([]string{"offsets", "reset", "-to=2", "-partitions=0,1"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	if c := committed(); !maps.Equal(c, map[int32]int64{0: 2, 1: 2}) {
		t.Fatalf("commits after the reset: %v\n%s", c, out)
	}
	if !strings.Contains(out, "records read again") {
		t.Errorf("a reset backwards says nothing of it:\n%s", out)
	}

	start := time.Now().Add(-time.Hour)
	_, _, err = runTool(t, append([]string{"offsets", "reset", "-to=" + start.Format(time.RFC3339)}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	if c := committed(); !maps.Equal(c, map[int32]int64{0: 0, 1: 0, 2: 0}) {
		t.Fatalf("commits after a reset to an hour ago: %v", c)
	}

	_, _, err = runTool(t, append([]string{"offsets", "reset", "-to=99", "-partitions=1"}, args...)...)
	if err == nil || !strings.Contains(err.Error(), "outside partition 1") {
		t.Fatalf("reset past the end: %v", err)
	}
	_, _, err = runTool(t, append([]string{"offsets", "reset"}, args...)...)
	if err == nil || !strings.Contains(err.Error(), "-to is required") {
		t.Fatalf("reset without -to: %v", err)
	}
}

// Errors say which setting to fix.
func TestToolErrorsSayWhatToFix(t *testing.T) {
	log, _, args := offsetsLog(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no Kafka there", []string{"offsets", "-target=block-builder", "-kafka.brokers=127.0.0.1:1", "-kafka.dial-timeout=200ms"}, "set the brokers with -kafka.brokers"},
		{"no embedded Kafka there", []string{"offsets", "-embedded-kafka.port=1", "-kafka.dial-timeout=200ms"}, "embedded Kafka of a spanlog -target=all"},
		{"another topic", []string{"offsets", "-target=block-builder", "-kafka.brokers=" + strings.Join(log.Brokers, ","), "-kafka.topic=nope"}, "-kafka.topic"},
		{"no blocks directory", append([]string{"replay", "-storage.local.path=" + t.TempDir() + "/none"}, args...), "-storage.local.path"},
		{"a bad partition list", append([]string{"replay", "-partitions=a"}, args...), "no partition"},
		{"a bad position", append([]string{"replay", "-from=yesterday"}, args...), "no position"},
		{"a partition not there", append([]string{"replay", "-partitions=7", "-storage.local.path=" + t.TempDir()}, args...), "partitions 0 to 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, err := runTool(t, tt.args...)
			if err == nil || !strings.Contains(err.Error()+errOut, tt.want) {
				t.Fatalf("error %v (%s), want it to say %q", err, errOut, tt.want)
			}
		})
	}
}
