package e2e

import (
	"testing"
	"time"

	"github.com/spanlog/spanlog/internal/loadgen"
	"github.com/spanlog/spanlog/internal/querybench"
)

// TestSearchWorkloadQueries runs the searches make bench-search-workload
// times against a spanlog loaded in that benchmark's shape, smaller: each
// must be one spanlog answers, in the words of the traces the load
// generator sends, so that each finds traces, but for the two meant to
// find few or none.
func TestSearchWorkloadQueries(t *testing.T) {
	n := newNode(t)
	n.start(t)
	const traces = 2000
	cfg := loadgen.DefaultConfig()
	cfg.Endpoint = n.OTLPGRPC
	cfg.Rate, cfg.BatchTraces, cfg.Services, cfg.Seed, cfg.Traces = 0, 20, 10, 1, traces
	start := time.Now()
	sendFor(t, cfg, 0)
	end := time.Now()
	waitFor(t, 30*time.Second, "every trace searchable", func() bool { return len(search(t, n.HTTP, "{}")) == traces })

	bench := querybench.DefaultConfig()
	bench.Endpoint = "http://" + n.HTTP
	bench.Repeat, bench.Limit = 1, 5
	bench.Start, bench.End = start, end
	rep, err := querybench.Run(t.Context(), bench)
	if err != nil {
		t.Fatal(err)
	}
	const (
		rare    = `{span.url.full=~".*/api/products/123.*"}` // about 1 trace in 2,000
		nothing = `{traceDuration>2s}`
	)
	for _, r := range rep.Queries {
		want := bench.Limit
		switch r.Query {
		case rare:
			want = -1
		case nothing:
			want = 0
		}
		switch {
		case r.Failed():
			t.Errorf("%s failed: %v", r.Query, r.Err)
		case r.Partial != "":
			t.Errorf("%s answered PARTIAL: %s", r.Query, r.Partial)
		case r.Traces > bench.Limit || want >= 0 && r.Traces != want:
			t.Errorf("%s found %d traces, want %d", r.Query, r.Traces, want)
		case r.Metrics == nil:
			t.Errorf("%s: no metrics read from the answer", r.Query)
		}
	}
	if len(rep.Queries) != 10 || rep.Queries[len(rep.Queries)-1].Query != nothing {
		t.Errorf("the default queries are not issue 11's ten, ending with the one that matches nothing")
	}
}
