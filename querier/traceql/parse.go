package traceql

// parser is a recursive-descent parser with one token of lookahead.
type parser struct {
	lex lexer
	tok token
}

// Parse parses a TraceQL query. Errors are *ParseError.
//
// Grammar, loosest binding first (all binary operators associate left):
//
//	query      = spansets { "|" stage }
//	spansets   = spansetAnd { "||" spansetAnd }
//	spansetAnd = structural { "&&" structural }
//	structural = spanset { (">>" | ">") spanset }
//	spanset    = "{" [ cond ] "}" | "(" spansets ")"
//	cond       = condAnd { "||" condAnd }
//	condAnd    = unary { "&&" unary }
//	unary      = "!" unary | "(" cond ")" | operand op operand
//	stage      = "count" "(" ")" op number
//	           | ("avg" | "min" | "max" | "sum") "(" field ")" op literal
//	           | "select" "(" field { "," field } ")"
//
// Structural operators binding tighter than && and || follows Tempo, where
// they share the precedence of comparisons.
func Parse(q string) (*Query, error) {
	p := &parser{lex: lexer{src: q}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	spansets, err := p.parseSpansets()
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
	if p.tok.kind != tokEOF {
		switch {
		case p.tok.kind == tokIdent && p.tok.text == "with":
			return nil, p.unsupported(p.tok.pos, `"with" (query hints)`)
		case p.tok.kind == tokUnsupported:
			return nil, p.unsupported(p.tok.pos, p.tok.describe()+" (arithmetic)")
		}
		return nil, p.expected("end of query")
	}
	query.prepare()
	return query, nil
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

func (p *parser) parseSpansets() (spansetExpr, error) {
	lhs, err := p.parseSpansetAnd()
	for err == nil && p.tok.kind == tokOr {
		var rhs spansetExpr
		if rhs, err = p.afterOperator(p.parseSpansetAnd); err == nil {
			lhs = &spansetOp{op: spansetOr, lhs: lhs, rhs: rhs}
		}
	}
	return lhs, err
}

func (p *parser) parseSpansetAnd() (spansetExpr, error) {
	lhs, err := p.parseStructural()
	for err == nil && p.tok.kind == tokAnd {
		var rhs spansetExpr
		if rhs, err = p.afterOperator(p.parseStructural); err == nil {
			lhs = &spansetOp{op: spansetAnd, lhs: lhs, rhs: rhs}
		}
	}
	return lhs, err
}

// unsupportedStructural names the structural operators of TraceQL that
// spanlog does not implement. Between spansets, < and ~ are structural too.
var unsupportedStructural = map[string]string{
	"<<": "ancestor", "<": "parent", "~": "sibling",
	"!>>": "not-descendant", "!<<": "not-ancestor", "!>": "not-child", "!<": "not-parent", "!~": "not-sibling",
	"&>>": "union descendant", "&<<": "union ancestor", "&>": "union child", "&<": "union parent", "&~": "union sibling",
}

func (p *parser) parseStructural() (spansetExpr, error) {
	lhs, err := p.parseSpanset()
	for err == nil {
		var op spansetOperator
		switch p.tok.kind {
		case tokDescendant:
			op = spansetDescendant
		case tokGt:
			op = spansetChild
		default:
			if name, ok := unsupportedStructural[p.tok.text]; ok {
				return nil, p.unsupported(p.tok.pos, p.tok.describe()+" ("+name+" operator)")
			}
			return lhs, nil
		}
		var rhs spansetExpr
		if rhs, err = p.afterOperator(p.parseSpanset); err == nil {
			lhs = &spansetOp{op: op, lhs: lhs, rhs: rhs}
		}
	}
	return nil, err
}

// afterOperator moves past a binary operator and parses its right operand.
func (p *parser) afterOperator(operand func() (spansetExpr, error)) (spansetExpr, error) {
	if err := p.advance(); err != nil {
		return nil, err
	}
	return operand()
}

func (p *parser) parseSpanset() (spansetExpr, error) {
	switch p.tok.kind {
	case tokLBrace:
		return p.parseFilter()
	case tokLParen:
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
	return &spansetFilter{cond: cond}, p.expect(tokRBrace, `"}"`)
}

// prepare numbers the spanset nodes and records which trace data the
// query reads.
func (q *Query) prepare() {
	var walk func(e spansetExpr)
	walk = func(e spansetExpr) {
		switch e := e.(type) {
		case *spansetFilter:
			e.set = q.sets
			forEachComparison(e.cond, func(c *comparison) { q.noteField(c.field) })
		case *spansetOp:
			walk(e.lhs)
			walk(e.rhs)
			e.set = q.sets
			if e.op == spansetChild || e.op == spansetDescendant {
				q.needsTree = true
			}
		}
		q.sets++
	}
	walk(q.spansets)
	for _, s := range q.stages {
		switch s := s.(type) {
		case *aggregateFilter:
			q.noteField(s.field)
		case *selectStage:
			for _, f := range s.fields {
				q.noteField(f)
			}
		}
	}
}

func (q *Query) noteField(f Field) {
	if f.Intrinsic.traceLevel() && f.Intrinsic != IntrinsicTraceID {
		q.needsTrace = true
	}
}

func forEachComparison(e expr, fn func(*comparison)) {
	switch e := e.(type) {
	case *logicalExpr:
		forEachComparison(e.lhs, fn)
		forEachComparison(e.rhs, fn)
	case *notExpr:
		forEachComparison(e.x, fn)
	case *comparison:
		fn(e)
	}
}
