package kafkatest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/tracelog"
)

// Assignment is, per member of a consumer group, the partitions of a topic
// the group assigned it.
type Assignment map[string][]int32

// Members returns the assignment of topic in group as the group coordinator
// describes it, for a classic group or a consumer (KIP-848) one alike. A
// group that does not exist has no members.
func Members(ctx context.Context, cl *kgo.Client, group, topic string) (Assignment, error) {
	members, err := tracelog.GroupMembers(ctx, cl, group, topic)
	if err != nil {
		return nil, err
	}
	out := make(Assignment)
	for _, m := range members {
		out[m.ID] = m.Partitions
	}
	return out, nil
}

// Splits reports whether exactly members members split partitions
// partitions between them, each owning at least one.
func (a Assignment) Splits(members, partitions int) bool {
	if len(a) != members {
		return false
	}
	owned := 0
	for _, ps := range a {
		if len(ps) == 0 {
			return false
		}
		owned += len(ps)
	}
	return owned == partitions
}

func (a Assignment) String() string {
	var b strings.Builder
	for _, id := range slices.Sorted(maps.Keys(a)) {
		fmt.Fprintf(&b, "%s=%v ", id, a[id])
	}
	return strings.TrimSpace(b.String())
}
