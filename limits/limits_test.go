package limits

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spanlog/spanlog/internal/promtest"
)

func TestDefaults(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	o, err := NewOverrides(cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	got := o.For("anyone")
	if got.MaxSearchDuration != 168*time.Hour || got.MaxResponseBytes != 0 || got.MaxConcurrentQueries != 20 {
		t.Errorf("defaults %+v, want 168h search window, no response limit and 20 queries at once", got)
	}
	if got.IngestionRateBytes != 15<<20 || got.IngestionBurstBytes != 20<<20 || got.MaxAttributeBytes != 2048 {
		t.Errorf("defaults %+v, want Tempo's ingest limits: 15 MiB/s, bursts of 20 MiB, attributes of 2048 bytes", got)
	}
	for _, bad := range []Config{
		{Defaults: Limits{MaxSearchDuration: -time.Second}},
		{Defaults: Limits{MaxResponseBytes: -1}},
		{Defaults: Limits{MaxConcurrentQueries: -1}},
		{Defaults: Limits{IngestionRateBytes: -1, IngestionBurstBytes: 1}},
		{Defaults: Limits{IngestionRateBytes: 1, IngestionBurstBytes: -1}},
		{Defaults: Limits{IngestionRateBytes: 1}}, // no burst: nothing would pass
		{Defaults: Limits{MaxAttributeBytes: -1}},
		{Defaults: Limits{BlockRetention: -time.Hour}},
		{OverridesFile: "x.yaml"},
	} {
		if bad.Validate() == nil {
			t.Errorf("%+v validates", bad)
		}
	}
}

// writeFile replaces the overrides file's content at once, as a
// configuration management tool would.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func newOverrides(t *testing.T, content string) (*Overrides, string, *prometheus.Registry, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "overrides.yaml")
	writeFile(t, path, content)
	cfg := DefaultConfig()
	cfg.Defaults.MaxResponseBytes = 1000
	cfg.OverridesFile, cfg.OverridesPeriod = path, time.Millisecond
	reg := prometheus.NewRegistry()
	o, err := NewOverrides(cfg, slog.New(slog.DiscardHandler), reg)
	return o, path, reg, err
}

// with returns newOverrides' defaults with change applied.
func with(change func(*Limits)) Limits {
	l := DefaultLimits()
	l.MaxResponseBytes = 1000
	change(&l)
	return l
}

// A tenant's entry overrides only the settings it names; zero lifts a
// limit; tenants the file does not name keep the defaults.
func TestFileOverrides(t *testing.T) {
	o, _, _, err := newOverrides(t, `
overrides:
  big:
    max-search-duration: 720h
    max-response-bytes: 5000
    max-concurrent-queries: 50
  unlimited:
    max-search-duration: 0s
    max-concurrent-queries: 0
  empty: {}
  nulled:
  ingest:
    ingestion-rate-bytes: 1000
    ingestion-burst-bytes: 2000
    max-attribute-bytes: 0
  short-lived:
    block-retention: 24h
`)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tenant string
		want   Limits
	}{
		{"big", with(func(l *Limits) {
			l.MaxSearchDuration, l.MaxResponseBytes, l.MaxConcurrentQueries = 720*time.Hour, 5000, 50
		})},
		{"unlimited", with(func(l *Limits) { l.MaxSearchDuration, l.MaxConcurrentQueries = 0, 0 })},
		{"empty", with(func(*Limits) {})},
		{"nulled", with(func(*Limits) {})},
		{"other", with(func(*Limits) {})},
		{"ingest", with(func(l *Limits) { l.IngestionRateBytes, l.IngestionBurstBytes, l.MaxAttributeBytes = 1000, 2000, 0 })},
		{"short-lived", with(func(l *Limits) { l.BlockRetention = 24 * time.Hour })},
	} {
		if got := o.For(tc.tenant); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.tenant, got, tc.want)
		}
	}
	for _, tc := range []struct {
		tenants []string
		want    time.Duration
		from    string
	}{
		{[]string{"big", "other"}, 168 * time.Hour, "other"},
		{[]string{"big"}, 720 * time.Hour, "big"},
		{[]string{"unlimited", "big"}, 720 * time.Hour, "big"},
		{[]string{"unlimited"}, 0, ""},
	} {
		got, from := Strictest(o, tc.tenants, func(l Limits) time.Duration { return l.MaxSearchDuration })
		if got != tc.want || from != tc.from {
			t.Errorf("strictest of %v: %v from %q, want %v from %q", tc.tenants, got, from, tc.want, tc.from)
		}
	}
	if got, from := Strictest(o, []string{"big", "other"}, func(l Limits) int64 { return l.MaxResponseBytes }); got != 1000 || from != "other" {
		t.Errorf("strictest response bytes %d from %q, want 1000 from other", got, from)
	}
	// A tenant without a block retention of its own has the compactor's.
	for tenant, want := range map[string]time.Duration{"short-lived": 24 * time.Hour, "big": 336 * time.Hour} {
		if got := o.BlockRetention(tenant, 336*time.Hour); got != want {
			t.Errorf("block retention of %s: %v, want %v", tenant, got, want)
		}
	}
}

