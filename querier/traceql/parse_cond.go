package traceql

import (
	"encoding/hex"
	"fmt"
	"math"
	"strings"
)

// parsed is what a level of the condition grammar parsed: a condition, or
// a value (a field, a literal, arithmetic), or nil. Parentheses group
// both, so which one a level has is known only once it is parsed.
type parsed struct {
	pos   int
	cond  expr
	value valueExpr
	isNil bool
}

func (x parsed) depth() int {
	if x.cond != nil {
		return x.cond.depth()
	}
	if x.value != nil {
		return x.value.depth()
	}
	return 1
}

// parseCond parses the condition of a spanset filter.
func (p *parser) parseCond() (expr, error) {
	x, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	return p.condition(x, false)
}

// condition returns x as a condition, or an error at the current token,
// where a comparison operator is missing. As an operand of && or ||, an
// attribute alone is compared with true, as in Tempo.
func (p *parser) condition(x parsed, operand bool) (expr, error) {
	if x.cond != nil {
		return x.cond, nil
	}
	if f, ok := x.value.(*fieldRef); ok && operand && f.field.Intrinsic == IntrinsicNone {
		return &comparison{field: f.field, op: OpEqual, lit: BoolValue(true)}, nil
	}
	if l, ok := x.value.(*literal); ok && l.v.typ == TypeBool {
		// true or false alone, as Traces Drilldown writes a filter
		// with no conditions: { nestedSetParent < 0 && true }.
		return &staticExpr{v: l.v.n != 0}, nil
	}
	return nil, p.expected("a comparison operator such as = or >")
}

func (p *parser) parseOr() (parsed, error) {
	lhs, err := p.parseAnd()
	for err == nil && p.tok.kind == tokOr {
		lhs, err = p.joinConds(false, lhs, p.parseAnd)
	}
	return lhs, err
}

func (p *parser) parseAnd() (parsed, error) {
	lhs, err := p.parseComparison()
	for err == nil && p.tok.kind == tokAnd {
		lhs, err = p.joinConds(true, lhs, p.parseComparison)
	}
	return lhs, err
}

// joinConds moves past && (and) or || and parses its right operand.
func (p *parser) joinConds(and bool, x parsed, operand func() (parsed, error)) (parsed, error) {
	pos := p.tok.pos
	lhs, err := p.condition(x, true)
	if err != nil {
		return parsed{}, err
	}
	if err := p.advance(); err != nil {
		return parsed{}, err
	}
	y, err := operand()
	if err != nil {
		return parsed{}, err
	}
	rhs, err := p.condition(y, true)
	if err != nil {
		return parsed{}, err
	}
	l := &logicalExpr{and: and, lhs: lhs, rhs: rhs, levels: 1 + max(lhs.depth(), rhs.depth())}
	return parsed{pos: x.pos, cond: l}, p.within(pos, l.levels)
}

// parseComparison parses a comparison, or a value when no comparison
// operator follows it.
func (p *parser) parseComparison() (parsed, error) {
	lhs, err := p.parseSum()
	if err != nil {
		return parsed{}, err
	}
	opTok := p.tok
	op, ok := comparisonOps[opTok.kind]
	if !ok {
		return lhs, nil
	}
	if err := p.advance(); err != nil {
		return parsed{}, err
	}
	rhs, err := p.parseSum()
	if err != nil {
		return parsed{}, err
	}
	c, err := p.compare(lhs, opTok, op, rhs)
	if err != nil {
		return parsed{}, err
	}
	return parsed{pos: lhs.pos, cond: c}, p.within(opTok.pos, c.depth())
}

// compare type-checks lhs op rhs. A field compared with a literal or nil
// is a comparison, which Conditions can use; anything else a
// valueComparison.
func (p *parser) compare(lhs parsed, opTok token, op Op, rhs parsed) (expr, error) {
	src := p.lex.src
	for _, x := range []parsed{lhs, rhs} {
		if x.cond != nil {
			return nil, newParseError(src, x.pos, "%s compares values, and this is a condition", op)
		}
	}
	lf, lField := lhs.value.(*fieldRef)
	rf, rField := rhs.value.(*fieldRef)
	ll, lLit := lhs.value.(*literal)
	rl, rLit := rhs.value.(*literal)
	lLit, rLit = lLit || lhs.isNil, rLit || rhs.isNil
	lit := func(x parsed, l *literal) operand {
		o := operand{pos: x.pos, isNil: x.isNil}
		if l != nil {
			o.lit = l.v
		}
		return o
	}
	switch {
	case lLit && rLit:
		return nil, newParseError(src, lhs.pos, "a condition compares a field, as in span.x = 1, but this compares two values")
	case lField && rLit:
		return p.newComparison(lf.field, op, lit(rhs, rl))
	case lLit && rField:
		if op == OpRegex || op == OpNotRegex {
			return nil, newParseError(src, opTok.pos, "the regular expression goes on the right of %s", op)
		}
		return p.newComparison(rf.field, op.mirrored(), lit(lhs, ll))
	case lhs.isNil || rhs.isNil:
		return nil, newParseError(src, min(lhs.pos, rhs.pos), "nil compares with a field, as in span.x = nil, not with arithmetic")
	}
	if op == OpRegex || op == OpNotRegex {
		return nil, newParseError(src, opTok.pos, "%s compares a field with a regular expression written as a string", op)
	}
	if msg := incomparable(categoryOf(lhs.value), categoryOf(rhs.value), op); msg != "" {
		return nil, newParseError(src, opTok.pos, "cannot compare %s with %s: %s", valueString(lhs.value), valueString(rhs.value), msg)
	}
	return &valueComparison{op: op, lhs: lhs.value, rhs: rhs.value, levels: 1 + max(lhs.depth(), rhs.depth())}, nil
}

