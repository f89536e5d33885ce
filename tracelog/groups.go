package tracelog

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

// Who is in a consumer group (GroupMembers), and the one change an
// operator makes to a group from outside it: moving its committed offsets
// (CommitGroupOffsets), which only a group without members may take.

// GroupMember is a live member of a consumer group.
type GroupMember struct {
	ID       string
	ClientID string
	// Host is where the member connects from, as the coordinator sees it.
	Host string
	// Partitions are the partitions of the topic asked about assigned to
	// the member, sorted.
	Partitions []int32
}

// GroupMembers returns the live members of group and what each holds of
// topic, sorted by ID, whichever protocol the group uses: consumer
// (KIP-848, asked with ConsumerGroupDescribe) or classic (DescribeGroups).
// A group that does not exist has no members.
func GroupMembers(ctx context.Context, cl *kgo.Client, group, topic string) ([]GroupMember, error) {
	adm := kadm.NewClient(cl)
	// A broker without KIP-848 refuses ConsumerGroupDescribe, and one with
	// it answers GroupIDNotFound for a classic group: either way, the group
	// is asked as a classic one next.
	if consumer, err := adm.DescribeConsumerGroups(ctx, group); err == nil {
		if g, ok := consumer[group]; ok && g.Err == nil {
			var out []GroupMember
			for _, m := range g.Members {
				var ps []int32
				// kadm names a topic only once it has resolved its ID; the
				// groups spanlog runs consume one topic, so any name does.
				m.Assignment.Each(func(_ string, p int32) { ps = append(ps, p) })
				slices.Sort(ps)
				out = append(out, GroupMember{ID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, Partitions: ps})
			}
			return out, nil
		}
	} else if ctx.Err() != nil {
		return nil, err
	}
	classic, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("describe group %s: %w", group, err)
	}
	g := classic[group]
	if errors.Is(g.Err, kerr.GroupIDNotFound) {
		return nil, nil
	}
	if g.Err != nil {
		return nil, fmt.Errorf("describe group %s: %w", group, g.Err)
	}
	var out []GroupMember
	for _, m := range g.Members {
		gm := GroupMember{ID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost}
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range a.Topics {
				if t.Topic == topic {
					gm.Partitions = slices.Sorted(slices.Values(t.Partitions))
				}
			}
		}
		out = append(out, gm)
	}
	slices.SortFunc(out, func(a, b GroupMember) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// GroupNotEmptyError is the refusal to move the offsets of a group that
// has live members: each member commits where it is, over whatever was
// set from outside, and a classic group's coordinator refuses a commit
// from outside while it has members anyway.
type GroupNotEmptyError struct {
	Group   string
	Members []GroupMember
}

func (e *GroupNotEmptyError) Error() string {
	var who []string
	for _, m := range e.Members {
		who = append(who, strings.TrimPrefix(m.ClientID+"@"+m.Host, "@"))
	}
	if len(who) == 0 {
		return fmt.Sprintf("group %s has live members", e.Group)
	}
	return fmt.Sprintf("group %s has %d live members (%s)", e.Group, len(who), strings.Join(who, ", "))
}

// CommitGroupOffsets sets group's committed offsets of topic's partitions
// to offsets, as a group without members: it refuses with a
// *GroupNotEmptyError while the group has any.
//
// The check and the commit are two requests. A member that joins between
// them makes the coordinator refuse the commit, as it takes commits from
// outside the group only while the group is empty, and that refusal is
// reported as the same error.
func CommitGroupOffsets(ctx context.Context, cl *kgo.Client, group, topic string, offsets map[int32]int64) error {
	members, err := GroupMembers(ctx, cl, group, topic)
	if err != nil {
		return err
	}
	if len(members) > 0 {
		return &GroupNotEmptyError{Group: group, Members: members}
	}
	var os kadm.Offsets
	for _, p := range slices.Sorted(maps.Keys(offsets)) {
		os.Add(kadm.Offset{Topic: topic, Partition: p, At: offsets[p], LeaderEpoch: -1})
	}
	resp, err := kadm.NewClient(cl).CommitOffsets(ctx, group, os)
	if err == nil {
		err = resp.Error()
	}
	switch {
	case errors.Is(err, kerr.UnknownMemberID), errors.Is(err, kerr.IllegalGeneration), errors.Is(err, kerr.RebalanceInProgress):
		members, _ := GroupMembers(ctx, cl, group, topic)
		return &GroupNotEmptyError{Group: group, Members: members}
	case err != nil:
		return fmt.Errorf("commit offsets of group %s: %w", group, err)
	}
	return nil
}
