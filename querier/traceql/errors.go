package traceql

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Bounds on a query. The parser, and every walk of a parsed query
// (evaluation, printing, Conditions), recurse once per level of nesting,
// and a goroutine whose stack overflows takes its whole process down: no
// recover catches it. So Parse refuses what would nest or run too deep.
const (
	// MaxQueryBytes is the longest query Parse accepts, both as written
	// and in canonical form (String), which another querier parses again.
	MaxQueryBytes = 128 << 10
	// MaxDepth is how deeply a query may nest, counted two ways and
	// bounded in both: the parentheses and !s open at any point of the
	// text, which the parser recurses into; and the levels of the parsed
	// query, which its walks recurse into, where a filter's braces, a !
	// and each binary operator are a level, so that a chain a && b && c
	// is two levels deep. As in Go's regexp package, a thousand levels
	// leave any query a person writes far below the bound.
	MaxDepth = 1000
)

// ErrTooLarge is what the ParseError of a query over MaxQueryBytes or
// MaxDepth wraps: no fix of its syntax makes such a query parse, so a
// caller that narrows a query that does not parse must refuse it instead.
var ErrTooLarge = errors.New("query too large")

// ParseError is a query that does not parse, or that uses TraceQL spanlog
// does not support. It points at the offending place, so a client can
// underline it.
type ParseError struct {
	// Pos is the byte offset into the query.
	Pos int
	// Line and Col are 1-based; Col counts characters, not bytes.
	Line, Col int
	Msg       string

	// err is the sentinel the error wraps, if any.
	err error
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("parse error at %d:%d: %s", e.Line, e.Col, e.Msg)
}

func (e *ParseError) Unwrap() error { return e.err }

func newParseError(src string, pos int, format string, args ...any) *ParseError {
	before := src[:pos]
	lineStart := strings.LastIndexByte(before, '\n') + 1
	return &ParseError{
		Pos:  pos,
		Line: strings.Count(before, "\n") + 1,
		Col:  utf8.RuneCountInString(before[lineStart:]) + 1,
		Msg:  fmt.Sprintf(format, args...),
	}
}

// tooLarge returns the error of a query over one of the bounds at pos.
func tooLarge(src string, pos int, format string, args ...any) *ParseError {
	e := newParseError(src, pos, format, args...)
	e.err = ErrTooLarge
	return e
}
