package check

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// targetLabels are the labels Prometheus gives every series it scrapes.
var targetLabels = []string{"job", "instance"}

// prometheusSeries are the series Prometheus writes itself for every
// target it scrapes, which rules may read beside spanlog's.
var prometheusSeries = map[string]bool{"up": true}

// TestUsedMetricsAreExported checks that every series a dashboard or an
// alert rule reads is one spanlog exports, with the labels the query
// selects or groups by: a renamed metric or label otherwise leaves a
// panel empty and an alert silent, and nothing says so.
//
// client_golang exposes a vector only once one of its series is used,
// so the test makes spanlog do every kind of work first (see exercise),
// then waits until the series appear: those it never gets to are
// reported with the queries that read them.
func TestUsedMetricsAreExported(t *testing.T) {
	queries := append(ruleQueries(t), dashboardQueries(t)...)
	if t.Failed() {
		t.FailNow()
	}
	used := map[string]string{} // series name -> the first query reading it
	for _, q := range queries {
		for _, r := range q.reads {
			if _, ok := used[r.name]; !ok && !prometheusSeries[r.name] {
				used[r.name] = q.where
			}
		}
	}

	c := startCluster(t)
	c.exercise(t)
	var exported map[string]exportedSeries
	waitFor(t, "every series the dashboards and rules read", func() (bool, string) {
		exported = seriesOf(t, c.all.http, c.querier.http)
		var missing []string
		for name, where := range used {
			if _, ok := exported[name]; !ok {
				missing = append(missing, fmt.Sprintf("%s (read by %s)", name, where))
			}
		}
		slices.Sort(missing)
		return len(missing) == 0, "missing " + strings.Join(missing, ", ")
	})

	for name := range prometheusSeries {
		exported[name] = exportedSeries{labels: setOf(targetLabels)}
	}
	for _, q := range queries {
		for _, r := range q.reads {
			for _, l := range r.labels {
				if !exported[r.name].labels[l] {
					t.Errorf("%s: %s has no label %s (it has %s)", q.where, r.name, l, labelList(exported[r.name].labels))
				}
			}
		}
		for _, g := range q.groupings {
			for _, l := range g.labels {
				if !slices.ContainsFunc(g.over, func(name string) bool { return exported[name].labels[l] }) {
					t.Errorf("%s: groups or matches by %s, a label of none of %v", q.where, l, g.over)
				}
			}
		}
		for _, name := range q.counted {
			if s, ok := exported[name]; ok && !s.counter {
				t.Errorf("%s: takes the rate of %s, which is not a counter", q.where, name)
			}
		}
	}
}

// exportedSeries is a series Prometheus stores from a scrape.
type exportedSeries struct {
	labels map[string]bool // names
	// counter: a counter, or a histogram's or summary's _bucket, _sum
	// or _count, which only go up.
	counter bool
}

// seriesOf scrapes addrs and returns the series Prometheus would store,
// by name: a histogram is its _bucket (with le), _sum and _count series.
func seriesOf(t *testing.T, addrs ...string) map[string]exportedSeries {
	t.Helper()
	out := map[string]exportedSeries{}
	add := func(name string, counter bool, labels map[string]bool, extra ...string) {
		s, ok := out[name]
		if !ok {
			s = exportedSeries{labels: setOf(append(slices.Clone(targetLabels), extra...)), counter: counter}
			out[name] = s
		}
		for l := range labels {
			s.labels[l] = true
		}
	}
	for _, addr := range addrs {
		for name, mf := range scrape(t, addr) {
			labels := map[string]bool{}
			for _, m := range mf.GetMetric() {
				for _, lp := range m.GetLabel() {
					labels[lp.GetName()] = true
				}
			}
			switch mf.GetType() {
			case dto.MetricType_HISTOGRAM:
				add(name+"_bucket", true, labels, "le")
				add(name+"_sum", true, labels)
				add(name+"_count", true, labels)
			case dto.MetricType_SUMMARY:
				add(name, false, labels, "quantile")
				add(name+"_sum", true, labels)
				add(name+"_count", true, labels)
			default:
				add(name, mf.GetType() == dto.MetricType_COUNTER, labels)
			}
		}
	}
	return out
}

// scrape reads addr's /metrics in the text format.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/metrics: %s", addr, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s/metrics: %v", addr, err)
	}
	return mfs
}

// sampleSum is the sum of the samples of a counter or gauge family at
// addr; 0 when it has none.
func sampleSum(t *testing.T, addr, family string) float64 {
	t.Helper()
	var sum float64
	for _, m := range scrape(t, addr)[family].GetMetric() {
		sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue()
	}
	return sum
}

func setOf(list []string) map[string]bool {
	s := map[string]bool{}
	for _, x := range list {
		s[x] = true
	}
	return s
}

func labelList(labels map[string]bool) string {
	return fmt.Sprint(slices.Sorted(maps.Keys(labels)))
}
