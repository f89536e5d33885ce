package querier

import (
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// pendingTraces tracks the traces of a batch lookup while blocks are read
// concurrently. The spans of one trace can be in several blocks, so a trace
// is complete only once every block that may hold it was read; each trace
// counts those blocks down, and goes to ready when none is left.
type pendingTraces struct {
	mu     sync.Mutex
	traces map[pcommon.TraceID]*pendingTrace
	// ready receives each trace once, when it is complete. It has room
	// for every trace, so settling never blocks a block reader.
	ready chan pcommon.TraceID
}

type pendingTrace struct {
	parts  []ptrace.Traces
	blocks int // blocks that may hold the trace and are not read yet
}

func newPendingTraces(ids []pcommon.TraceID) *pendingTraces {
	p := &pendingTraces{
		traces: make(map[pcommon.TraceID]*pendingTrace, len(ids)),
		ready:  make(chan pcommon.TraceID, len(ids)),
	}
	for _, id := range ids {
		p.traces[id] = &pendingTrace{}
	}
	return p
}

// expect counts one more block that may hold id. Every call comes before
// start.
func (p *pendingTraces) expect(id pcommon.TraceID) {
	p.traces[id].blocks++
}

// start makes ready the traces no block may hold.
func (p *pendingTraces) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, t := range p.traces {
		if t.blocks == 0 {
			p.ready <- id
		}
	}
}

// add adds spans of trace id found outside blocks, before start.
func (p *pendingTraces) add(id pcommon.TraceID, parts ...ptrace.Traces) {
	t := p.traces[id]
	t.parts = append(t.parts, parts...)
}

// found adds the spans of id one block holds, all it holds of id, and
// counts that block as read for id.
func (p *pendingTraces) found(id pcommon.TraceID, td ptrace.Traces) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.traces[id]
	t.parts = append(t.parts, td)
	p.settleLocked(id, t)
}

// settle counts one block as read for each of ids.
func (p *pendingTraces) settle(ids []pcommon.TraceID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		p.settleLocked(id, p.traces[id])
	}
}

func (p *pendingTraces) settleLocked(id pcommon.TraceID, t *pendingTrace) {
	t.blocks--
	if t.blocks == 0 {
		p.ready <- id
	}
}

// take returns the parts of a ready trace, and forgets them.
func (p *pendingTraces) take(id pcommon.TraceID) []ptrace.Traces {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.traces[id]
	parts := t.parts
	t.parts = nil
	return parts
}
