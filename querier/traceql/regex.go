package traceql

import (
	"regexp"
	"regexp/syntax"
	"strings"
)

// regex is a TraceQL regular expression, compiled, with the literal
// strings that every value it matches contains. A value that lacks one
// cannot match, and strings.Contains tells that many times faster than
// the expression: ".*/item/12.*", the usual way to search for a part of
// a value, runs the engine over the whole value, position by position.
type regex struct {
	re    *regexp.Regexp
	needs []string
}

// compileAnchored compiles a TraceQL regular expression. Tempo anchors
// them at both ends, as PromQL does ("Comparison operators" in Tempo's
// "Construct a TraceQL query"): "bar" matches only the whole value "bar",
// and ".*bar.*" is how to match a substring.
func compileAnchored(expr string) (*regex, error) {
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
	r := &regex{re: re}
	// regexp.Compile parses with syntax.Perl; the same parse gives the
	// same structure.
	if tree, err := syntax.Parse(anchored, syntax.Perl); err == nil {
		r.needs = requiredLiterals(tree.Simplify(), nil)
	}
	return r, nil
}

// requiredLiterals appends to out the case-sensitive literals that every
// match of re contains: those of a concatenation's parts, which each
// match must all contain, looking through groups. Alternations and
// repetitions require nothing of their own.
func requiredLiterals(re *syntax.Regexp, out []string) []string {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase == 0 {
			out = append(out, string(re.Rune))
		}
	case syntax.OpCapture:
		out = requiredLiterals(re.Sub[0], out)
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			out = requiredLiterals(sub, out)
		}
	}
	return out
}

// MatchString reports whether the whole of s matches.
func (r *regex) MatchString(s string) bool {
	for _, lit := range r.needs {
		if !strings.Contains(s, lit) {
			return false
		}
	}
	return r.re.MatchString(s)
}

// String returns the anchored expression.
func (r *regex) String() string { return r.re.String() }
