package traceql

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

type tokenKind uint8

const (
	tokEOF tokenKind = iota
	tokIdent
	tokString
	tokInt
	tokFloat
	tokDuration
	tokLBrace
	tokRBrace
	tokLParen
	tokRParen
	tokComma
	tokDot
	tokPipe
	tokAnd
	tokOr
	tokNot
	tokEq
	tokNeq
	tokGt
	tokGte
	tokLt
	tokLte
	tokRe
	tokNre
	tokDescendant // >>
	tokAncestor   // <<
	tokTilde      // ~
	// tokStructural is a negated or union structural operator (!>>,
	// &>, ...), which only spanset operators spell.
	tokStructural
	tokPlus
	tokMinus
	tokStar
	tokSlash
	tokPercent
	// tokUnsupported is an operator TraceQL has and spanlog does not:
	// ^ (power). The parser names it in its error.
	tokUnsupported
)

// token is one lexeme. text is its source; val is the value of a string,
// number or duration.
type token struct {
	kind tokenKind
	pos  int
	text string
	val  Value
}

// describe names the token for an error message.
func (t token) describe() string {
	if t.kind == tokEOF {
		return "end of query"
	}
	text := t.text
	if utf8.RuneCountInString(text) > 24 {
		text = string([]rune(text)[:24]) + "..."
	}
	return strconv.Quote(text)
}

// lexer splits a query into tokens on demand. The parser reads attribute
// names itself (scanAttributeName), because what may appear in a name
// depends on where it is.
type lexer struct {
	src string
	pos int
}

// operators maps operator spellings to tokens; next tries the longest
// spelling first, so ">>" is never read as two ">".
var operators = map[string]tokenKind{
	"{": tokLBrace, "}": tokRBrace, "(": tokLParen, ")": tokRParen,
	",": tokComma, ".": tokDot, "|": tokPipe, "||": tokOr, "&&": tokAnd,
	"!": tokNot, "=": tokEq, "!=": tokNeq, "=~": tokRe, "!~": tokNre,
	">": tokGt, ">=": tokGte, "<": tokLt, "<=": tokLte,
	">>": tokDescendant, "<<": tokAncestor, "~": tokTilde,
	"!>>": tokStructural, "!<<": tokStructural, "!>": tokStructural, "!<": tokStructural,
	"&>>": tokStructural, "&<<": tokStructural, "&>": tokStructural, "&<": tokStructural,
	"&~": tokStructural, "+": tokPlus, "-": tokMinus, "*": tokStar,
	"/": tokSlash, "%": tokPercent, "^": tokUnsupported,
}

const maxOperatorLen = 3

// next returns the token at the lexer's position and moves past it.
func (l *lexer) next() (token, error) {
	l.skipSpace()
	start := l.pos
	if start >= len(l.src) {
		return token{kind: tokEOF, pos: start}, nil
	}
	c := l.src[start]
	switch {
	case c == '"' || c == '`':
		s, err := l.scanString()
		if err != nil {
			return token{}, err
		}
		return token{kind: tokString, pos: start, text: l.src[start:l.pos], val: StringValue(s)}, nil
	case isDigit(c) || c == '-' && start+1 < len(l.src) && isDigit(l.src[start+1]) || l.fractionStart():
		return l.scanNumber()
	case isIdentStart(c):
		for l.pos < len(l.src) && isIdentPart(l.src[l.pos]) {
			l.pos++
		}
		return token{kind: tokIdent, pos: start, text: l.src[start:l.pos]}, nil
	}
	for n := min(maxOperatorLen, len(l.src)-start); n > 0; n-- {
		if kind, ok := operators[l.src[start:start+n]]; ok {
			l.pos += n
			return token{kind: kind, pos: start, text: l.src[start:l.pos]}, nil
		}
	}
	r, _ := utf8.DecodeRuneInString(l.src[start:])
	return token{}, newParseError(l.src, start, "unexpected character %q", r)
}

// fractionStart reports whether the lexer is at a number written without
// its leading zero, as .3 (Traces Drilldown sends duration > trace:duration
// * .3): a dot and a digit that do not go on a name, so that span.3 and
// .a.3 stay attribute names.
func (l *lexer) fractionStart() bool {
	p := l.pos
	if p+1 >= len(l.src) || l.src[p] != '.' || !isDigit(l.src[p+1]) {
		return false
	}
	return p == 0 || !isIdentPart(l.src[p-1]) && l.src[p-1] != '.' && l.src[p-1] != '"' && l.src[p-1] != '`'
}

func (l *lexer) skipSpace() {
	for l.pos < len(l.src) {
		switch l.src[l.pos] {
		case ' ', '\t', '\n', '\r':
			l.pos++
		default:
			return
		}
	}
}

