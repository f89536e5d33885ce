package traceql

import "math"

// ParseMetrics parses a TraceQL metrics query. Errors are *ParseError; a
// query without a metrics function wraps ErrNotMetrics.
//
// Grammar, after Parse's (see there):
//
//	metrics  = spansets { "|" stage } "|" function [ by ] [ "|" second ] [ hints ]
//	function = ("rate" | "count_over_time") "(" ")"
//	         | ("sum_over_time" | "avg_over_time" | "min_over_time"
//	           | "max_over_time" | "histogram_over_time") "(" field ")"
//	         | "quantile_over_time" "(" field { "," number } ")"
//	         | "compare" "(" spansets [ "," int [ "," int "," int ] ] ")"
//	by       = "by" "(" [ field { "," field } ] ")"
//	second   = ("topk" | "bottomk") "(" int ")"
//	hints    = "with" "(" name "=" literal { "," name "=" literal } ")"
//
// The hints Grafana sends (sample, exemplars, ...) steer sampling in
// Tempo; spanlog's answers are exact, so it accepts and ignores them.
func ParseMetrics(q string) (*MetricsQuery, error) {
	p, spansets, err := parseSpansetsOf(q)
	if err != nil {
		return nil, err
	}
	spans := &Query{spansets: spansets}
	var m *MetricsQuery
	for m == nil && p.tok.kind == tokPipe {
		if err := p.advance(); err != nil {
			return nil, err
		}
		if fn, ok := metricsFuncByName(p.tok.text); ok && p.tok.kind == tokIdent {
			if m, err = p.parseMetricsFunc(fn); err != nil {
				return nil, err
			}
			break
		}
		s, err := p.parseStage()
		if err != nil {
			return nil, err
		}
		spans.stages = append(spans.stages, s)
	}
	if m == nil {
		return nil, notMetrics(q, p.tok.pos)
	}
	m.Spans, m.text = spans, q
	if p.tok.kind == tokPipe {
		if err := p.advance(); err != nil {
			return nil, err
		}
		if m.Top, err = p.parseTopSeries(); err != nil {
			return nil, err
		}
	}
	if p.tok.kind == tokIdent && p.tok.text == "with" {
		// Hints change no answer (see Query.Hint); sample=true, which
		// Traces Drilldown sends, asks for less than spanlog computes.
		if _, err := p.parseHints(); err != nil {
			return nil, err
		}
	}
	if p.tok.kind != tokEOF {
		return nil, p.expected("end of query")
	}
	spans.prepare()
	for _, f := range append(m.By, m.Field) {
		if f != (Field{}) {
			spans.noteField(f)
		}
	}
	if m.Compare != nil {
		m.Compare.Selection.prepare()
	}
	return m, nil
}

func notMetrics(q string, pos int) error {
	e := newParseError(q, pos, "a metrics query ends in a function such as rate() or count_over_time(); this is a search, which /api/search answers")
	e.err = ErrNotMetrics
	return e
}

// parseMetricsFunc parses the function of a metrics query and its by().
func (p *parser) parseMetricsFunc(fn MetricsFunc) (*MetricsQuery, error) {
	m := &MetricsQuery{Func: fn}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if err := p.expect(tokLParen, `"("`); err != nil {
		return nil, err
	}
	switch {
	case fn == MetricsCompare:
		c, err := p.parseCompare()
		if err != nil {
			return nil, err
		}
		m.Compare = c
	case fn.readsField():
		f, err := p.parseField()
		if err != nil {
			return nil, err
		}
		if t := f.field.typ(); t != TypeNil && t != TypeDuration {
			return nil, newParseError(p.lex.src, f.pos, "%s() needs a numeric attribute or a duration, and %s is a %s", fn, f.field, t)
		}
		m.Field = f.field
		for fn == MetricsQuantile && p.tok.kind == tokComma {
			if err := p.advance(); err != nil {
				return nil, err
			}
			q, err := p.parseNumber("a quantile from 0 to 1")
			if err != nil {
				return nil, err
			}
			if q < 0 || q > 1 || math.IsNaN(q) {
				return nil, newParseError(p.lex.src, p.tok.pos, "quantile %v is not from 0 to 1", q)
			}
			m.Quantiles = append(m.Quantiles, q)
		}
		if fn == MetricsQuantile && len(m.Quantiles) == 0 {
			return nil, p.expected(`"," and a quantile such as 0.9`)
		}
	}
	if err := p.expect(tokRParen, `")"`); err != nil {
		return nil, err
	}
	if p.tok.kind == tokIdent && p.tok.text == "by" {
		by, err := p.parseBy()
		if err != nil {
			return nil, err
		}
		m.By = by
	}
	return m, nil
}

