package tracelog_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/tracelog"
)

// The members of a group are found under either group protocol, and its
// offsets are set from outside only once it has none.
func TestCommitGroupOffsetsOnlyWithoutMembers(t *testing.T) {
	for _, protocol := range []string{"classic", "consumer"} {
		t.Run(protocol, func(t *testing.T) {
			ctx := context.Background()
			log := kafkatest.New(t).Log(t, 3)
			admin, err := kgo.NewClient(log.ClientOpts("admin")...)
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close()

			assigned := make(chan struct{}, 1)
			opts := append(log.ClientOpts("member"),
				kgo.ConsumerGroup("builders"),
				kgo.ConsumeTopics(log.Topic),
				kgo.DisableAutoCommit(),
				kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) {
					select {
					case assigned <- struct{}{}:
					default:
					}
				}))
			if protocol == "consumer" {
				opts = append(opts, kgo.ServerSideBalancer())
			}
			member, err := kgo.NewClient(opts...)
			if err != nil {
				t.Fatal(err)
			}
			pollCtx, stopPolling := context.WithCancel(ctx)
			polled := make(chan struct{})
			go func() {
				defer close(polled)
				for pollCtx.Err() == nil {
					member.PollFetches(pollCtx)
				}
			}()
			select {
			case <-assigned:
			case <-time.After(30 * time.Second):
				t.Fatal("the member got no partitions")
			}

			members := waitMembers(t, admin, log.Topic, func(m []tracelog.GroupMember) bool {
				return len(m) == 1 && len(m[0].Partitions) == 3
			})
			if !slices.Equal(members[0].Partitions, []int32{0, 1, 2}) || members[0].ClientID != "member" {
				t.Fatalf("members %+v", members)
			}

			err = tracelog.CommitGroupOffsets(ctx, admin, "builders", log.Topic, map[int32]int64{0: 5})
			var notEmpty *tracelog.GroupNotEmptyError
			if !errors.As(err, &notEmpty) || len(notEmpty.Members) != 1 {
				t.Fatalf("commit with a live member: %v", err)
			}
			if c, err := tracelog.CommittedOffsets(ctx, admin, "builders", log.Topic); err != nil || len(c) != 0 {
				t.Fatalf("committed %v, %v after a refused commit", c, err)
			}

			stopPolling()
			<-polled
			member.Close() // leaves the group
			waitMembers(t, admin, log.Topic, func(m []tracelog.GroupMember) bool { return len(m) == 0 })
			want := map[int32]int64{0: 5, 2: 7}
			if err := tracelog.CommitGroupOffsets(ctx, admin, "builders", log.Topic, want); err != nil {
				t.Fatal(err)
			}
			if c, err := tracelog.CommittedOffsets(ctx, admin, "builders", log.Topic); err != nil || !maps.Equal(c, want) {
				t.Fatalf("committed %v, %v; want %v", c, err, want)
			}
		})
	}
}

// A group never created has no members, and takes commits.
func TestCommitGroupOffsetsOfANewGroup(t *testing.T) {
	log := kafkatest.New(t).Log(t, 2)
	cl, err := kgo.NewClient(log.ClientOpts("admin")...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if m, err := tracelog.GroupMembers(ctx, cl, "nobody", log.Topic); err != nil || len(m) != 0 {
		t.Fatalf("members of a group never created: %v, %v", m, err)
	}
	if err := tracelog.CommitGroupOffsets(ctx, cl, "nobody", log.Topic, map[int32]int64{1: 3}); err != nil {
		t.Fatal(err)
	}
	if c, err := tracelog.CommittedOffsets(ctx, cl, "nobody", log.Topic); err != nil || c[1] != 3 {
		t.Fatalf("committed %v, %v", c, err)
	}
}

func waitMembers(t *testing.T, cl *kgo.Client, topic string, cond func([]tracelog.GroupMember) bool) []tracelog.GroupMember {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		m, err := tracelog.GroupMembers(context.Background(), cl, "builders", topic)
		if err == nil && cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("group members %+v, %v", m, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
