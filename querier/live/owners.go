package live

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Queriers share the partitions' live tails through a Kafka consumer group:
// the group assigns each partition to one querier, which consumes it, and
// any querier learns the owners by describing the group. Each member puts
// the address other queriers reach it at into its join metadata, so the
// group itself is the directory: there is no ring to keep.

// addressMagic starts the user data of a querier's group metadata.
var addressMagic = []byte("spanlog-querier/1:")

// addressBalancer is a group balancer that adds the member's address to
// the metadata of the balancer it wraps, and hides it from that balancer.
type addressBalancer struct {
	kgo.GroupBalancer
	addr string
}

func (b addressBalancer) ProtocolName() string { return "spanlog-" + b.GroupBalancer.ProtocolName() }

func (b addressBalancer) JoinGroupMetadata(interests []string, current map[string][]int32, generation int32) []byte {
	raw := b.GroupBalancer.JoinGroupMetadata(interests, current, generation)
	var m kmsg.ConsumerMemberMetadata
	if err := m.ReadFrom(raw); err != nil {
		// The wrapped balancer wrote it; it cannot be unreadable.
		panic(fmt.Sprintf("querier group metadata: %v", err))
	}
	m.UserData = wrapAddress(b.addr, m.UserData)
	return m.AppendTo(nil)
}

func (b addressBalancer) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	inner := make([]kmsg.JoinGroupResponseMember, len(members))
	for i, member := range members {
		inner[i] = member
		var m kmsg.ConsumerMemberMetadata
		if err := m.ReadFrom(member.ProtocolMetadata); err != nil {
			return nil, nil, fmt.Errorf("member %s metadata: %w", member.MemberID, err)
		}
		_, m.UserData = unwrapAddress(m.UserData)
		inner[i].ProtocolMetadata = m.AppendTo(nil)
	}
	return b.GroupBalancer.MemberBalancer(inner)
}

func wrapAddress(addr string, userData []byte) []byte {
	out := append([]byte(nil), addressMagic...)
	out = binary.AppendUvarint(out, uint64(len(addr)))
	out = append(out, addr...)
	return append(out, userData...)
}

// unwrapAddress splits user data written by wrapAddress; data of another
// writer has no address.
func unwrapAddress(data []byte) (addr string, rest []byte) {
	if !bytes.HasPrefix(data, addressMagic) {
		return "", data
	}
	b := data[len(addressMagic):]
	n, w := binary.Uvarint(b)
	if w <= 0 || uint64(len(b)-w) < n {
		return "", data
	}
	return string(b[w : w+int(n)]), b[w+int(n):]
}

// owners knows which querier holds each partition's live tail, as the
// queriers' group last said.
type owners struct {
	adm   *kadm.Client
	group string
	topic string

	mu    sync.Mutex
	known map[int32]string // partition → owner's address; nil until fetched
}

// lookup returns the address of the owner of each of partitions, describing
// the group if it does not know them all; a partition no member holds now
// (the group is rebalancing) is missing from the result.
func (o *owners) lookup(ctx context.Context, partitions []int32) (map[int32]string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.knowsLocked(partitions) {
		known, err := o.describe(ctx)
		if err != nil {
			return nil, err
		}
		o.known = known
	}
	out := make(map[int32]string, len(partitions))
	for _, p := range partitions {
		if addr, ok := o.known[p]; ok {
			out[p] = addr
		}
	}
	return out, nil
}

func (o *owners) knowsLocked(partitions []int32) bool {
	if o.known == nil {
		return false
	}
	for _, p := range partitions {
		if _, ok := o.known[p]; !ok {
			return false
		}
	}
	return true
}

// forget drops what is known, after an owner did not answer or no longer
// held a partition.
func (o *owners) forget() {
	o.mu.Lock()
	o.known = nil
	o.mu.Unlock()
}

func (o *owners) describe(ctx context.Context) (map[int32]string, error) {
	groups, err := o.adm.DescribeGroups(ctx, o.group)
	if err != nil {
		return nil, fmt.Errorf("describe querier group: %w", err)
	}
	g, ok := groups[o.group]
	if !ok {
		return map[int32]string{}, nil
	}
	if g.Err != nil {
		return nil, fmt.Errorf("describe querier group: %w", g.Err)
	}
	known := make(map[int32]string)
	for _, m := range g.Members {
		meta, ok := m.Join.AsConsumer()
		if !ok {
			continue
		}
		addr, _ := unwrapAddress(meta.UserData)
		assigned, ok := m.Assigned.AsConsumer()
		if addr == "" || !ok {
			continue
		}
		for _, t := range assigned.Topics {
			if t.Topic != o.topic {
				continue
			}
			for _, p := range t.Partitions {
				known[p] = addr
			}
		}
	}
	return known, nil
}
