package traceql

import (
	"fmt"
	"strconv"
	"strings"
)

var aggregateFuncs = map[string]aggregateFunc{
	"count": aggregateCount, "avg": aggregateAvg, "min": aggregateMin, "max": aggregateMax, "sum": aggregateSum,
}

// parseStage parses one pipeline stage, after its "|".
func (p *parser) parseStage() (stage, error) {
	switch p.tok.kind {
	case tokLBrace:
		return nil, p.unsupported(p.tok.pos, "a spanset filter as a pipeline stage")
	case tokIdent:
	default:
		return nil, p.expected("a pipeline stage such as count() > 1 or select(span.x)")
	}
	name, pos := p.tok.text, p.tok.pos
	fn, isAggregate := aggregateFuncs[name]
	if _, ok := metricsFuncByName(name); ok {
		return nil, p.metricsCall(pos, name)
	}
	if !isAggregate && name != "select" && name != "by" && name != "coalesce" {
		if p.atCall() {
			return nil, p.unsupported(pos, fmt.Sprintf("%q", name+"()"))
		}
		return nil, newParseError(p.lex.src, pos, "unknown pipeline stage %q", name)
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if err := p.expect(tokLParen, `"("`); err != nil {
		return nil, err
	}
	switch name {
	case "select":
		return p.parseSelect()
	case "by":
		f, err := p.parseField()
		if err != nil {
			return nil, err
		}
		return &byStage{field: f.field}, p.expect(tokRParen, `")"`)
	case "coalesce":
		return &coalesceStage{}, p.expect(tokRParen, `")"`)
	}
	a := &aggregateFilter{fn: fn}
	if fn != aggregateCount {
		f, err := p.parseField()
		if err != nil {
			return nil, err
		}
		if t := f.field.typ(); t != TypeNil && t != TypeDuration && !t.numeric() {
			return nil, newParseError(p.lex.src, f.pos, "%s() needs a number or a duration, and %s is %s", name, f.field, t.withArticle())
		}
		a.field = f.field
	}
	if err := p.expect(tokRParen, `")"`); err != nil {
		return nil, err
	}
	op, ok := comparisonOps[p.tok.kind]
	if !ok || op == OpRegex || op == OpNotRegex {
		return nil, p.expected(fmt.Sprintf("a comparison such as %s > 1", a.name()))
	}
	a.op = op
	if err := p.advance(); err != nil {
		return nil, err
	}
	lit, err := p.parseOperand()
	if err != nil {
		return nil, err
	}
	want := TypeInt
	if a.field.typ() == TypeDuration {
		want = TypeDuration
	}
	if lit.isField || lit.isNil || !(lit.lit.typ == want || want == TypeInt && lit.lit.typ == TypeFloat) {
		example := "a number"
		if want == TypeDuration {
			example = "a duration such as 100ms"
		}
		return nil, newParseError(p.lex.src, lit.pos, "%s compares with %s", a.name(), example)
	}
	a.lit = lit.lit
	return a, nil
}

func (p *parser) parseSelect() (stage, error) {
	s := &selectStage{}
	for {
		f, err := p.parseField()
		if err != nil {
			return nil, err
		}
		s.fields = append(s.fields, f.field)
		if p.tok.kind != tokComma {
			break
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	return s, p.expect(tokRParen, `")"`)
}

// parseField parses an operand that must be a field.
func (p *parser) parseField() (operand, error) {
	const want = "an attribute or an intrinsic, such as span.x or duration"
	if p.tok.kind != tokDot && p.tok.kind != tokIdent {
		return operand{}, p.expected(want)
	}
	pos := p.tok.pos
	o, err := p.parseOperand()
	if err == nil && !o.isField {
		err = newParseError(p.lex.src, pos, "expected %s but found %s", want, strconv.Quote(strings.TrimSpace(p.lex.src[pos:p.tok.pos])))
	}
	return o, err
}
