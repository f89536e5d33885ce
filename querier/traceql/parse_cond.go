package traceql

import (
	"encoding/hex"
	"fmt"
	"strings"
)

func (p *parser) parseCond() (expr, error) {
	lhs, err := p.parseCondAnd()
	for err == nil && p.tok.kind == tokOr {
		lhs, err = p.joinConds(false, lhs, p.parseCondAnd)
	}
	return lhs, err
}

func (p *parser) parseCondAnd() (expr, error) {
	lhs, err := p.parseUnary()
	for err == nil && p.tok.kind == tokAnd {
		lhs, err = p.joinConds(true, lhs, p.parseUnary)
	}
	return lhs, err
}

// joinConds moves past && (and) or || and parses its right operand.
func (p *parser) joinConds(and bool, lhs expr, operand func() (expr, error)) (expr, error) {
	pos := p.tok.pos
	if err := p.advance(); err != nil {
		return nil, err
	}
	rhs, err := operand()
	if err != nil {
		return nil, err
	}
	l := &logicalExpr{and: and, lhs: lhs, rhs: rhs, levels: 1 + max(lhs.depth(), rhs.depth())}
	if err := p.within(pos, l.levels); err != nil {
		return nil, err
	}
	return l, nil
}

func (p *parser) parseUnary() (expr, error) {
	switch p.tok.kind {
	case tokNot:
		pos := p.tok.pos
		if err := p.enter(pos); err != nil {
			return nil, err
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		// Tempo reads !span.x = 1 as a comparison of the negated field, not
		// as a negated comparison; requiring parentheses keeps a reader
		// from guessing which one is meant.
		var (
			x   expr
			err error
		)
		switch p.tok.kind {
		case tokLParen:
			// The parentheses are the !'s own, one level with it, as
			// the canonical form writes every ! with them.
			x, err = p.parseParenthesized()
		case tokNot:
			x, err = p.parseUnary()
		default:
			return nil, newParseError(p.lex.src, p.tok.pos,
				`expected "(" after "!" but found %s: negate a condition as !(span.x = 1)`, p.tok.describe())
		}
		if err != nil {
			return nil, err
		}
		p.leave()
		n := &notExpr{x: x, levels: 1 + x.depth()}
		if err := p.within(pos, n.levels); err != nil {
			return nil, err
		}
		return n, nil
	case tokLParen:
		if err := p.enter(p.tok.pos); err != nil {
			return nil, err
		}
		e, err := p.parseParenthesized()
		if err != nil {
			return nil, err
		}
		p.leave()
		return e, nil
	}
	return p.parseComparison()
}

// parseParenthesized parses "(" cond ")".
func (p *parser) parseParenthesized() (expr, error) {
	if err := p.advance(); err != nil {
		return nil, err
	}
	e, err := p.parseCond()
	if err != nil {
		return nil, err
	}
	return e, p.expect(tokRParen, `")"`)
}

// operand is one side of a comparison: a field or a literal.
type operand struct {
	pos     int
	isField bool
	field   Field
	lit     Value
	isNil   bool
}

func (p *parser) parseComparison() (expr, error) {
	lhs, err := p.parseOperand()
	if err != nil {
		return nil, err
	}
	opTok := p.tok
	op, ok := comparisonOps[opTok.kind]
	if !ok {
		return nil, p.expected("a comparison operator such as = or >")
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	rhs, err := p.parseOperand()
	if err != nil {
		return nil, err
	}
	switch {
	case lhs.isField && rhs.isField:
		return nil, p.unsupported(rhs.pos, "comparing two fields")
	case !lhs.isField && !rhs.isField:
		return nil, newParseError(p.lex.src, lhs.pos, "a condition compares a field, as in span.x = 1, but this compares two values")
	case !lhs.isField:
		if op == OpRegex || op == OpNotRegex {
			return nil, newParseError(p.lex.src, opTok.pos, "the regular expression goes on the right of %s", op)
		}
		lhs, rhs, op = rhs, lhs, op.mirrored()
	}
	return p.newComparison(lhs.field, op, rhs)
}

// parseOperand parses a field or a literal, and rejects arithmetic after
// it.
func (p *parser) parseOperand() (operand, error) {
	o := operand{pos: p.tok.pos}
	t := p.tok
	switch t.kind {
	case tokString, tokInt, tokFloat, tokDuration:
		o.lit = t.val
	case tokDot:
		name, err := p.lex.scanAttributeName()
		if err != nil {
			return o, err
		}
		o.isField, o.field = true, Field{Scope: ScopeAny, Name: name}
	case tokIdent:
		if err := p.parseIdentOperand(&o); err != nil {
			return o, err
		}
	case tokUnsupported:
		return o, p.unsupported(t.pos, t.describe()+" (arithmetic)")
	default:
		return o, p.expected("a field or a value")
	}
	if err := p.advance(); err != nil {
		return o, err
	}
	if p.tok.kind == tokUnsupported {
		return o, p.unsupported(p.tok.pos, p.tok.describe()+" (arithmetic)")
	}
	return o, nil
}

// keywordValues are the literals written as bare words.
var keywordValues = map[string]Value{
	"true": BoolValue(true), "false": BoolValue(false),
	"unset": StatusValue(0), "ok": StatusValue(1), "error": StatusValue(2),
	"unspecified": KindValue(0), "internal": KindValue(1), "server": KindValue(2),
	"client": KindValue(3), "producer": KindValue(4), "consumer": KindValue(5),
}

// attributeScopes are the scopes written before an attribute name.
var attributeScopes = map[string]Scope{"span": ScopeSpan, "resource": ScopeResource}

// TraceQL scopes and intrinsics that spanlog does not implement, to tell
// them apart from typing mistakes.
var (
	unsupportedScopes = map[string]bool{"event": true, "link": true, "instrumentation": true, "parent": true}
	// scopeOnlyIntrinsics are written with their scope.
	scopeOnlyIntrinsics = map[string]string{"childCount": "span:childCount", "id": "span:id or trace:id", "parentID": "span:parentID"}
)

// parseIdentOperand parses an operand that starts with a word: a scoped
// attribute (span.x), a scoped intrinsic (span:name), an unscoped
// intrinsic, or a keyword literal. It leaves the lexer after the operand.
func (p *parser) parseIdentOperand(o *operand) error {
	word, src := p.tok.text, p.lex.src
	next := byte(0)
	if p.lex.pos < len(src) {
		next = src[p.lex.pos]
	}
	switch next {
	case '.':
		scope, ok := attributeScopes[word]
		if !ok {
			if unsupportedScopes[word] {
				return p.unsupported(o.pos, fmt.Sprintf("the %q scope", word))
			}
			return newParseError(src, o.pos, "unknown scope %q: attributes are written span.x, resource.x or .x", word)
		}
		p.lex.pos++
		name, err := p.lex.scanAttributeName()
		if err != nil {
			return err
		}
		o.isField, o.field = true, Field{Scope: scope, Name: name}
		return nil
	case ':':
		end := p.lex.pos + 1
		for end < len(src) && isIdentPart(src[end]) {
			end++
		}
		name := src[o.pos:end]
		in, ok := scopedIntrinsics[name]
		if !ok {
			return p.unsupported(o.pos, fmt.Sprintf("the intrinsic %q", name))
		}
		p.lex.pos = end
		o.isField, o.field = true, Field{Intrinsic: in}
		return nil
	}
	if p.atCall() {
		return p.unsupported(o.pos, fmt.Sprintf("%q", word+"()"))
	}
	if word == "nil" {
		o.isNil = true
		return nil
	}
	if v, ok := keywordValues[word]; ok {
		o.lit = v
		return nil
	}
	if in, ok := unscopedIntrinsics[word]; ok {
		o.isField, o.field = true, Field{Intrinsic: in}
		return nil
	}
	if in, ok := nestedSetIntrinsics[word]; ok {
		o.isField, o.field = true, Field{Intrinsic: in}
		return nil
	}
	if scoped, ok := scopeOnlyIntrinsics[word]; ok {
		return newParseError(src, o.pos, "the intrinsic %q is written %s", word, scoped)
	}
	return newParseError(src, o.pos,
		"unknown field %q: attributes need a scope, as in span.%[1]s, resource.%[1]s or .%[1]s", word)
}

// newComparison type-checks field op lit and prepares it for evaluation.
func (p *parser) newComparison(field Field, op Op, lit operand) (*comparison, error) {
	src := p.lex.src
	if lit.isNil {
		switch op {
		case OpNotEqual:
			return &comparison{field: field, op: OpExists}, nil
		case OpEqual:
			return &comparison{field: field, op: OpNotExists}, nil
		}
		return nil, newParseError(src, lit.pos, "nil compares only with = (missing) and != (present), not %s", op)
	}
	if msg := typeError(field, op, lit.lit); msg != "" {
		return nil, newParseError(src, lit.pos, "%s", msg)
	}
	c := &comparison{field: field, op: op, lit: lit.lit}
	if op == OpRegex || op == OpNotRegex {
		re, err := compileRegex(lit.lit.s)
		if err != nil {
			return nil, newParseError(src, lit.pos, "invalid regular expression %s: %v", lit.lit, err)
		}
		c.re = re
		return c, nil
	}
	if size := idSize(field.Intrinsic); size > 0 {
		c.lit.s, c.id = normalizeID(c.lit.s, size)
	}
	return c, nil
}

// typeError returns why field op lit is not a valid comparison, or "".
// Attributes have no static type: any string, number or boolean literal
// may be compared with them, and a value of another type on a span simply
// does not match.
func typeError(field Field, op Op, lit Value) string {
	ft := field.typ()
	switch {
	case ft == TypeNil && (lit.typ == TypeDuration || lit.typ == TypeStatus || lit.typ == TypeKind):
		return fmt.Sprintf("cannot compare %s with %s: attributes hold strings, numbers and booleans, not a %s",
			field, lit, lit.typ)
	case ft != TypeNil && ft != lit.typ:
		return fmt.Sprintf("cannot compare %s with %s: %[1]s is %[3]s", field, lit, ft.withArticle())
	case (op == OpRegex || op == OpNotRegex) && lit.typ != TypeString:
		return fmt.Sprintf("%s needs a string regular expression, not %s", op, lit)
	case op != OpEqual && op != OpNotEqual && (lit.typ == TypeBool || lit.typ == TypeStatus || lit.typ == TypeKind):
		return fmt.Sprintf("a %s compares only with = and !=, not %s", lit.typ, op)
	}
	return ""
}

// idSize returns the size in bytes of the ID an intrinsic holds, or 0.
func idSize(in Intrinsic) int {
	switch in {
	case IntrinsicSpanID, IntrinsicParentID:
		return 8
	case IntrinsicTraceID:
		return 16
	}
	return 0
}

// normalizeID writes a hex ID literal the way IDs render: lower case and
// zero-padded to full width, since Tempo's APIs show trace IDs with leading
// zeros dropped. A literal that is not hex of at most that size is kept as
// is and matches no ID.
func normalizeID(lit string, size int) (string, []byte) {
	if len(lit) == 0 || len(lit) > 2*size {
		return lit, nil
	}
	s := strings.Repeat("0", 2*size-len(lit)) + strings.ToLower(lit)
	id, err := hex.DecodeString(s)
	if err != nil {
		return lit, nil
	}
	return s, id
}
