package traceql

import "slices"

// parser is a recursive-descent parser with one token of lookahead.
type parser struct {
	lex lexer
	tok token
	// open counts the parentheses, !s and unary -s the parser is inside of: how
	// deep it has recursed.
	open int
}

// Parse parses a TraceQL query. Errors are *ParseError.
//
// Grammar, loosest binding first (all binary operators associate left):
//
//	query      = spansets { "|" stage } [ hints ]
//	hints      = "with" "(" hint { "," hint } ")"
//	hint       = name "=" literal
//	spansets   = spansetAnd { "||" spansetAnd }
//	spansetAnd = structural { "&&" structural }
//	structural = spanset { structOp spanset }
//	structOp   = [ "!" | "&" ] ( ">>" | ">" | "<<" | "<" | "~" )
//	spanset    = "{" [ cond ] "}" | "(" spansets ")"
//	cond       = condAnd { "||" condAnd }
//	condAnd    = compare { "&&" compare }
//	compare    = sum [ op sum ]
//	sum        = product { ("+" | "-") product }
//	product    = unary { ("*" | "/" | "%") unary }
//	unary      = "!" unary | "-" unary | "(" cond ")" | field | literal | "nil"
//	stage      = "count" "(" ")" op number
//	           | ("avg" | "min" | "max" | "sum") "(" field ")" op literal
//	           | "select" "(" field { "," field } ")"
//	           | "by" "(" field ")" | "coalesce" "(" ")"
//
// Structural operators binding tighter than && and || follows Tempo, where
// they share the precedence of comparisons. Inside braces, parentheses
// group both conditions and arithmetic, and types sort them out: a
// comparison compares values, && and || join conditions (an attribute
// alone among them is compared with true, as in Tempo), and arithmetic
// takes numbers and durations.
//
// A query longer than MaxQueryBytes or nested deeper than MaxDepth is a
// ParseError that wraps ErrTooLarge.
func Parse(q string) (*Query, error) {
	p, spansets, err := parseSpansetsOf(q)
	if err != nil {
		return nil, err
	}
	query := &Query{spansets: spansets}
	for p.tok.kind == tokPipe {
		if err := p.advance(); err != nil {
			return nil, err
		}
		s, err := p.parseStage()
		if err != nil {
			return nil, err
		}
		query.stages = append(query.stages, s)
	}
	if p.tok.kind == tokIdent && p.tok.text == "with" {
		hints, err := p.parseHints()
		if err != nil {
			return nil, err
		}
		query.hints = hints
	}
	if p.tok.kind != tokEOF {
		switch {
		case p.tok.kind == tokUnsupported:
			return nil, p.unsupported(p.tok.pos, p.tok.describe()+" (power)")
		}
		return nil, p.expected("end of query")
	}
	query.prepare()
	// Another querier gets the canonical form, which is longer when the
	// query was written tersely (spaces, scoped intrinsics, IDs in full),
	// and must parse it too.
	if n := len(query.String()); n > MaxQueryBytes {
		return nil, tooLarge(q, 0, "query is %d bytes in canonical form, over the limit of %d", n, MaxQueryBytes)
	}
	return query, nil
}

// parseSpansetsOf parses the spanset expression that starts a query,
// search or metrics, within MaxQueryBytes, and returns the parser at
// what follows it.
func parseSpansetsOf(q string) (*parser, spansetExpr, error) {
	if len(q) > MaxQueryBytes {
		return nil, nil, tooLarge(q, MaxQueryBytes, "query is %d bytes, over the limit of %d", len(q), MaxQueryBytes)
	}
	p := &parser{lex: lexer{src: q}}
	if err := p.advance(); err != nil {
		return nil, nil, err
	}
	spansets, err := p.parseSpansets()
	return p, spansets, err
}

