package querier

import (
	"bytes"
	"context"
	"encoding/hex"
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

// errBlocksBehind is returned when another querier's live tail has dropped
// records into blocks this querier cannot see yet.
var errBlocksBehind = errors.New("blocks another querier trimmed its live tail for are not visible yet")

// What a live request asks of the spans it names. A request for spans gets
// them whole; any other kind is answered by the owner's digester of that
// kind (see digester), so that only the answer travels.
const liveSpans = "spans"

// liveRequest is a liveQuery of one kind, as sent to another querier.
type liveRequest struct {
	Kind       string   `json:"kind"`
	Tenants    []string `json:"tenants"`
	Partitions []int32  `json:"partitions"`
	// TraceIDs, in hex, limit the spans to those traces; empty means all.
	TraceIDs []string `json:"traceIDs,omitempty"`
	// Ends are the log's end offsets when the query began: the owner waits
	// up to ReadYourWritesTimeout for its tail to reach them.
	Ends map[int32]int64 `json:"ends,omitempty"`
	// Args are the digester's own, for kinds other than spans.
	Args json.RawMessage `json:"args,omitempty"`
}

// liveResponse is an owner's answer to a liveRequest.
type liveResponse struct {
	// From gives, per tenant and partition, where the owner's tail holds
	// every record of the tenant (liveSlice.From).
	From map[string]map[int32]int64 `json:"from"`
	// Traces holds, per tenant, an OTLP ExportTraceServiceRequest in
	// protobuf: the answer to a request for spans.
	Traces map[string][]byte `json:"traces,omitempty"`
	// Digest is the digester's answer, for other kinds.
	Digest json.RawMessage `json:"digest,omitempty"`
	// Partial says why the answer may miss spans: the tail had not
	// reached Ends in time, evicted records, or lacked the blocklist.
	Partial Partial `json:"partial,omitzero"`
}

// liveQuery names the spans of the live tails a query reads.
type liveQuery struct {
	tenants []string
	// partitions to read; nil means every partition.
	partitions []int32
	// ids, when not empty, limit the spans to those traces.
	ids []pcommon.TraceID
	// ends, when not nil, are the offsets each tail must reach first
	// (read your writes).
	ends map[int32]int64
	// storage bounds the waits on object storage; the zero value starts
	// the bound at the call.
	storage storageWait
}

// digester answers a kind of question about the spans a live tail holds,
// where they are held, so that a question about many spans travels as its
// answer, not as the spans. What the question is, the live tail does not
// know: the querier hands it the digester of each kind. It reads
// args, the question's own as the asker encoded them, before any span is
// read, and returns what answers it from the spans of a slice, in JSON.
type digester func(args json.RawMessage) (func(liveSlice) any, error)

// liveAnswer is what the live tails answered to one liveQuery.
type liveAnswer struct {
	// Traces holds each tenant's spans, possibly with duplicates, for a
	// request for spans.
	Traces map[string][]ptrace.Traces
	// Digests holds each owner's answer, for other kinds.
	Digests []json.RawMessage
	// From merges the owners' liveSlice.From.
	From map[string]map[int32]int64
}

func newLiveAnswer() liveAnswer {
	return liveAnswer{Traces: make(map[string][]ptrace.Traces), From: make(map[string]map[int32]int64)}
}

// query is the liveQuery another querier sent as req.
func (req liveRequest) query() (liveQuery, error) {
	lq := liveQuery{tenants: req.Tenants, partitions: req.Partitions, ends: req.Ends}
	for _, s := range req.TraceIDs {
		id, err := parseTraceID(s)
		if err != nil {
			return lq, err
		}
		lq.ids = append(lq.ids, id)
	}
	return lq, nil
}

// request is lq for partitions as sent to another querier.
func (lq liveQuery) request(kind string, args json.RawMessage, partitions []int32) liveRequest {
	req := liveRequest{Kind: kind, Tenants: lq.tenants, Partitions: partitions, Ends: lq.ends, Args: args}
	for _, id := range lq.ids {
		req.TraceIDs = append(req.TraceIDs, hex.EncodeToString(id[:]))
	}
	return req
}

// liveTraces returns the spans of lq.ids from the live tails. No query
// reads a whole tail: lq names its traces.
func (q *Querier) liveTraces(ctx context.Context, lq liveQuery) (liveAnswer, Partial, error) {
	return q.fetchLive(ctx, lq, liveSpans, nil)
}

// liveDigests asks each owner of the spans lq names for its digester of
// kind's answer to args, and returns the answers.
func (q *Querier) liveDigests(ctx context.Context, lq liveQuery, kind string, args any) ([]json.RawMessage, Partial, error) {
	raw, err := json.Marshal(args)
	if err != nil {
		return nil, Partial{}, err
	}
	a, partial, err := q.fetchLive(ctx, lq, kind, raw)
	return a.Digests, partial, err
}

// livePath is the route a querier serves its live tail to other queriers
// on. It is internal: it takes tenants from the body, not the header.
const livePath = "/internal/live"

// fetchLive returns what lq asks of the live tails, the spans or the
// digests of kind: from this querier's own tail, and from the queriers
// owning the other partitions. With lq.ends, each owner first waits for its
// tail to reach them. The Partial says why spans may be missing (see
// serveLive). A partition without a reachable owner (a querier died and the
// group has not yet moved its partitions) is asked again until ctx ends.
func (q *Querier) fetchLive(ctx context.Context, lq liveQuery, kind string, args json.RawMessage) (liveAnswer, Partial, error) {
	out := newLiveAnswer()
	live := q.live.Load()
	n := q.partitions.Load()
	if live == nil || n == 0 {
		return out, Partial{}, ErrNotReady
	}
	if lq.storage.q == nil {
		lq.storage = q.newStorageWait()
	}
	partitions := lq.partitions
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
		local, remote := q.route(ctx, live, remaining)
		var wg sync.WaitGroup
		served := make(map[int32]bool)
		done := func(a liveAnswer, p Partial, parts []int32) {
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
				a, p, err := q.answerLive(ctx, live, lq, kind, args, local)
				if err == nil {
					done(a, p, local)
				} else if !errors.Is(err, errNotOwned) {
					q.logger.Warn("live tail read failed", "err", err)
				}
			})
		}
		for addr, parts := range remote {
			wg.Go(func() {
				a, p, err := q.askOwner(ctx, addr, lq, kind, args, parts)
				switch {
				case err == nil:
					done(a, p, parts)
				case errors.Is(err, errResponseTooLarge):
					mu.Lock()
					final = err
					mu.Unlock()
				case ctx.Err() == nil:
					q.logger.Info("live tail owner did not answer; asking again", "owner", addr, "err", err)
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
		q.owners.forget()
		select {
		case <-ctx.Done():
			return out, partial, fmt.Errorf("live tail of partitions %v: %w", remaining, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
	p, err := q.catchUpBlocklist(ctx, lq.storage, out.From)
	partial.Add(p)
	return out, partial, err
}

// route splits partitions into those this querier's tail holds and those
// of each other owner; partitions nobody holds now are left out.
func (q *Querier) route(ctx context.Context, live *LiveTail, partitions []int32) (local []int32, remote map[string][]int32) {
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
	addrs, err := q.owners.lookup(ctx, others)
	if err != nil {
		q.logger.Warn("cannot learn live tail owners", "err", err)
		return local, remote
	}
	for p, addr := range addrs {
		if addr != q.cfg.AdvertiseAddress {
			remote[addr] = append(remote[addr], p)
		}
	}
	return local, remote
}

// catchUpBlocklist makes sure the blocklist knows every block below where
// the tails start: another querier may have trimmed records into
// blocks this one has not polled yet. Object storage that does not answer
// in time makes the answer partial.
func (q *Querier) catchUpBlocklist(ctx context.Context, sw storageWait, tails map[string]map[int32]int64) (Partial, error) {
	var partial Partial
	for tenant, from := range tails {
		need := make(map[int32]int64)
		for p, off := range from {
			if q.blocklist.CoveredEnd(tenant, p) < off {
				need[p] = off
			}
		}
		if len(need) == 0 {
			continue
		}
		p, err := sw.wait(ctx, "refresh of tenant "+tenant+"'s blocks", func(ctx context.Context) error {
			return q.blocklist.Refresh(ctx, tenant, need)
		})
		partial.Add(p)
		if err != nil {
			return partial, fmt.Errorf("refresh blocks of tenant %s: %w", tenant, err)
		}
		if p.IsPartial() {
			continue
		}
		for p, off := range need {
			if q.blocklist.CoveredEnd(tenant, p) < off {
				return partial, fmt.Errorf("%w: tenant %s partition %d below offset %d", errBlocksBehind, tenant, p, off)
			}
		}
	}
	return partial, nil
}

// serveLive returns the spans lq names in partitions from this querier's
// own tail. The answer is partial when the tail did not reach lq.ends in
// time, when it evicted records no known block holds, or when the
// blocklist did not learn the blocks below the tail's start within
// lq.storage.
func (q *Querier) serveLive(ctx context.Context, live *LiveTail, lq liveQuery, partitions []int32) (liveSlice, Partial, error) {
	owned := live.Owned()
	need := make(map[int32]int64, len(partitions))
	for _, p := range partitions {
		start, ok := owned[p]
		if !ok {
			return liveSlice{}, Partial{}, fmt.Errorf("%w: %d", errNotOwned, p)
		}
		need[p] = start
	}
	// A tail's slice is whole only with every block below its start; a
	// tenant whose blocks cannot be polled holds up only its own queries.
	if lq.storage.q == nil {
		lq.storage = q.newStorageWait()
	}
	partial, err := lq.storage.wait(ctx, "blocklist poll", func(ctx context.Context) error {
		return q.blocklist.WaitRequiredFor(ctx, lq.tenants, need)
	})
	if err != nil {
		return liveSlice{}, partial, fmt.Errorf("wait for blocklist: %w", err)
	}
	if lq.ends != nil {
		wait, cancel := context.WithTimeout(ctx, q.cfg.ReadYourWritesTimeout)
		for _, p := range partitions {
			if err := live.WaitFor(wait, p, lq.ends[p]); err != nil {
				if errors.Is(err, errNotOwned) {
					cancel()
					return liveSlice{}, partial, err
				}
				q.logger.Warn("read-your-writes: live tail behind", "partition", p, "end", lq.ends[p])
				partial.CatchUp = true
				break
			}
		}
		cancel()
	}
	s, evicted, err := live.Slice(lq.tenants, partitions, lq.ids, q.blocklist.CoveredEnd)
	partial.Add(evicted)
	return s, partial, err
}

// digest returns the digester of kind, ready to answer args; nil for a
// request for spans.
func (q *Querier) digest(kind string, args json.RawMessage) (func(liveSlice) any, error) {
	if kind == liveSpans {
		return nil, nil
	}
	d, ok := q.digesters[kind]
	if !ok {
		return nil, badRequest("live request of unknown kind %q", kind)
	}
	return d(args)
}

// answerLive answers a request of kind from this querier's own tail.
func (q *Querier) answerLive(ctx context.Context, live *LiveTail, lq liveQuery, kind string, args json.RawMessage, partitions []int32) (liveAnswer, Partial, error) {
	answer, err := q.digest(kind, args)
	if err != nil {
		return liveAnswer{}, Partial{}, err
	}
	s, partial, err := q.serveLive(ctx, live, lq, partitions)
	if err != nil {
		return liveAnswer{}, partial, err
	}
	a := liveAnswer{Traces: s.Traces, From: s.From}
	if answer == nil {
		return a, partial, nil
	}
	d, err := json.Marshal(answer(s))
	if err != nil {
		return liveAnswer{}, partial, err
	}
	a.Traces, a.Digests = nil, []json.RawMessage{d}
	return a, partial, nil
}

// askOwner reads another querier's tail of partitions. An answer over
// querier.peer-max-response-bytes for several traces is asked for again
// in halves, so that only a single trace over the bound fails.
func (q *Querier) askOwner(ctx context.Context, addr string, lq liveQuery, kind string, args json.RawMessage, partitions []int32) (liveAnswer, Partial, error) {
	a, partial, err := q.askOwnerOnce(ctx, addr, lq.request(kind, args, partitions))
	if !errors.Is(err, errResponseTooLarge) || kind != liveSpans || len(lq.ids) < 2 {
		return a, partial, err
	}
	out := newLiveAnswer()
	half := len(lq.ids) / 2
	for _, ids := range [][]pcommon.TraceID{lq.ids[:half], lq.ids[half:]} {
		part := lq
		part.ids = ids
		a, p, err := q.askOwner(ctx, addr, part, kind, args, partitions)
		if err != nil {
			return liveAnswer{}, Partial{}, err
		}
		out.merge(a)
		partial.Add(p)
	}
	return out, partial, nil
}

func (q *Querier) askOwnerOnce(ctx context.Context, addr string, req liveRequest) (liveAnswer, Partial, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return liveAnswer{}, Partial{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, q.cfg.PeerTimeout)
	defer cancel()
	a, partial, err := q.postLive(ctx, addr, body)
	switch {
	case err == nil:
		q.metrics.peerRequests.WithLabelValues("ok").Inc()
	case errors.Is(err, errNotOwned):
		q.metrics.peerRequests.WithLabelValues("not_owner").Inc()
	case errors.Is(err, errResponseTooLarge):
		q.metrics.peerRequests.WithLabelValues("too_large").Inc()
	default:
		q.metrics.peerRequests.WithLabelValues("error").Inc()
	}
	return a, partial, err
}

func (q *Querier) postLive(ctx context.Context, addr string, body []byte) (liveAnswer, Partial, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+livePath, bytes.NewReader(body))
	if err != nil {
		return liveAnswer{}, Partial{}, err
	}
	hreq.Header.Set("Content-Type", mediaJSON)
	resp, err := q.peers.Do(hreq)
	if err != nil {
		return liveAnswer{}, Partial{}, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusMisdirectedRequest:
		return liveAnswer{}, Partial{}, fmt.Errorf("%s: %w", addr, errNotOwned)
	case http.StatusUnprocessableEntity:
		// The owner's message names the bound.
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		msg = bytes.TrimPrefix(bytes.TrimSpace(msg), []byte(errResponseTooLarge.Error()+": "))
		return liveAnswer{}, Partial{}, fmt.Errorf("querier %s: %w: %s", addr, errResponseTooLarge, msg)
	default:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return liveAnswer{}, Partial{}, fmt.Errorf("%s: %s: %s", addr, resp.Status, bytes.TrimSpace(msg))
	}
	// An owner of another version, or a broken one, is read within the
	// bound all the same.
	limit := q.cfg.PeerMaxResponseBytes
	limited := &io.LimitedReader{R: resp.Body, N: limit + 1}
	var lr liveResponse
	if err := json.NewDecoder(limited).Decode(&lr); err != nil {
		if limited.N <= 0 {
			return liveAnswer{}, Partial{}, fmt.Errorf("querier %s: %w: live tail answer over querier.peer-max-response-bytes %d", addr, errResponseTooLarge, limit)
		}
		return liveAnswer{}, Partial{}, fmt.Errorf("%s: decode live tail: %w", addr, err)
	}
	out := newLiveAnswer()
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
			return liveAnswer{}, Partial{}, fmt.Errorf("%s: decode live tail: %w", addr, err)
		}
		out.Traces[tenant] = append(out.Traces[tenant], td)
	}
	return out, lr.Partial, nil
}

// handleLive serves this querier's tail to other queriers. A partition
// it does not hold is a 421 Misdirected Request: the caller asks the
// group again.
func (q *Querier) handleLive(w http.ResponseWriter, r *http.Request) error {
	var req liveRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		return badRequest("live request: %v", err)
	}
	if len(req.Tenants) == 0 || len(req.Partitions) == 0 {
		return badRequest("live request names no tenant or partition")
	}
	// No query reads a whole tail: a request for spans names its traces.
	if req.Kind == liveSpans && len(req.TraceIDs) == 0 {
		return badRequest("live request asks for the spans of no trace")
	}
	answer, err := q.digest(req.Kind, req.Args)
	if err != nil {
		return err
	}
	lq, err := req.query()
	if err != nil {
		return err
	}
	live := q.live.Load()
	if live == nil {
		return ErrNotReady
	}
	s, partial, err := q.serveLive(r.Context(), live, lq, req.Partitions)
	if err != nil {
		return err
	}
	resp := liveResponse{From: s.From, Partial: partial}
	// The spans are measured before they are encoded, so that an answer
	// far over the bound costs no copy of it.
	limit := q.cfg.PeerMaxResponseBytes
	tooLarge := func(size int64) error {
		return fmt.Errorf("%w: live tail answer of %d bytes or more, over querier.peer-max-response-bytes %d", errResponseTooLarge, size, limit)
	}
	if answer != nil {
		if resp.Digest, err = json.Marshal(answer(s)); err != nil {
			return err
		}
	} else {
		var (
			m    ptrace.ProtoMarshaler
			size int64
		)
		resp.Traces = make(map[string][]byte, len(s.Traces))
		for tenant, parts := range s.Traces {
			if len(parts) == 0 {
				continue
			}
			all := ptrace.NewTraces()
			for _, td := range parts {
				td.ResourceSpans().MoveAndAppendTo(all.ResourceSpans())
			}
			// JSON carries the protobuf in base64: 4 bytes for 3.
			if size += int64(m.TracesSize(all)) * 4 / 3; size > limit {
				return tooLarge(size)
			}
			if resp.Traces[tenant], err = m.MarshalTraces(all); err != nil {
				return err
			}
		}
	}
	body, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	if int64(len(body)) > limit {
		return tooLarge(int64(len(body)))
	}
	return write(w, responseLimit{}, mediaJSON, body)
}

// merge adds o to a.
func (a *liveAnswer) merge(o liveAnswer) {
	for tenant, parts := range o.Traces {
		a.Traces[tenant] = append(a.Traces[tenant], parts...)
	}
	a.Digests = append(a.Digests, o.Digests...)
	// Answers of one partition from one owner (halves of a request)
	// hold every record from the furthest of their starts.
	for tenant, from := range o.From {
		if a.From[tenant] == nil {
			a.From[tenant] = make(map[int32]int64, len(from))
		}
		for p, off := range from {
			a.From[tenant][p] = max(a.From[tenant][p], off)
		}
	}
}
