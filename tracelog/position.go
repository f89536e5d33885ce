package tracelog

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Position names a place in each partition of the log, as operators give
// one to a tool: the log's start or end, an offset, or the first record
// stamped at or after a time. The zero Position names none.
type Position struct {
	kind   positionKind
	offset int64
	time   time.Time
}

type positionKind int

const (
	positionNone positionKind = iota
	positionStart
	positionEnd
	positionOffset
	positionTime
)

// LogStart is the first offset retention has kept.
func LogStart() Position { return Position{kind: positionStart} }

// LogEnd is the offset the next record will get.
func LogEnd() Position { return Position{kind: positionEnd} }

// AtOffset is offset o in every partition.
func AtOffset(o int64) Position { return Position{kind: positionOffset, offset: o} }

// AtTime is the first record stamped at or after t (the end where there is
// none), by Kafka's ListOffsets with a timestamp.
func AtTime(t time.Time) Position { return Position{kind: positionTime, time: t} }

// IsZero reports whether p names no place.
func (p Position) IsZero() bool { return p.kind == positionNone }

// Offset returns the offset p names, and whether it names one.
func (p Position) Offset() (int64, bool) { return p.offset, p.kind == positionOffset }

func (p Position) String() string {
	switch p.kind {
	case positionStart:
		return "earliest"
	case positionEnd:
		return "latest"
	case positionOffset:
		return strconv.FormatInt(p.offset, 10)
	case positionTime:
		return p.time.UTC().Format(time.RFC3339Nano)
	}
	return "none"
}

// ParsePosition reads a position as operators write one: earliest (or
// start), latest (or end), an offset, a time in RFC 3339
// (2026-11-21T12:00:00Z), or a duration (90m, 2h30m) that long before now.
func ParsePosition(s string, now time.Time) (Position, error) {
	switch s {
	case "earliest", "start":
		return LogStart(), nil
	case "latest", "end":
		return LogEnd(), nil
	}
	if o, err := strconv.ParseInt(s, 10, 64); err == nil {
		if o < 0 {
			return Position{}, fmt.Errorf("offset %d is negative", o)
		}
		return AtOffset(o), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return AtTime(t), nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return AtTime(now.Add(-d)), nil
	}
	return Position{}, fmt.Errorf("%q is no position: want earliest, latest, an offset, a time (2026-11-21T12:00:00Z) or a duration ago (90m)", s)
}

// Resolve returns the offset p names in each partition of topic; nil for
// the zero Position.
func (p Position) Resolve(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	switch p.kind {
	case positionStart:
		return StartOffsets(ctx, cl, topic)
	case positionEnd:
		return EndOffsets(ctx, cl, topic)
	case positionTime:
		return OffsetsAfter(ctx, cl, topic, p.time)
	case positionOffset:
		ends, err := EndOffsets(ctx, cl, topic)
		if err != nil {
			return nil, err
		}
		out := make(map[int32]int64, len(ends))
		for part := range ends {
			out[part] = p.offset
		}
		return out, nil
	}
	return nil, nil
}
