package live

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Traces returns the spans of lq.IDs from the live tails. No query
// reads a whole tail: lq names its traces.
func (t *Tails) Traces(ctx context.Context, lq Query) (Answer, Partial, error) {
	return t.fetch(ctx, lq, KindSpans, nil)
}

// Digests asks each owner of the spans lq names for its Digester of
// kind's answer to args, and returns the answers.
func (t *Tails) Digests(ctx context.Context, lq Query, kind string, args any) ([]json.RawMessage, Partial, error) {
	raw, err := json.Marshal(args)
	if err != nil {
		return nil, Partial{}, err
	}
	a, partial, err := t.fetch(ctx, lq, kind, raw)
	return a.Digests, partial, err
}

// fetch returns what lq asks of the live tails, the spans or the
// digests of kind: from this querier's own tail, and from the queriers
// owning the other partitions. With lq.Ends, each owner first waits for its
// tail to reach them. The Partial says why spans may be missing (see
// serve). A partition without a reachable owner (a querier died and the
// group has not yet moved its partitions) is asked again until ctx ends.
func (t *Tails) fetch(ctx context.Context, lq Query, kind string, args json.RawMessage) (Answer, Partial, error) {
	out := newAnswer()
	live := t.tail.Load()
	n := t.partitions.Load()
	if live == nil || n == 0 {
		return out, Partial{}, ErrNotReady
	}
	if lq.Storage.isZero() {
		lq.Storage = t.newStorageWait()
	}
	partitions := lq.Partitions
	if partitions == nil {
		for p := range n {
			partitions = append(partitions, p)
		}
	}
	var (
		mu      sync.Mutex
		partial Partial
		final   error // an owner's answer that asking again would not change
		backoff = 50 * time.Millisecond
	)
	remaining := slices.Clone(partitions)
	for {
		local, remote := t.route(ctx, live, remaining)
		var wg sync.WaitGroup
		served := make(map[int32]bool)
		done := func(a Answer, p Partial, parts []int32) {
			mu.Lock()
			defer mu.Unlock()
			out.merge(a)
			partial.Add(p)
			for _, pid := range parts {
				served[pid] = true
			}
		}
		if len(local) > 0 {
			wg.Go(func() {
				a, p, err := t.answer(ctx, live, lq, kind, args, local)
				if err == nil {
					done(a, p, local)
				} else if !errors.Is(err, ErrNotOwned) {
					t.logger.Warn("live tail read failed", "err", err)
				}
			})
		}
		for addr, parts := range remote {
			wg.Go(func() {
				a, p, err := t.askOwner(ctx, addr, lq, kind, args, parts)
				switch {
				case err == nil:
					done(a, p, parts)
				case errors.Is(err, ErrResponseTooLarge):
					mu.Lock()
					final = err
					mu.Unlock()
				case ctx.Err() == nil:
					t.logger.Info("live tail owner did not answer; asking again", "owner", addr, "err", err)
				}
			})
		}
		wg.Wait()
		if final != nil {
			return out, Partial{}, final
		}
		remaining = slices.DeleteFunc(remaining, func(p int32) bool { return served[p] })
		if len(remaining) == 0 {
			break
		}
		t.owners.forget()
		select {
		case <-ctx.Done():
			return out, partial, fmt.Errorf("live tail of partitions %v: %w", remaining, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
	p, err := t.catchUpBlocklist(ctx, lq.Storage, out.From)
	partial.Add(p)
	return out, partial, err
}

// route splits partitions into those this querier's tail holds and those
// of each other owner; partitions nobody holds now are left out.
func (t *Tails) route(ctx context.Context, live *Tail, partitions []int32) (local []int32, remote map[string][]int32) {
	owned := live.Owned()
	var others []int32
	for _, p := range partitions {
		if _, ok := owned[p]; ok {
			local = append(local, p)
		} else {
			others = append(others, p)
		}
	}
	remote = make(map[string][]int32)
	if len(others) == 0 {
		return local, remote
	}
	// Owners not learnt now are asked for on the next round.
	addrs, err := t.owners.lookup(ctx, others)
	if err != nil {
		t.logger.Warn("cannot learn live tail owners", "err", err)
		return local, remote
	}
	for p, addr := range addrs {
		if addr != t.cfg.AdvertiseAddress {
			remote[addr] = append(remote[addr], p)
		}
	}
	return local, remote
}

// catchUpBlocklist makes sure the blocklist knows every block below where
// the tails start: another querier may have trimmed records into
// blocks this one has not polled yet. Object storage that does not answer
// in time makes the answer partial.
func (t *Tails) catchUpBlocklist(ctx context.Context, sw StorageWait, tails map[string]map[int32]int64) (Partial, error) {
	var partial Partial
	for tenant, from := range tails {
		need := make(map[int32]int64)
		for p, off := range from {
			if t.blocklist.CoveredEnd(tenant, p) < off {
				need[p] = off
			}
		}
		if len(need) == 0 {
			continue
		}
		p, err := sw.Wait(ctx, "refresh of tenant "+tenant+"'s blocks", func(ctx context.Context) error {
			return t.blocklist.Refresh(ctx, tenant, need)
		})
		partial.Add(p)
		if err != nil {
			return partial, fmt.Errorf("refresh blocks of tenant %s: %w", tenant, err)
		}
		if p.IsPartial() {
			continue
		}
		for p, off := range need {
			if t.blocklist.CoveredEnd(tenant, p) < off {
				return partial, fmt.Errorf("%w: tenant %s partition %d below offset %d", ErrBlocksBehind, tenant, p, off)
			}
		}
	}
	return partial, nil
}

// askOwner reads another querier's tail of partitions. An answer over
// querier.peer-max-response-bytes for several traces is asked for again
// in halves, so that only a single trace over the bound fails.
func (t *Tails) askOwner(ctx context.Context, addr string, lq Query, kind string, args json.RawMessage, partitions []int32) (Answer, Partial, error) {
	a, partial, err := t.askOwnerOnce(ctx, addr, lq.request(kind, args, partitions))
	if !errors.Is(err, ErrResponseTooLarge) || kind != KindSpans || len(lq.IDs) < 2 {
		return a, partial, err
	}
	out := newAnswer()
	half := len(lq.IDs) / 2
	for _, ids := range [][]pcommon.TraceID{lq.IDs[:half], lq.IDs[half:]} {
		part := lq
		part.IDs = ids
		a, p, err := t.askOwner(ctx, addr, part, kind, args, partitions)
		if err != nil {
			return Answer{}, Partial{}, err
		}
		out.merge(a)
		partial.Add(p)
	}
	return out, partial, nil
}

func (t *Tails) askOwnerOnce(ctx context.Context, addr string, req wireRequest) (Answer, Partial, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return Answer{}, Partial{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, t.cfg.PeerTimeout)
	defer cancel()
	a, partial, err := t.post(ctx, addr, body)
	switch {
	case err == nil:
		t.metrics.peerRequests.WithLabelValues("ok").Inc()
	case errors.Is(err, ErrNotOwned):
		t.metrics.peerRequests.WithLabelValues("not_owner").Inc()
	case errors.Is(err, ErrResponseTooLarge):
		t.metrics.peerRequests.WithLabelValues("too_large").Inc()
	default:
		t.metrics.peerRequests.WithLabelValues("error").Inc()
	}
	return a, partial, err
}

func (t *Tails) post(ctx context.Context, addr string, body []byte) (Answer, Partial, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+Path, bytes.NewReader(body))
	if err != nil {
		return Answer{}, Partial{}, err
	}
	hreq.Header.Set("Content-Type", mediaJSON)
	resp, err := t.peers.Do(hreq)
	if err != nil {
		return Answer{}, Partial{}, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusMisdirectedRequest:
		return Answer{}, Partial{}, fmt.Errorf("%s: %w", addr, ErrNotOwned)
	case http.StatusUnprocessableEntity:
		// The owner's message names the bound.
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		msg = bytes.TrimPrefix(bytes.TrimSpace(msg), []byte(ErrResponseTooLarge.Error()+": "))
		return Answer{}, Partial{}, fmt.Errorf("querier %s: %w: %s", addr, ErrResponseTooLarge, msg)
	default:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return Answer{}, Partial{}, fmt.Errorf("%s: %s: %s", addr, resp.Status, bytes.TrimSpace(msg))
	}
	// An owner of another version, or a broken one, is read within the
	// bound all the same.
	limit := t.cfg.PeerMaxResponseBytes
	limited := &io.LimitedReader{R: resp.Body, N: limit + 1}
	var lr wireResponse
	if err := json.NewDecoder(limited).Decode(&lr); err != nil {
		if limited.N <= 0 {
			return Answer{}, Partial{}, fmt.Errorf("querier %s: %w: live tail answer over querier.peer-max-response-bytes %d", addr, ErrResponseTooLarge, limit)
		}
		return Answer{}, Partial{}, fmt.Errorf("%s: decode live tail: %w", addr, err)
	}
	out := newAnswer()
	for tenant, from := range lr.From {
		out.From[tenant] = from
	}
	if lr.Digest != nil {
		out.Digests = append(out.Digests, lr.Digest)
	}
	var u ptrace.ProtoUnmarshaler
	for tenant, b := range lr.Traces {
		td, err := u.UnmarshalTraces(b)
		if err != nil {
			return Answer{}, Partial{}, fmt.Errorf("%s: decode live tail: %w", addr, err)
		}
		out.Traces[tenant] = append(out.Traces[tenant], td)
	}
	return out, lr.Partial, nil
}
