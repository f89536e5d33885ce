package check

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// dashboardDatasource is how every panel and query names its data
// source: the dashboard's variable, so that the dashboards work with
// whatever name a Grafana gives its Prometheus.
const dashboardDatasource = "${datasource}"

// The parts of Grafana's dashboard model the checks read.
type dashboard struct {
	UID           string   `json:"uid"`
	Title         string   `json:"title"`
	Tags          []string `json:"tags"`
	SchemaVersion int      `json:"schemaVersion"`
	Panels        []panel  `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *datasourceRef `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []target `json:"targets"`
	Panels  []panel  `json:"panels"` // of a collapsed row
}

type target struct {
	Datasource *datasourceRef `json:"datasource"`
	Expr       string         `json:"expr"`
	RefID      string         `json:"refId"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Datasource *datasourceRef  `json:"datasource"`
}

// TestDashboards checks deploy/dashboards as Grafana would show them: a
// unique uid and title each, the data source variable behind every
// query, panels that fit the grid, and queries that parse.
// TestUsedMetricsAreExported checks the metrics they read.
func TestDashboards(t *testing.T) {
	uids, titles := map[string]string{}, map[string]string{}
	for file, d := range loadDashboards(t) {
		if d.UID == "" || uids[d.UID] != "" {
			t.Errorf("%s: uid %q empty or also in %s", file, d.UID, uids[d.UID])
		}
		uids[d.UID] = file
		if !strings.HasPrefix(d.Title, "spanlog / ") || titles[d.Title] != "" {
			t.Errorf("%s: title %q does not start with \"spanlog / \", or is also %s's", file, d.Title, titles[d.Title])
		}
		titles[d.Title] = file
		if !slices.Contains(d.Tags, "spanlog") || d.SchemaVersion == 0 {
			t.Errorf("%s: want the tag spanlog (the dashboards link each other by it) and a schemaVersion", file)
		}
		hasDatasource := false
		for _, v := range d.Templating.List {
			if v.Name == "datasource" && v.Type == "datasource" && string(v.Query) == `"prometheus"` {
				hasDatasource = true
			}
		}
		if !hasDatasource {
			t.Errorf("%s: no variable datasource of type datasource over prometheus", file)
		}
		ids := map[int]bool{}
		for _, p := range allPanels(d.Panels) {
			where := fmt.Sprintf("%s: panel %q", file, p.Title)
			if ids[p.ID] {
				t.Errorf("%s: id %d is another panel's", where, p.ID)
			}
			ids[p.ID] = true
			g := p.GridPos
			if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
				t.Errorf("%s: gridPos %+v is off Grafana's 24 columns", where, g)
			}
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no query", where)
			}
			if !usesDatasourceVariable(p.Datasource) {
				t.Errorf("%s: data source %+v, want uid %s", where, p.Datasource, dashboardDatasource)
			}
			refs := map[string]bool{}
			for _, tg := range p.Targets {
				if !usesDatasourceVariable(tg.Datasource) {
					t.Errorf("%s: query %s: data source %+v, want uid %s", where, tg.RefID, tg.Datasource, dashboardDatasource)
				}
				if refs[tg.RefID] {
					t.Errorf("%s: refId %s twice", where, tg.RefID)
				}
				refs[tg.RefID] = true
			}
		}
	}
	if len(uids) == 0 {
		t.Fatal("no dashboards")
	}
	dashboardQueries(t) // each parses and reads some series
}

func usesDatasourceVariable(ref *datasourceRef) bool {
	return ref != nil && ref.UID == dashboardDatasource
}

// loadDashboards are the dashboards of deploy/dashboards by file name.
func loadDashboards(t testing.TB) map[string]dashboard {
	t.Helper()
	files, err := filepath.Glob(repoPath(t, "deploy", "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in deploy/dashboards: %v", err)
	}
	out := map[string]dashboard{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatalf("%s: %v", relPath(t, f), err)
		}
		out[relPath(t, f)] = d
	}
	return out
}

// allPanels flattens rows.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// grafanaIntervals are Grafana's macros that stand for a range; for
// parsing, any range does.
var grafanaIntervals = regexp.MustCompile(`\$\{?__(rate_interval|interval|range)\}?`)

// labelValues is a variable's query for the values of a label of a
// series, not PromQL.
var labelValues = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)

// dashboardQueries are the queries of every panel and variable.
func dashboardQueries(t testing.TB) []query {
	t.Helper()
	var qs []query
	add := func(where, expr string) {
		q, err := parseQuery(where, grafanaIntervals.ReplaceAllString(expr, "5m"))
		if err != nil {
			t.Error(err)
			return
		}
		qs = append(qs, q)
	}
	for file, d := range loadDashboards(t) {
		for _, p := range allPanels(d.Panels) {
			for _, tg := range p.Targets {
				add(fmt.Sprintf("%s: panel %q %s", file, p.Title, tg.RefID), tg.Expr)
			}
		}
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			where := fmt.Sprintf("%s: variable %s", file, v.Name)
			var text string
			var obj struct {
				Query string `json:"query"`
			}
			if json.Unmarshal(v.Query, &text) != nil {
				if err := json.Unmarshal(v.Query, &obj); err != nil {
					t.Errorf("%s: query %s: %v", where, v.Query, err)
					continue
				}
				text = obj.Query
			}
			if m := labelValues.FindStringSubmatch(text); m != nil {
				qs = append(qs, query{where: where, expr: text, reads: []seriesRead{{name: m[1], labels: []string{m[2]}}}})
				continue
			}
			add(where, text)
		}
	}
	return qs
}
