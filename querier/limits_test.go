package querier

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spanlog/spanlog/limits"
	"github.com/spanlog/spanlog/querier/internal/querytest"
)

// The search window is checked, and filled in, before anything is read.
func TestSearchWindow(t *testing.T) {
	q := &Querier{limits: querytest.NewLimits(t, limits.Limits{MaxSearchDuration: time.Hour}, "")}
	end := time.Unix(1_800_000_000, 0)
	inclusiveEnd := end.Add(time.Second - 1)
	for _, tc := range []struct {
		name      string
		in        TimeRange
		wantStart time.Time // zero: checked against now
		bad       bool
	}{
		{name: "only end", in: TimeRange{End: inclusiveEnd}, wantStart: inclusiveEnd.Add(-time.Hour)},
		{name: "exactly the limit", in: TimeRange{Start: end.Add(-time.Hour), End: inclusiveEnd}, wantStart: end.Add(-time.Hour)},
		{name: "a second over", in: TimeRange{Start: end.Add(-time.Hour - time.Second), End: inclusiveEnd}, bad: true},
		{name: "only a recent start", in: TimeRange{Start: time.Now().Add(-time.Minute).Truncate(time.Second)}, wantStart: time.Now().Add(-time.Minute).Truncate(time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := q.SearchWindow([]string{"t"}, tc.in)
			if tc.bad {
				if err == nil {
					t.Fatalf("%v accepted", tc.in)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Start.Equal(tc.wantStart) || !got.End.Equal(tc.in.End) {
				t.Errorf("%+v, want start %v and end %v", got, tc.wantStart, tc.in.End)
			}
		})
	}
	before := time.Now()
	got, err := q.SearchWindow([]string{"t"}, TimeRange{})
	if err != nil || got.Start.Before(before.Add(-time.Hour)) || got.Start.After(time.Now().Add(-time.Hour)) || !got.End.IsZero() {
		t.Errorf("no range: %+v %v, want the last hour, open-ended", got, err)
	}
}

// Each tenant has its own count and its own limit, overrides included; a
// request over several tenants takes a place of each, or of none when one
// of them is full.
func TestConcurrentQueriesPerTenant(t *testing.T) {
	q := unstartedQuerier(t)
	q.limits = querytest.NewLimits(t, limits.Limits{MaxConcurrentQueries: 1}, "overrides:\n  big: {max-concurrent-queries: 2}\n  free: {max-concurrent-queries: 0}\n")
	var held []func()
	admit := func(tenants string) error {
		release, err := q.Admit(strings.Split(tenants, "|"))
		if err == nil {
			held = append(held, release)
		}
		return err
	}
	start := func(tenants string) {
		if err := admit(tenants); err != nil {
			t.Fatalf("a query of %s was not admitted: %v", tenants, err)
		}
	}
	start("small")
	start("big")
	start("big")
	for range 3 {
		start("free")
	}
	for _, tenants := range []string{"small", "big", "big|other", "other|small"} {
		if err := admit(tenants); !errors.Is(err, ErrTooManyQueries) {
			t.Errorf("%s at its limit: %v, want ErrTooManyQueries", tenants, err)
		}
	}
	// The refused queries took no place: other had none free to give.
	start("other")
	for _, release := range held {
		release()
	}
	q.queries.mu.Lock()
	defer q.queries.mu.Unlock()
	if len(q.queries.byTenant) != 0 {
		t.Errorf("places still taken after every query ended: %v", q.queries.byTenant)
	}
}
