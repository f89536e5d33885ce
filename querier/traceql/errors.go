package traceql

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// ParseError is a query that does not parse, or that uses TraceQL spanlog
// does not support. It points at the offending place, so a client can
// underline it.
type ParseError struct {
	// Pos is the byte offset into the query.
	Pos int
	// Line and Col are 1-based; Col counts characters, not bytes.
	Line, Col int
	Msg       string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("parse error at %d:%d: %s", e.Line, e.Col, e.Msg)
}

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