var (
	sumOps     = map[tokenKind]arithOp{tokPlus: arithAdd, tokMinus: arithSub}
	productOps = map[tokenKind]arithOp{tokStar: arithMul, tokSlash: arithDiv, tokPercent: arithMod}
)

func (p *parser) parseSum() (parsed, error) {
	lhs, err := p.parseProduct()
	for err == nil {
		opTok := p.tok
		op, ok := sumOps[opTok.kind]
		switch {
		case ok:
			err = p.advance()
		case signed(opTok):
			// 1 -2 lexes as 1 and -2; it is 1 - 2.
			op, err = arithSub, p.unsign()
		default:
			return lhs, nil
		}
		if err != nil {
			return parsed{}, err
		}
		var rhs parsed
		if rhs, err = p.parseProduct(); err == nil {
			lhs, err = p.arithmetic(op, opTok.pos, lhs, rhs)
		}
	}
	return parsed{}, err
}

// signed reports whether t is a number written with a sign.
func signed(t token) bool {
	return (t.kind == tokInt || t.kind == tokFloat || t.kind == tokDuration) && t.text[0] == '-'
}

// unsign drops the sign of the current token, a signed number.
func (p *parser) unsign() error {
	t := &p.tok
	v := negate(t.val)
	if v.typ != t.val.typ {
		return newParseError(p.lex.src, t.pos+1, "number %s is out of range", t.text[1:])
	}
	t.pos, t.text, t.val = t.pos+1, t.text[1:], v
	return nil
}

func (p *parser) parseProduct() (parsed, error) {
	lhs, err := p.parseUnary()
	for err == nil {
		opTok := p.tok
		op, ok := productOps[opTok.kind]
		if !ok {
			return lhs, nil
		}
		if err = p.advance(); err != nil {
			return parsed{}, err
		}
		var rhs parsed
		if rhs, err = p.parseUnary(); err == nil {
			lhs, err = p.arithmetic(op, opTok.pos, lhs, rhs)
		}
	}
	return parsed{}, err
}

// arithmetic type-checks lhs op rhs, the operator at pos, and folds it
// when both sides are literals, so that duration > 2 * 100ms is a
// comparison with a literal, which Conditions can use.
func (p *parser) arithmetic(op arithOp, pos int, lhs, rhs parsed) (parsed, error) {
	src := p.lex.src
	operands := []parsed{lhs}
	if op != arithNeg {
		operands = append(operands, rhs)
	}
	cats := [2]category{}
	for i, x := range operands {
		switch c := categoryOf(x.value); {
		case x.cond != nil:
			return parsed{}, newParseError(src, x.pos, "arithmetic needs numbers or durations, and this is a condition")
		case x.isNil:
			return parsed{}, newParseError(src, x.pos, "arithmetic needs numbers or durations, not nil")
		case c != catAttribute && c != catNumber && c != catDuration:
			return parsed{}, newParseError(src, x.pos, "arithmetic needs numbers or durations, and %s is %s", valueString(x.value), categoryNames[c])
		default:
			cats[i] = c
		}
	}
	cat, msg := arithCategory(op, cats[0], cats[1])
	if msg != "" {
		return parsed{}, newParseError(src, pos, "%s", msg)
	}
	l, lLit := lhs.value.(*literal)
	r, rLit := rhs.value.(*literal)
	if lLit && (rLit || op == arithNeg) {
		var v Value
		if op == arithNeg {
			v = negate(l.v)
		} else {
			v = arithmetic(op, l.v, r.v)
		}
		if v.typ == TypeNil || v.typ == TypeFloat && (math.IsInf(v.f, 0) || math.IsNaN(v.f)) {
			return parsed{}, newParseError(src, pos, "%s has no value: a division by zero, or out of range", arithNames[op])
		}
		return parsed{pos: lhs.pos, value: &literal{v}}, nil
	}
	a := &arithExpr{op: op, lhs: lhs.value, cat: cat, levels: 1 + lhs.depth()}
	if op != arithNeg {
		a.rhs, a.levels = rhs.value, 1+max(lhs.depth(), rhs.depth())
	}
	x := parsed{pos: lhs.pos, value: a}
	if op == arithNeg {
		x.pos = pos
	}
	return x, p.within(pos, a.levels)
}

