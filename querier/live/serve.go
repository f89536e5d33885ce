package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// serve returns the spans lq names in partitions from this querier's
// own tail. The answer is partial when the tail did not reach lq.Ends in
// time, when it evicted records no known block holds, or when the
// blocklist did not learn the blocks below the tail's start within
// lq.Storage.
func (t *Tails) serve(ctx context.Context, live *Tail, lq Query, partitions []int32) (Slice, Partial, error) {
	owned := live.Owned()
	need := make(map[int32]int64, len(partitions))
	for _, p := range partitions {
		start, ok := owned[p]
		if !ok {
			return Slice{}, Partial{}, fmt.Errorf("%w: %d", ErrNotOwned, p)
		}
		need[p] = start
	}
	// A tail's slice is whole only with every block below its start; a
	// tenant whose blocks cannot be polled holds up only its own queries.
	if lq.Storage.isZero() {
		lq.Storage = t.newStorageWait()
	}
	partial, err := lq.Storage.Wait(ctx, "blocklist poll", func(ctx context.Context) error {
		return t.blocklist.WaitRequiredFor(ctx, lq.Tenants, need)
	})
	if err != nil {
		return Slice{}, partial, fmt.Errorf("wait for blocklist: %w", err)
	}
	if lq.Ends != nil {
		wait, cancel := context.WithTimeout(ctx, t.cfg.ReadYourWritesTimeout)
		for _, p := range partitions {
			if err := live.WaitFor(wait, p, lq.Ends[p]); err != nil {
				if errors.Is(err, ErrNotOwned) {
					cancel()
					return Slice{}, partial, err
				}
				t.logger.Warn("read-your-writes: live tail behind", "partition", p, "end", lq.Ends[p])
				partial.CatchUp = true
				break
			}
		}
		cancel()
	}
	s, evicted, err := live.Slice(lq.Tenants, partitions, lq.IDs, t.blocklist.CoveredEnd)
	partial.Add(evicted)
	return s, partial, err
}

// digest returns the Digester of kind, ready to answer args; nil for a
// request for spans.
func (t *Tails) digest(kind string, args json.RawMessage) (func(Slice) (any, error), error) {
	if kind == KindSpans {
		return nil, nil
	}
	d, ok := t.digesters[kind]
	if !ok {
		return nil, badRequest("live request of unknown kind %q", kind)
	}
	answer, err := d(args)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadRequest, err)
	}
	return answer, nil
}

// answer answers a request of kind from this querier's own tail.
func (t *Tails) answer(ctx context.Context, live *Tail, lq Query, kind string, args json.RawMessage, partitions []int32) (Answer, Partial, error) {
	answer, err := t.digest(kind, args)
	if err != nil {
		return Answer{}, Partial{}, err
	}
	s, partial, err := t.serve(ctx, live, lq, partitions)
	if err != nil {
		return Answer{}, partial, err
	}
	a := Answer{From: s.From}
	if answer == nil {
		a.Traces, err = s.traces()
		return a, partial, err
	}
	digest, err := answer(s)
	if err != nil {
		return Answer{}, partial, err
	}
	d, err := json.Marshal(digest)
	if err != nil {
		return Answer{}, partial, err
	}
	a.Digests = []json.RawMessage{d}
	return a, partial, nil
}