// A file that would be ignored in part is refused at start, naming what is
// wrong.
func TestBadFileFailsAtStart(t *testing.T) {
	for _, tc := range []struct{ content, says string }{
		{"overrides:\n  t1:\n    max-search-duraton: 1h\n", "max-search-duraton"},
		{"overrides:\n  t1:\n    max-search-duration: soon\n", "soon"},
		{"overrides:\n  a/b:\n    max-response-bytes: 1\n", "invalid tenant"},
		{"overrides:\n  t1:\n    max-response-bytes: -1\n", "must not be negative"},
		{"overrides:\n  t1:\n    max-concurrent-queries: -1\n", "max-concurrent-queries -1 must not be negative"},
		{"overides: {}\n", "overides"},
		{"overrides: [\n", "yaml"},
	} {
		_, _, _, err := newOverrides(t, tc.content)
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%q: err %v, want one saying %q", tc.content, err, tc.says)
		}
	}
	if _, _, _, err := newOverrides(t, ""); err != nil {
		t.Errorf("empty file: %v", err)
	}
}

// A change of the file applies while running; a bad file keeps the last
// good overrides in force and is counted; a good one after it applies
// again.
func TestReload(t *testing.T) {
	o, path, reg, err := newOverrides(t, "overrides:\n  t1:\n    max-response-bytes: 1\n")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	await := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(time.Millisecond)
		}
	}
	responseBytes := func() int64 { return o.For("t1").MaxResponseBytes }

	writeFile(t, path, "overrides:\n  t1:\n    max-response-bytes: 2\n")
	await("the change to apply", func() bool { return responseBytes() == 2 })

	writeFile(t, path, "overrides:\n  t1:\n    max-response-bytes: nope\n")
	failures := func() float64 {
		return promtest.Value(t, reg, "spanlog_limits_overrides_reloads_total", "result", "failure")
	}
	await("the bad file to be counted", func() bool { return failures() > 0 })
	if got := responseBytes(); got != 2 {
		t.Errorf("after a bad file: %d, want the last good 2", got)
	}
	if got := promtest.Value(t, reg, "spanlog_limits_overrides_last_reload_successful"); got != 0 {
		t.Errorf("last reload successful %v after a bad file", got)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	before := failures()
	await("the missing file to be counted", func() bool { return failures() > before })
	if got := responseBytes(); got != 2 {
		t.Errorf("without a file: %d, want the last good 2", got)
	}

	writeFile(t, path, "overrides:\n  t1:\n    max-response-bytes: 3\n")
	await("the good file to apply", func() bool { return responseBytes() == 3 })
	await("the gauge to recover", func() bool {
		return promtest.Value(t, reg, "spanlog_limits_overrides_last_reload_successful") == 1
	})
	if promtest.Value(t, reg, "spanlog_limits_overrides_reloads_total", "result", "success") <= 0 {
		t.Error("successful reloads not counted")
	}
}
