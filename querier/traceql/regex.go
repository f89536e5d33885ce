package traceql

import (
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// regex is the regular expression of =~ or !~, anchored, and a substring
// that every string it matches holds. Filters such as .*/api/orders/12.*
// read many strings and match few: strings.Contains rules most of them
// out many times faster than the regular expression.
type regex struct {
	re *regexp.Regexp
	// literal is the longest literal the expression's top-level
	// sequence holds, case-sensitive; "" when it holds none.
	literal string
}

// compileRegex compiles a TraceQL regular expression. Tempo anchors them
// at both ends, as PromQL does ("Comparison operators" in Tempo's
// "Construct a TraceQL query"): "bar" matches only the whole value "bar",
// and ".*bar.*" is how to match a substring.
func compileRegex(expr string) (*regex, error) {
	// Compiling the expression alone first keeps the error about what the
	// user wrote, not about the anchors around it.
	if _, err := regexp.Compile(expr); err != nil {
		return nil, err
	}
	anchored := `^(?:` + expr + `)$`
	re, err := regexp.Compile(anchored)
	if err != nil {
		return nil, err
	}
	return &regex{re: re, literal: requiredLiteral(anchored)}, nil
}

// requiredLiteral returns the longest literal of expr's top-level
// sequence: a string the sequence matches is the concatenation of what
// each of its parts matches, so it holds the literal. It skips literals
// that fold case, and those holding U+FFFD, which the regexp package also
// matches against a byte that is not UTF-8.
func requiredLiteral(expr string) string {
	re, err := syntax.Parse(expr, syntax.Perl) // as regexp.Compile
	if err != nil {
		return ""
	}
	re = re.Simplify()
	if re.Op != syntax.OpConcat {
		return ""
	}
	var best string
	for _, sub := range re.Sub {
		if sub.Op != syntax.OpLiteral || sub.Flags&syntax.FoldCase != 0 {
			continue
		}
		if lit := string(sub.Rune); len(lit) > len(best) && !strings.ContainsRune(lit, utf8.RuneError) {
			best = lit
		}
	}
	return best
}

// matchString reports whether the expression matches all of s.
func (r *regex) matchString(s string) bool {
	return strings.Contains(s, r.literal) && r.re.MatchString(s)
}
