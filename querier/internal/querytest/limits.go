package querytest

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spanlog/spanlog/limits"
)

// NoLimits returns limits that limit nothing, so that tests of other
// things can search data of any age.
func NoLimits(t testing.TB) *limits.Overrides {
	return NewLimits(t, limits.Limits{}, "")
}

// NewLimits returns limits of defaults, with overrides if not empty: the
// content of an overrides file.
func NewLimits(t testing.TB, defaults limits.Limits, overrides string) *limits.Overrides {
	t.Helper()
	cfg := limits.DefaultConfig()
	cfg.Defaults = defaults
	if overrides != "" {
		cfg.OverridesFile = filepath.Join(t.TempDir(), "overrides.yaml")
		if err := os.WriteFile(cfg.OverridesFile, []byte(overrides), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	o, err := limits.NewOverrides(cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return o
}
