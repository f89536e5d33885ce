package check

import (
	"fmt"
	"slices"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// promql parses expressions as Prometheus does by default.
var promql = parser.NewParser(parser.Options{})

// query is one PromQL expression of a rule or a dashboard, and what it
// reads.
type query struct {
	where string // the file, and the rule or panel
	expr  string
	// reads are the series the expression selects, by name, each with
	// the label names its matchers name.
	reads []seriesRead
	// groupings are the label names an aggregation groups by, or a
	// binary operation matches on: each must be a label of one series
	// read below it, or the result silently has one group.
	groupings []grouping
	// counted are the series read through rate(), irate() or
	// increase(), which only counters make sense of.
	counted []string
}

type seriesRead struct {
	name   string
	labels []string
}

type grouping struct {
	labels []string
	over   []string // names of the series read below
}

// parseQuery parses expr, found at where.
func parseQuery(where, expr string) (query, error) {
	q := query{where: where, expr: expr}
	e, err := promql.ParseExpr(expr)
	if err != nil {
		return q, fmt.Errorf("%s: %w", where, err)
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			q.reads = append(q.reads, selectorRead(n))
		case *parser.AggregateExpr:
			if !n.Without && len(n.Grouping) > 0 {
				q.groupings = append(q.groupings, grouping{labels: n.Grouping, over: readNames(n.Expr)})
			}
		case *parser.Call:
			switch n.Func.Name {
			case "rate", "irate", "increase":
				q.counted = append(q.counted, readNames(n)...)
			}
		case *parser.BinaryExpr:
			if vm := n.VectorMatching; vm != nil && vm.On && len(vm.MatchingLabels) > 0 {
				q.groupings = append(q.groupings,
					grouping{labels: vm.MatchingLabels, over: readNames(n.LHS)},
					grouping{labels: vm.MatchingLabels, over: readNames(n.RHS)})
			}
		}
		return nil
	})
	if len(q.reads) == 0 {
		return q, fmt.Errorf("%s: %q reads no series", where, expr)
	}
	return q, nil
}

func selectorRead(vs *parser.VectorSelector) seriesRead {
	r := seriesRead{name: vs.Name}
	for _, m := range vs.LabelMatchers {
		if m.Name == model.MetricNameLabel {
			if m.Type == labels.MatchEqual {
				r.name = m.Value
			}
			continue
		}
		r.labels = append(r.labels, m.Name)
	}
	return r
}

// readNames are the names of the series e selects.
func readNames(e parser.Expr) []string {
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			if name := selectorRead(vs).name; !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
		return nil
	})
	return names
}
