package traceql

import (
	"errors"
	"strings"
)

// ParseLenient parses a query that may be incomplete, as a query editor
// sends it while it is being typed ({ span.a = "x" && span.b = } while
// asking for span.b's values). A query that parses is returned as Parse
// returns it. One that does not is narrowed to its complete comparisons,
// joined by && in one spanset filter, and to nil, every span, when it has
// none. Only a query over the bounds (ErrTooLarge) is an error: narrowing
// would not bring it within them.
func ParseLenient(text string) (*Query, error) {
	text = strings.TrimSpace(text)
	if text == "" || text == "{}" {
		return nil, nil
	}
	query, err := Parse(text)
	switch {
	case err == nil:
		return query, nil
	case errors.Is(err, ErrTooLarge):
		return nil, err
	}
	conds := completeComparisons(text)
	if len(conds) == 0 {
		return nil, nil
	}
	query, err = Parse("{ " + strings.Join(conds, " && ") + " }")
	switch {
	case errors.Is(err, ErrTooLarge):
		return nil, err
	case err != nil:
		return nil, nil
	}
	return query, nil
}

// completeComparisons returns the source of each comparison in text that
// parses on its own, in order, none inside another. It tries one at each
// token, as the parser reads them; a token the lexer cannot read ends the
// search.
func completeComparisons(text string) []string {
	var out []string
	lex := lexer{src: text}
	for {
		tok, err := lex.next()
		if err != nil || tok.kind == tokEOF {
			return out
		}
		p := &parser{lex: lexer{src: text, pos: tok.pos}}
		if p.advance() != nil {
			continue
		}
		if _, err := p.parseComparison(); err != nil {
			continue
		}
		end := len(text)
		if p.tok.kind != tokEOF {
			end = p.tok.pos
		}
		cond := strings.TrimSpace(text[tok.pos:end])
		if _, err := Parse("{ " + cond + " }"); err == nil {
			out = append(out, cond)
			lex.pos = end
		}
	}
}
