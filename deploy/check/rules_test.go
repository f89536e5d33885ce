package check

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
)

// The severities alerts have: critical, acked spans at risk or clients
// getting errors now; warning, it will come to that, or a part of the
// service is degraded.
var severities = map[string]bool{"critical": true, "warning": true}

// Annotations every alert carries, for whoever gets it at night.
var annotations = []string{"summary", "description", "runbook"}

var alertName = regexp.MustCompile(`^Spanlog[A-Z][A-Za-z]+$`)

// TestAlertRules loads deploy/alerts with Prometheus' own rule loader
// (unknown keys, expressions, templates of labels and annotations), and
// checks what the loader leaves to conventions: names, severities, and
// annotations. TestUsedMetricsAreExported checks the metrics they read.
func TestAlertRules(t *testing.T) {
	seen := map[string]string{}
	for _, file := range rulesFiles(t) {
		groups := loadRules(t, file)
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				where := fmt.Sprintf("%s: %s", relPath(t, file), r.Alert)
				if r.Alert == "" {
					t.Errorf("%s: group %s: recording rule %s; these files hold alerts only", relPath(t, file), g.Name, r.Record)
					continue
				}
				if !alertName.MatchString(r.Alert) {
					t.Errorf("%s: name is not Spanlog followed by words in CamelCase", where)
				}
				if other, ok := seen[r.Alert]; ok {
					t.Errorf("%s: also defined in %s", where, other)
				}
				seen[r.Alert] = where
				if !severities[r.Labels["severity"]] {
					t.Errorf("%s: severity %q, want critical or warning", where, r.Labels["severity"])
				}
				for _, a := range annotations {
					if r.Annotations[a] == "" {
						t.Errorf("%s: no %s annotation", where, a)
					}
				}
			}
		}
	}
	if len(seen) == 0 {
		t.Fatal("no alert rules")
	}
	ruleQueries(t) // each reads some series
}

func rulesFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(repoPath(t, "deploy", "alerts", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rules files in deploy/alerts: %v", err)
	}
	return files
}

// loadRules parses a rules file as Prometheus does when it loads it.
func loadRules(t testing.TB, file string) *rulefmt.RuleGroups {
	t.Helper()
	groups, errs := rulefmt.ParseFile(file, false, model.UTF8Validation, promql, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Errorf("%s: %v", relPath(t, file), err)
	}
	if groups == nil {
		t.FailNow()
	}
	return groups
}

// ruleQueries are the expressions of every alert rule.
func ruleQueries(t testing.TB) []query {
	t.Helper()
	var qs []query
	for _, file := range rulesFiles(t) {
		for _, g := range loadRules(t, file).Groups {
			for _, r := range g.Rules {
				q, err := parseQuery(fmt.Sprintf("%s: %s", relPath(t, file), r.Alert), r.Expr)
				if err != nil {
					t.Error(err)
					continue
				}
				qs = append(qs, q)
			}
		}
	}
	return qs
}