// scanString reads a double-quoted string, with the escapes \" \\ \n \r \t,
// or a backquoted raw string without escapes, which suits regular
// expressions.
func (l *lexer) scanString() (string, error) {
	start := l.pos
	q := l.src[start]
	l.pos++
	if q == '`' {
		end := strings.IndexByte(l.src[l.pos:], '`')
		if end < 0 {
			return "", newParseError(l.src, start, "unterminated string")
		}
		s := l.src[l.pos : l.pos+end]
		l.pos += end + 1
		return s, nil
	}
	var b strings.Builder
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch c {
		case '"':
			l.pos++
			return b.String(), nil
		case '\\':
			if l.pos+1 >= len(l.src) {
				return "", newParseError(l.src, start, "unterminated string")
			}
			e, ok := escapes[l.src[l.pos+1]]
			if !ok {
				return "", newParseError(l.src, l.pos,
					"unknown escape %q in string; write \\\\ for a backslash or use a `raw string`", l.src[l.pos:l.pos+2])
			}
			b.WriteByte(e)
			l.pos += 2
		default:
			b.WriteByte(c)
			l.pos++
		}
	}
	return "", newParseError(l.src, start, "unterminated string")
}

var escapes = map[byte]byte{'"': '"', '\\': '\\', 'n': '\n', 'r': '\r', 't': '\t'}

// scanNumber reads an integer, a float or a duration. A number directly
// followed by a unit is a duration in Go's syntax (1.5s, 100ms, 1h30m).
func (l *lexer) scanNumber() (token, error) {
	start := l.pos
	if l.src[l.pos] == '-' {
		l.pos++
	}
	l.skipDigits()
	float := false
	if l.pos+1 < len(l.src) && l.src[l.pos] == '.' && isDigit(l.src[l.pos+1]) {
		float = true
		l.pos++
		l.skipDigits()
	}
	if l.hasExponent() {
		float = true
		l.pos++
		if c := l.src[l.pos]; c == '+' || c == '-' {
			l.pos++
		}
		l.skipDigits()
	}
	if l.pos < len(l.src) && (isIdentStart(l.src[l.pos]) || isMicro(l.src[l.pos:])) {
		return l.scanDuration(start)
	}
	t := token{kind: tokInt, pos: start, text: l.src[start:l.pos]}
	var err error
	if float {
		var f float64
		f, err = strconv.ParseFloat(t.text, 64)
		if err == nil && math.IsInf(f, 0) {
			err = strconv.ErrRange
		}
		t.kind, t.val = tokFloat, FloatValue(f)
	} else {
		var i int64
		i, err = strconv.ParseInt(t.text, 10, 64)
		t.val = IntValue(i)
	}
	if err != nil {
		return token{}, newParseError(l.src, start, "number %s is out of range", t.text)
	}
	return t, nil
}

// hasExponent reports whether an exponent (e5, E-3) follows; an e that
// starts a unit or a name does not count.
func (l *lexer) hasExponent() bool {
	i := l.pos
	if i >= len(l.src) || (l.src[i] != 'e' && l.src[i] != 'E') {
		return false
	}
	i++
	if i < len(l.src) && (l.src[i] == '+' || l.src[i] == '-') {
		i++
	}
	return i < len(l.src) && isDigit(l.src[i])
}

func (l *lexer) scanDuration(start int) (token, error) {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		if isIdentPart(c) || c == '.' {
			l.pos++
			continue
		}
		if isMicro(l.src[l.pos:]) {
			_, n := utf8.DecodeRuneInString(l.src[l.pos:])
			l.pos += n
			continue
		}
		break
	}
	text := l.src[start:l.pos]
	d, err := time.ParseDuration(text)
	if err != nil {
		return token{}, newParseError(l.src, start,
			"invalid duration %q: use a number with a unit of ns, us, ms, s, m or h, such as 100ms", text)
	}
	return token{kind: tokDuration, pos: start, text: text, val: DurationValue(d)}, nil
}

func (l *lexer) skipDigits() {
	for l.pos < len(l.src) && isDigit(l.src[l.pos]) {
		l.pos++
	}
}

// scanAttributeName reads an attribute name at the lexer's position: parts
// separated by dots, each a run of name characters or a quoted string, as
// in http.status_code or "my attr" or http."x.y".
func (l *lexer) scanAttributeName() (string, error) {
	start := l.pos
	var b strings.Builder
	for {
		if l.pos < len(l.src) && (l.src[l.pos] == '"' || l.src[l.pos] == '`') {
			s, err := l.scanString()
			if err != nil {
				return "", err
			}
			b.WriteString(s)
		} else {
			partStart := l.pos
			for l.pos < len(l.src) {
				r, n := utf8.DecodeRuneInString(l.src[l.pos:])
				if !isNameRune(r) {
					break
				}
				l.pos += n
			}
			if l.pos == partStart {
				return "", newParseError(l.src, l.pos, "expected an attribute name but found %s", l.describeAt(l.pos))
			}
			b.WriteString(l.src[partStart:l.pos])
		}
		if l.pos >= len(l.src) || l.src[l.pos] != '.' {
			break
		}
		b.WriteByte('.')
		l.pos++
	}
	if b.Len() == 0 {
		return "", newParseError(l.src, start, "attribute name is empty")
	}
	return b.String(), nil
}

// describeAt names what starts at pos for an error message.
func (l *lexer) describeAt(pos int) string {
	if pos >= len(l.src) {
		return "end of query"
	}
	r, _ := utf8.DecodeRuneInString(l.src[pos:])
	return strconv.Quote(string(r))
}

// isMicro reports whether s starts with one of the two micro signs Go's
// durations accept (U+00B5, U+03BC).
func isMicro(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return r == 'µ' || r == 'μ'
}

func isDigit(c byte) bool      { return '0' <= c && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isIdentPart(c byte) bool  { return isIdentStart(c) || isDigit(c) }