// parseHints parses with(name=value, ...).
func (p *parser) parseHints() ([]Hint, error) {
	if err := p.advance(); err != nil {
		return nil, err
	}
	if err := p.expect(tokLParen, `"("`); err != nil {
		return nil, err
	}
	var hints []Hint
	for {
		if p.tok.kind != tokIdent {
			return nil, p.expected("a hint such as most_recent=true")
		}
		h := Hint{Name: p.tok.text}
		if err := p.advance(); err != nil {
			return nil, err
		}
		if err := p.expect(tokEq, `"="`); err != nil {
			return nil, err
		}
		pos := p.tok.pos
		o, err := p.parseOperand()
		if err != nil {
			return nil, err
		}
		if o.isField || o.isNil || o.lit.typ == TypeStatus || o.lit.typ == TypeKind {
			return nil, newParseError(p.lex.src, pos, "a hint's value is a string, a number, a duration or a boolean")
		}
		h.Value = o.lit
		hints = append(hints, h)
		if p.tok.kind != tokComma {
			return hints, p.expect(tokRParen, `")"`)
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
}

func (p *parser) advance() error {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

// expect moves past a token of the given kind, written as what for the
// error when the current token is something else.
func (p *parser) expect(kind tokenKind, what string) error {
	if p.tok.kind != kind {
		return p.expected(what)
	}
	return p.advance()
}

func (p *parser) expected(what string) error {
	return newParseError(p.lex.src, p.tok.pos, "expected %s but found %s", what, p.tok.describe())
}

func (p *parser) unsupported(pos int, what string) error {
	return newParseError(p.lex.src, pos, "%s is not supported", what)
}

// enter moves into the parenthesis, ! or unary - at pos, which the parser recurses
// into; leave moves out of it.
func (p *parser) enter(pos int) error {
	if p.open++; p.open > MaxDepth {
		if p.lex.src[pos] == '-' {
			return tooLarge(p.lex.src, pos, "parentheses, ! and unary - nest more than %d deep", MaxDepth)
		}
		return tooLarge(p.lex.src, pos, "parentheses and ! nest more than %d deep", MaxDepth)
	}
	return nil
}

func (p *parser) leave() { p.open-- }

// within checks the depth of a node whose operator, !, or opening brace is
// at pos.
func (p *parser) within(pos, depth int) error {
	if depth > MaxDepth {
		return tooLarge(p.lex.src, pos, "query nests more than %d levels deep (each operator of a chain is a level)", MaxDepth)
	}
	return nil
}

func (p *parser) parseSpansets() (spansetExpr, error) {
	lhs, err := p.parseSpansetAnd()
	for err == nil && p.tok.kind == tokOr {
		lhs, err = p.joinSpansets(spansetOr, lhs, p.parseSpansetAnd)
	}
	return lhs, err
}

func (p *parser) parseSpansetAnd() (spansetExpr, error) {
	lhs, err := p.parseStructural()
	for err == nil && p.tok.kind == tokAnd {
		lhs, err = p.joinSpansets(spansetAnd, lhs, p.parseStructural)
	}
	return lhs, err
}

// structuralOps are the structural operators by spelling. Between
// spansets, < and !~ are structural, not comparisons.
var structuralOps = map[string]struct {
	rel  relation
	mode structuralMode
}{
	">": {relChild, modeRight}, ">>": {relDescendant, modeRight}, "<": {relParent, modeRight},
	"<<": {relAncestor, modeRight}, "~": {relSibling, modeRight},
	"!>": {relChild, modeNot}, "!>>": {relDescendant, modeNot}, "!<": {relParent, modeNot},
	"!<<": {relAncestor, modeNot}, "!~": {relSibling, modeNot},
	"&>": {relChild, modeUnion}, "&>>": {relDescendant, modeUnion}, "&<": {relParent, modeUnion},
	"&<<": {relAncestor, modeUnion}, "&~": {relSibling, modeUnion},
}

func (p *parser) parseStructural() (spansetExpr, error) {
	lhs, err := p.parseSpanset()
	for err == nil {
		s, ok := structuralOps[p.tok.text]
		if !ok {
			return lhs, nil
		}
		lhs, err = p.joinSpansets(spansetStructural, lhs, p.parseSpanset)
		if err == nil {
			o := lhs.(*spansetOp)
			o.rel, o.mode = s.rel, s.mode
		}
	}
	return nil, err
}

// joinSpansets moves past the binary operator op and parses its right
// operand.
func (p *parser) joinSpansets(op spansetOperator, lhs spansetExpr, operand func() (spansetExpr, error)) (spansetExpr, error) {
	pos := p.tok.pos
	if err := p.advance(); err != nil {
		return nil, err
	}
	rhs, err := operand()
	if err != nil {
		return nil, err
	}
	o := &spansetOp{op: op, lhs: lhs, rhs: rhs, levels: 1 + max(lhs.depth(), rhs.depth())}
	if err := p.within(pos, o.levels); err != nil {
		return nil, err
	}
	return o, nil
}

func (p *parser) parseSpanset() (spansetExpr, error) {
	switch p.tok.kind {
	case tokLBrace:
		return p.parseFilter()
	case tokLParen:
		if err := p.enter(p.tok.pos); err != nil {
			return nil, err
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		e, err := p.parseSpansets()
		if err != nil {
			return nil, err
		}
		if p.tok.kind == tokPipe {
			return nil, p.unsupported(p.tok.pos, "a pipeline inside parentheses")
		}
		p.leave()
		return e, p.expect(tokRParen, `")"`)
	case tokIdent:
		if p.atCall() {
			return nil, p.unsupported(p.tok.pos, `"`+p.tok.text+`()" outside a pipeline`)
		}
	}
	return nil, p.expected(`"{"`)
}

// atCall reports whether the current word is followed by "(", as a
// function name is.
func (p *parser) atCall() bool {
	rest := p.lex.src[p.lex.pos:]
	for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
		rest = rest[1:]
	}
	return len(rest) > 0 && rest[0] == '('
}

func (p *parser) parseFilter() (spansetExpr, error) {
	pos := p.tok.pos
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tokRBrace {
		return &spansetFilter{}, p.advance()
	}
	cond, err := p.parseCond()
	if err != nil {
		return nil, err
	}
	f := &spansetFilter{cond: cond}
	if err := p.within(pos, f.depth()); err != nil {
		return nil, err
	}
	return f, p.expect(tokRBrace, `"}"`)
}

// prepare gives the spanset nodes their bitsets and records which trace
// data the query reads.
//
// A node's result is needed until its parent's is computed, and a left
// operand's while the right one is: so a node evaluated in bitset k has
// its left operand in k+1 and its right one in k+2, and the nodes below
// reuse the bitsets of those already done. An evaluation then needs at
// most two bitsets per level of the query, however long it is.
func (q *Query) prepare() {
	var walk func(e spansetExpr, slot int)
	walk = func(e spansetExpr, slot int) {
		q.sets = max(q.sets, slot+1)
		switch e := e.(type) {
		case *spansetFilter:
			e.set = slot
			e.elems = elementsOf(e.cond)
			forEachField(e.cond, q.noteField)
		case *spansetOp:
			e.set = slot
			walk(e.lhs, slot+1)
			walk(e.rhs, slot+2)
			if e.op == spansetStructural {
				q.needsTree = true
			}
		}
	}
	walk(q.spansets, 0)
	for _, s := range q.stages {
		switch s := s.(type) {
		case *aggregateFilter:
			q.noteField(s.field)
		case *selectStage:
			for _, f := range s.fields {
				q.noteField(f)
			}
		case *byStage:
			q.noteField(s.field)
		}
	}
}

func (q *Query) noteField(f Field) {
	if f.Intrinsic.traceLevel() && f.Intrinsic != IntrinsicTraceID {
		q.needsTrace = true
	}
	if f.Intrinsic.treeLevel() {
		q.needsTree, q.needsNestedSet = true, true
	}
	if !slices.Contains(q.fields, f) {
		q.fields = append(q.fields, f)
	}
}

// Fields returns every field the query reads, in its filters, aggregates
// and selects, each once: what a reader must fill in of a trace's spans
// for Evaluate to judge it, besides what every evaluation reads (span and
// parent IDs, start and duration, for structure and bounds; name and
// service for the root).
func (q *Query) Fields() []Field { return q.fields }

// forEachField calls fn with each field a condition reads.
func forEachField(e expr, fn func(Field)) {
	switch e := e.(type) {
	case *logicalExpr:
		forEachField(e.lhs, fn)
		forEachField(e.rhs, fn)
	case *notExpr:
		forEachField(e.x, fn)
	case *comparison:
		fn(e.field)
	case *valueComparison:
		forEachValueField(e.lhs, fn)
		forEachValueField(e.rhs, fn)
	}
}

func forEachValueField(v valueExpr, fn func(Field)) {
	switch v := v.(type) {
	case *fieldRef:
		fn(v.field)
	case *arithExpr:
		forEachValueField(v.lhs, fn)
		if v.rhs != nil {
			forEachValueField(v.rhs, fn)
		}
	}
}
