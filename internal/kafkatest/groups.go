package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Assignment is, per member of a consumer group, the partitions of a topic
// the group assigned it.
type Assignment map[string][]int32

// Members returns the assignment of topic in group as the group coordinator
// describes it, for a classic group or a consumer (KIP-848) one alike. A
// group that does not exist has no members.
func Members(ctx context.Context, cl *kgo.Client, group, topic string) (Assignment, error) {
	adm := kadm.NewClient(cl)
	out := make(Assignment)
	consumerGroups, err := adm.DescribeConsumerGroups(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("describe group %s: %w", group, err)
	}
	if g := consumerGroups[group]; g.Err == nil {
		for _, m := range g.Members {
			// A group consumes one topic here; kadm names it only
			// once it has resolved the topic's ID, so any name does.
			var ps []int32
			m.Assignment.Each(func(_ string, p int32) { ps = append(ps, p) })
			slices.Sort(ps)
			out[m.MemberID] = ps
		}
		return out, nil
	}
	classic, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("describe group %s: %w", group, err)
	}
	g := classic[group]
	if errors.Is(g.Err, kerr.GroupIDNotFound) {
		return out, nil
	}
	if g.Err != nil {
		return nil, fmt.Errorf("describe group %s: %w", group, g.Err)
	}
	for _, m := range g.Members {
		out[m.MemberID] = nil
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range a.Topics {
				if t.Topic == topic {
					out[m.MemberID] = slices.Sorted(slices.Values(t.Partitions))
				}
			}
		}
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
