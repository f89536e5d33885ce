package live

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Partial says why an answer may lack spans that were acked; the zero
// value is a whole answer. The HTTP API shows it as Tempo's PARTIAL status
// with Message, and queriers pass it to each other in JSON.
type Partial struct {
	// CatchUp: the live tail did not reach the end of the log within
	// read-your-writes-timeout, so spans acked moments ago may be missing.
	CatchUp bool `json:"catchUp,omitempty"`
	// Evicted: the live tail went over live-tail-max-bytes and dropped its
	// oldest records before any known block held them.
	Evicted bool `json:"evicted,omitempty"`
	// Storage, when set, says what object storage failed to do: spans
	// only in blocks may be missing.
	Storage string `json:"storage,omitempty"`
}

// IsPartial reports whether spans may be missing.
func (p Partial) IsPartial() bool { return p != Partial{} }

// Add adds the reasons of o to p.
func (p *Partial) Add(o Partial) {
	p.CatchUp = p.CatchUp || o.CatchUp
	p.Evicted = p.Evicted || o.Evicted
	if p.Storage == "" {
		p.Storage = o.Storage
	}
}

// Message says, for a person, what may be missing and why.
func (p Partial) Message() string {
	var why []string
	if p.CatchUp {
		why = append(why, "the live tail did not catch up in time; spans acked moments ago may be missing")
	}
	if p.Evicted {
		why = append(why, "the live tail reached querier.live-tail-max-bytes and dropped its oldest records before blocks held them; "+
			"older spans may be missing until the block-builders catch up")
	}
	if p.Storage != "" {
		why = append(why, "object storage did not answer ("+p.Storage+"); spans only in blocks may be missing")
	}
	return strings.Join(why, "; ")
}

// StorageWait bounds how long one request waits on object storage for
// its blocklist: past querier.storage-timeout from the request's start, it
// answers from what it has rather than wait for a bucket that may be gone.
// The zero value starts the bound where it is first needed.
type StorageWait struct {
	by      time.Time
	timeout time.Duration
	// gaveUp counts the waits cut short.
	gaveUp prometheus.Counter
	logger *slog.Logger
}

// NewStorageWait starts the bound of one request's waits, timeout from
// now; gaveUp counts the waits cut short.
func NewStorageWait(timeout time.Duration, gaveUp prometheus.Counter, logger *slog.Logger) StorageWait {
	return StorageWait{by: time.Now().Add(timeout), timeout: timeout, gaveUp: gaveUp, logger: logger}
}

func (w StorageWait) isZero() bool { return w.by.IsZero() }

// Wait runs wait, a wait on the blocklist that must check what it waits
// for before it looks at ctx, until the request's storage deadline. A wait
// cut short, or failed, while ctx is live gives a Partial naming what; an
// error only when ctx ended.
func (w StorageWait) Wait(ctx context.Context, what string, wait func(context.Context) error) (Partial, error) {
	wctx, cancel := context.WithDeadline(ctx, w.by)
	defer cancel()
	err := wait(wctx)
	switch {
	case err == nil:
		return Partial{}, nil
	case ctx.Err() != nil:
		return Partial{}, err
	}
	w.gaveUp.Inc()
	w.logger.Warn("answering without object storage", "waited_for", what, "err", err)
	if wctx.Err() != nil {
		return Partial{Storage: fmt.Sprintf("%s not done within querier.storage-timeout (%s)", what, w.timeout)}, nil
	}
	return Partial{Storage: fmt.Sprintf("%s: %v", what, err)}, nil
}