// parseNumber parses a number literal, moving past it.
func (p *parser) parseNumber(what string) (float64, error) {
	if p.tok.kind != tokInt && p.tok.kind != tokFloat {
		return 0, p.expected(what)
	}
	v := p.tok.val.Float()
	return v, p.advance()
}

// parseInt parses an integer literal, moving past it.
func (p *parser) parseInt(what string) (int64, error) {
	if p.tok.kind != tokInt {
		return 0, p.expected(what)
	}
	v := p.tok.val.Int()
	return v, p.advance()
}

// parseBy parses by(field, ...); by() groups nothing, as Traces
// Drilldown sends it.
func (p *parser) parseBy() ([]Field, error) {
	if err := p.advance(); err != nil {
		return nil, err
	}
	if err := p.expect(tokLParen, `"("`); err != nil {
		return nil, err
	}
	var by []Field
	for p.tok.kind != tokRParen {
		f, err := p.parseField()
		if err != nil {
			return nil, err
		}
		if f.field.Intrinsic.traceLevel() && f.field.Intrinsic != IntrinsicTraceRootName && f.field.Intrinsic != IntrinsicTraceRootService {
			return nil, newParseError(p.lex.src, f.pos, "by() groups by span fields, and %s is not one", f.field)
		}
		if len(by) == maxGroupBy {
			return nil, newParseError(p.lex.src, f.pos, "by() groups by at most %d fields", maxGroupBy)
		}
		by = append(by, f.field)
		if p.tok.kind != tokComma {
			break
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	return by, p.expect(tokRParen, `")"`)
}

// maxGroupBy bounds the fields of by(), as Tempo does: each series keeps
// a value of each.
const maxGroupBy = 5

// defaultCompareTopN is how many values of each attribute compare()
// keeps when the query does not say, as in Tempo.
const defaultCompareTopN = 10

// parseCompare parses compare()'s arguments, after its "(".
func (p *parser) parseCompare() (*Compare, error) {
	// The selection is judged span by span: one filter.
	if p.tok.kind != tokLBrace {
		return nil, p.expected(`a spanset filter such as { status = error }`)
	}
	e, err := p.parseFilter()
	if err != nil {
		return nil, err
	}
	c := &Compare{Selection: &Query{spansets: e}, TopN: defaultCompareTopN}
	if p.tok.kind != tokComma {
		return c, nil
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	n, err := p.parseInt("how many values of each attribute to keep")
	if err != nil {
		return nil, err
	}
	if n <= 0 || n > math.MaxInt32 {
		return nil, newParseError(p.lex.src, p.tok.pos, "compare() keeps from 1 to %d values of each attribute", math.MaxInt32)
	}
	c.TopN = int(n)
	if p.tok.kind != tokComma {
		return c, nil
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if c.Start, err = p.parseInt("the selection's start in unix nanoseconds"); err != nil {
		return nil, err
	}
	if err := p.expect(tokComma, `","`); err != nil {
		return nil, err
	}
	if c.End, err = p.parseInt("the selection's end in unix nanoseconds"); err != nil {
		return nil, err
	}
	if c.Start <= 0 || c.End <= c.Start {
		return nil, newParseError(p.lex.src, p.tok.pos, "compare()'s start and end must be unix nanoseconds, end after start")
	}
	return c, nil
}

// parseTopSeries parses topk(n) or bottomk(n).
func (p *parser) parseTopSeries() (*TopSeries, error) {
	if p.tok.kind != tokIdent || p.tok.text != "topk" && p.tok.text != "bottomk" {
		return nil, p.expected("topk(n) or bottomk(n)")
	}
	t := &TopSeries{Bottom: p.tok.text == "bottomk"}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if err := p.expect(tokLParen, `"("`); err != nil {
		return nil, err
	}
	pos := p.tok.pos
	n, err := p.parseInt("how many series to keep")
	if err != nil {
		return nil, err
	}
	if n <= 0 || n > math.MaxInt32 {
		return nil, newParseError(p.lex.src, pos, "topk and bottomk keep from 1 to %d series", math.MaxInt32)
	}
	t.N = int(n)
	return t, p.expect(tokRParen, `")"`)
}

// metricsCall returns the error of Parse for a metrics function where a
// search's pipeline stage was expected.
func (p *parser) metricsCall(pos int, name string) error {
	e := newParseError(p.lex.src, pos, "%s() makes a metrics query, which /api/metrics/query_range answers, not a search", name)
	e.err = ErrMetrics
	return e
}
