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

	"github.com/spanlog/spanlog/querier/traceql"
	"github.com/spanlog/spanlog/schema"
)

// errBlocksBehind is returned when another querier's live tail has dropped
// records into blocks this querier cannot see yet.
var errBlocksBehind = errors.New("blocks another querier trimmed its live tail for are not visible yet")

// liveRequest asks for live tail spans.
type liveRequest struct {
	Tenants    []string `json:"tenants"`
	Partitions []int32  `json:"partitions"`
	// TraceIDs, in hex, limit the spans to those traces; empty means all.
	TraceIDs []string `json:"traceIDs,omitempty"`
	// Ends are the log's end offsets when the query began: the owner waits
	// up to ReadYourWritesTimeout for its tail to reach them.
	Ends map[int32]int64 `json:"ends,omitempty"`
	// Candidates asks for the search candidates of Query (TraceQL; empty
	// means every trace) instead of spans: the ID and start of each trace
	// whose part in the tail has a span that passes the query's filter.
	Candidates bool   `json:"candidates,omitempty"`
	Query      string `json:"query,omitempty"`
	// Tags asks for the tag names or values of the spans in the tail, as
	// tags and values requests without a query collect them, instead of
	// spans.
	Tags *tagQuery `json:"tags,omitempty"`
}

// liveResponse is an owner's answer to a liveRequest.
type liveResponse struct {
	Tenants map[string]liveTenantJSON `json:"tenants"`
	// Tags are the tags collected from every tenant asked for.
	Tags *tagSetJSON `json:"tags,omitempty"`
	// Partial says why the answer may miss spans: the tail had not
	// reached Ends in time, evicted records, or lacked the blocklist.
	Partial Partial `json:"partial,omitzero"`
}

type liveTenantJSON struct {
	From map[int32]int64 `json:"from"`
	// Traces is an OTLP ExportTraceServiceRequest in protobuf.
	Traces     []byte              `json:"traces,omitempty"`
	Candidates []liveCandidateJSON `json:"candidates,omitempty"`
}

type liveCandidateJSON struct {
	ID    string `json:"id"`
	Start uint64 `json:"start,string"`
}

// liveQuery is what fetchLive is asked for.
type liveQuery struct {
	tenants []string
	// partitions to read; nil means every partition.
	partitions []int32
	// ids, when not empty, limit the spans to those traces.
	ids []pcommon.TraceID
	// ends, when not nil, are the offsets each tail must reach first
	// (read your writes).
	ends map[int32]int64
	// candidates asks for the candidates of query (every trace if nil)
	// rather than for spans (see liveRequest.Candidates).
	candidates bool
	query      *traceql.Query
	// tags, when set, asks for the tags the spans hold rather than for
	// spans (see liveRequest.Tags).
	tags *tagQuery
	// storage bounds the waits on object storage; the zero value starts
	// the bound at the call.
	storage storageWait
}

// query is the liveQuery another querier sent as req.
func (req liveRequest) query() (liveQuery, error) {
	lq := liveQuery{tenants: req.Tenants, partitions: req.Partitions, ends: req.Ends, candidates: req.Candidates, tags: req.Tags}
	for _, s := range req.TraceIDs {
		id, err := parseTraceID(s)
		if err != nil {
			return lq, err
		}
		lq.ids = append(lq.ids, id)
	}
	if req.Candidates && req.Query != "" {
		query, err := traceql.Parse(req.Query)
		if err != nil {
			return lq, badRequest("live request query: %v", err)
		}
		lq.query = query
	}
	return lq, nil
}

// request is lq for partitions as sent to another querier.
func (lq liveQuery) request(partitions []int32) liveRequest {
	req := liveRequest{Tenants: lq.tenants, Partitions: partitions, Ends: lq.ends, Tags: lq.tags}
	for _, id := range lq.ids {
		req.TraceIDs = append(req.TraceIDs, hex.EncodeToString(id[:]))
	}
	req.Candidates = lq.candidates
	if lq.candidates && lq.query != nil {
		req.Query = lq.query.String()
	}
	return req
}

// livePath is the route a querier serves its live tail to other queriers
// on. It is internal: it takes tenants from the body, not the header.
const livePath = "/internal/live"