func (p *parser) parseUnary() (parsed, error) {
	pos := p.tok.pos
	switch p.tok.kind {
	case tokMinus:
		if err := p.enter(pos); err != nil {
			return parsed{}, err
		}
		if err := p.advance(); err != nil {
			return parsed{}, err
		}
		x, err := p.parseUnary()
		if err != nil {
			return parsed{}, err
		}
		p.leave()
		return p.arithmetic(arithNeg, pos, x, parsed{})
	case tokNot:
		if err := p.enter(pos); err != nil {
			return parsed{}, err
		}
		if err := p.advance(); err != nil {
			return parsed{}, err
		}
		// Tempo reads !span.x = 1 as a comparison of the negated field, not
		// as a negated comparison; requiring parentheses keeps a reader
		// from guessing which one is meant.
		var (
			x   parsed
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
			return parsed{}, newParseError(p.lex.src, p.tok.pos,
				`expected "(" after "!" but found %s: negate a condition as !(span.x = 1)`, p.tok.describe())
		}
		if err != nil {
			return parsed{}, err
		}
		c, err := p.condition(x, false)
		if err != nil {
			return parsed{}, err
		}
		p.leave()
		n := &notExpr{x: c, levels: 1 + c.depth()}
		return parsed{pos: pos, cond: n}, p.within(pos, n.levels)
	case tokLParen:
		if err := p.enter(pos); err != nil {
			return parsed{}, err
		}
		x, err := p.parseParenthesized()
		if err != nil {
			return parsed{}, err
		}
		p.leave()
		return x, nil
	}
	o, err := p.parseAtom()
	if err != nil {
		return parsed{}, err
	}
	x := parsed{pos: o.pos, isNil: o.isNil}
	switch {
	case o.isField:
		x.value = &fieldRef{o.field}
	case !o.isNil:
		x.value = &literal{o.lit}
	}
	return x, nil
}

// parseParenthesized parses "(" cond-or-value ")".
func (p *parser) parseParenthesized() (parsed, error) {
	pos := p.tok.pos
	if err := p.advance(); err != nil {
		return parsed{}, err
	}
	x, err := p.parseOr()
	if err != nil {
		return parsed{}, err
	}
	x.pos = pos
	return x, p.expect(tokRParen, `")"`)
}

// operand is a field, a literal or nil.
type operand struct {
	pos     int
	isField bool
	field   Field
	lit     Value
	isNil   bool
}

// parseOperand parses a field or a literal of a pipeline stage, where
// arithmetic is not supported.
func (p *parser) parseOperand() (operand, error) {
	o, err := p.parseAtom()
	if err != nil {
		return o, err
	}
	if _, ok := arithTokens[p.tok.kind]; ok || signed(p.tok) {
		return o, p.unsupported(p.tok.pos, "arithmetic in a pipeline stage")
	}
	return o, nil
}

var arithTokens = map[tokenKind]bool{tokPlus: true, tokMinus: true, tokStar: true, tokSlash: true, tokPercent: true, tokUnsupported: true}

// parseAtom parses a field, a literal or nil.
func (p *parser) parseAtom() (operand, error) {
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
		return o, p.unsupported(t.pos, t.describe()+" (power)")
	default:
		return o, p.expected("a field or a value")
	}
	if err := p.advance(); err != nil {
		return o, err
	}
	if p.tok.kind == tokUnsupported {
		return o, p.unsupported(p.tok.pos, p.tok.describe()+" (power)")
	}
	return o, nil
}

// keywordValues are the literals written as bare words.
var keywordValues = map[string]Value{
	"true": BoolValue(true), "false": BoolValue(false),
	"unset": StatusValue(0), "ok": StatusValue(1), "error": StatusValue(2),
	"unspecified": KindValue(0), "internal": KindValue(1), "server": KindValue(2),
	"client": KindValue(3), "producer": KindValue(4), "consumer": KindValue(5),
	"minInt": IntValue(math.MinInt64), "maxInt": IntValue(math.MaxInt64),
}

// attributeScopes are the scopes written before an attribute name.
var attributeScopes = map[string]Scope{
	"span": ScopeSpan, "resource": ScopeResource,
	"event": ScopeEvent, "link": ScopeLink, "instrumentation": ScopeInstrumentation,
}

var (
	// unsupportedScopes are TraceQL's scopes that spanlog does not
	// implement, told apart from typing mistakes.
	unsupportedScopes = map[string]bool{"parent": true}
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
			return newParseError(src, o.pos, "unknown scope %q: attributes are written span.x, resource.x, event.x, link.x, instrumentation.x or .x", word)
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
	case IntrinsicSpanID, IntrinsicParentID, IntrinsicLinkSpanID:
		return 8
	case IntrinsicTraceID, IntrinsicLinkTraceID:
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
