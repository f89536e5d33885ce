package schema

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/internal/spantest"
)

// spanJSONs returns every span of td in a form equal for equal spans,
// sorted.
func spanJSONs(t testing.TB, td ptrace.Traces) []string {
	t.Helper()
	return spantest.All(t, td)
}

func tracesJSON(t testing.TB, td ptrace.Traces) string {
	t.Helper()
	var m ptrace.JSONMarshaler
	b, err := m.MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