// fetchLive returns what lq asks of the live tails: from this querier's
// own tail, and from the queriers owning the other partitions. With
// lq.ends, each owner first waits for its tail to reach them. The Partial
// says why spans may be missing (see serveLive). A partition without a
// reachable owner (a querier died and the group has not yet moved its
// partitions) is asked again until ctx ends.
func (q *Querier) fetchLive(ctx context.Context, lq liveQuery) (liveSlice, Partial, error) {
	out := newLiveSlice()
	if lq.tags != nil {
		out.Tags = newTagSet(*lq.tags)
	}
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
		done := func(s liveSlice, p Partial, parts []int32) {
			mu.Lock()
			defer mu.Unlock()
			out.merge(s)
			partial.Add(p)
			for _, pid := range parts {
				served[pid] = true
			}
		}
		if len(local) > 0 {
			wg.Go(func() {
				s, p, err := q.serveLive(ctx, live, lq, local)
				if err == nil {
					done(s, p, local)
				} else if !errors.Is(err, errNotOwned) {
					q.logger.Warn("live tail read failed", "err", err)
				}
			})
		}
		for addr, parts := range remote {
			wg.Go(func() {
				s, p, err := q.askOwner(ctx, addr, lq, parts)
				switch {
				case err == nil:
					done(s, p, parts)
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
	p, err := q.catchUpBlocklist(ctx, lq.storage, out)
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
// the slice's tails start: another querier may have trimmed records into
// blocks this one has not polled yet. Object storage that does not answer
// in time makes the answer partial.
func (q *Querier) catchUpBlocklist(ctx context.Context, sw storageWait, s liveSlice) (Partial, error) {
	var partial Partial
	for tenant, from := range s.From {
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

// serveLive answers lq for partitions from this querier's own tail. The
// answer is partial when the tail did not reach lq.ends in time, when it
// evicted records no known block holds, or when the blocklist did not
// learn the blocks below the tail's start within lq.storage.
func (q *Querier) serveLive(ctx context.Context, live *LiveTail, lq liveQuery, partitions []int32) (liveSlice, Partial, error) {
	var filter *candidateFilter
	if lq.candidates && lq.query != nil {
		filter = newCandidateFilter(lq.query)
	}
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
	if err != nil {
		return s, partial, err
	}
	if lq.tags != nil {
		s.Tags = newTagSet(*lq.tags)
		for _, parts := range s.Traces {
			for _, td := range parts {
				rows := schema.AppendRows(nil, td)
				for i := range rows {
					s.Tags.add(&rows[i])
				}
			}
		}
		s.Traces = nil
		return s, partial, nil
	}
	if !lq.candidates {
		return s, partial, nil
	}
	s.Candidates = make(map[string][]candidate, len(s.Traces))
	for tenant, parts := range s.Traces {
		var rows []schema.SpanRow
		for _, td := range parts {
			rows = schema.AppendRows(rows, td)
		}
		eachTrace(rows, func(trace []schema.SpanRow) {
			if filter == nil || filter.anyMatches(trace) {
				start, _ := traceql.Bounds(trace)
				s.Candidates[tenant] = append(s.Candidates[tenant], candidate{trace[0].TraceID, start})
			}
		})
	}
	s.Traces = nil
	return s, partial, nil
}

// askOwner reads another querier's tail of partitions. An answer over
// querier.peer-max-response-bytes for several traces is asked for again
// in halves, so that only a single trace over the bound fails.
func (q *Querier) askOwner(ctx context.Context, addr string, lq liveQuery, partitions []int32) (liveSlice, Partial, error) {
	s, partial, err := q.askOwnerOnce(ctx, addr, lq.request(partitions))
	if !errors.Is(err, errResponseTooLarge) || len(lq.ids) < 2 {
		return s, partial, err
	}
	out := newLiveSlice()
	half := len(lq.ids) / 2
	for _, ids := range [][]pcommon.TraceID{lq.ids[:half], lq.ids[half:]} {
		part := lq
		part.ids = ids
		s, p, err := q.askOwner(ctx, addr, part, partitions)
		if err != nil {
			return liveSlice{}, Partial{}, err
		}
		out.merge(s)
		partial.Add(p)
	}
	return out, partial, nil
}

func (q *Querier) askOwnerOnce(ctx context.Context, addr string, req liveRequest) (liveSlice, Partial, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return liveSlice{}, Partial{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, q.cfg.PeerTimeout)
	defer cancel()
	s, partial, err := q.postLive(ctx, addr, body, req.Tags)
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
	return s, partial, err
}

func (q *Querier) postLive(ctx context.Context, addr string, body []byte, tags *tagQuery) (liveSlice, Partial, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+livePath, bytes.NewReader(body))
	if err != nil {
		return liveSlice{}, Partial{}, err
	}
	hreq.Header.Set("Content-Type", mediaJSON)
	resp, err := q.peers.Do(hreq)
	if err != nil {
		return liveSlice{}, Partial{}, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusMisdirectedRequest:
		return liveSlice{}, Partial{}, fmt.Errorf("%s: %w", addr, errNotOwned)
	case http.StatusUnprocessableEntity:
		// The owner's message names the bound.
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		msg = bytes.TrimPrefix(bytes.TrimSpace(msg), []byte(errResponseTooLarge.Error()+": "))
		return liveSlice{}, Partial{}, fmt.Errorf("querier %s: %w: %s", addr, errResponseTooLarge, msg)
	default:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return liveSlice{}, Partial{}, fmt.Errorf("%s: %s: %s", addr, resp.Status, bytes.TrimSpace(msg))
	}
	// An owner of another version, or a broken one, is read within the
	// bound all the same.
	limit := q.cfg.PeerMaxResponseBytes
	limited := &io.LimitedReader{R: resp.Body, N: limit + 1}
	var lr liveResponse
	if err := json.NewDecoder(limited).Decode(&lr); err != nil {
		if limited.N <= 0 {
			return liveSlice{}, Partial{}, fmt.Errorf("querier %s: %w: live tail answer over querier.peer-max-response-bytes %d", addr, errResponseTooLarge, limit)
		}
		return liveSlice{}, Partial{}, fmt.Errorf("%s: decode live tail: %w", addr, err)
	}
	out := newLiveSlice()
	if tags != nil {
		out.Tags = newTagSet(*tags)
		if lr.Tags != nil {
			out.Tags.merge(*lr.Tags)
		}
	}
	var u ptrace.ProtoUnmarshaler
	for tenant, lt := range lr.Tenants {
		out.From[tenant] = lt.From
		for _, c := range lt.Candidates {
			id, err := parseTraceID(c.ID)
			if err != nil {
				return liveSlice{}, Partial{}, fmt.Errorf("%s: candidate: %w", addr, err)
			}
			out.Candidates[tenant] = append(out.Candidates[tenant], candidate{id, c.Start})
		}
		if len(lt.Traces) == 0 {
			continue
		}
		td, err := u.UnmarshalTraces(lt.Traces)
		if err != nil {
			return liveSlice{}, Partial{}, fmt.Errorf("%s: decode live tail: %w", addr, err)
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
	if !req.Candidates && req.Tags == nil && len(req.TraceIDs) == 0 {
		return badRequest("live request asks for the spans of no trace")
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
	resp := liveResponse{Tenants: make(map[string]liveTenantJSON, len(s.From)), Partial: partial}
	if s.Tags != nil {
		tags := s.Tags.json()
		resp.Tags = &tags
	}
	// The spans are measured before they are encoded, so that an answer
	// far over the bound costs no copy of it.
	limit := q.cfg.PeerMaxResponseBytes
	tooLarge := func(size int64) error {
		return fmt.Errorf("%w: live tail answer of %d bytes or more, over querier.peer-max-response-bytes %d", errResponseTooLarge, size, limit)
	}
	var (
		m    ptrace.ProtoMarshaler
		size int64
	)
	for tenant, from := range s.From {
		lt := liveTenantJSON{From: from}
		for _, c := range s.Candidates[tenant] {
			lt.Candidates = append(lt.Candidates, liveCandidateJSON{ID: hex.EncodeToString(c.id[:]), Start: c.start})
		}
		if parts := s.Traces[tenant]; len(parts) > 0 {
			all := ptrace.NewTraces()
			for _, td := range parts {
				td.ResourceSpans().MoveAndAppendTo(all.ResourceSpans())
			}
			// JSON carries the protobuf in base64: 4 bytes for 3.
			if size += int64(m.TracesSize(all)) * 4 / 3; size > limit {
				return tooLarge(size)
			}
			if lt.Traces, err = m.MarshalTraces(all); err != nil {
				return err
			}
		}
		resp.Tenants[tenant] = lt
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

// merge adds o to s.
func (s liveSlice) merge(o liveSlice) {
	if s.Tags != nil && o.Tags != nil {
		s.Tags.merge(o.Tags.json())
	}
	for tenant, parts := range o.Traces {
		s.Traces[tenant] = append(s.Traces[tenant], parts...)
	}
	for tenant, cands := range o.Candidates {
		s.Candidates[tenant] = append(s.Candidates[tenant], cands...)
	}
	// Answers of one partition from one owner (halves of a request)
	// hold every record from the furthest of their starts.
	for tenant, from := range o.From {
		if s.From[tenant] == nil {
			s.From[tenant] = make(map[int32]int64, len(from))
		}
		for p, off := range from {
			s.From[tenant][p] = max(s.From[tenant][p], off)
		}
	}
}
