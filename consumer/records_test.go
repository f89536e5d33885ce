package consumer

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/schema"
)

func TestDecodeRefusesRecordsWithoutSpans(t *testing.T) {
	noSpans := ptrace.NewTraces()
	noSpans.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	withSpans := ptrace.NewTraces()
	withSpans.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	encode := func(td ptrace.Traces) *kgo.Record {
		r, err := schema.EncodeRecord("t1", td)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, tc := range []struct {
		name string
		r    *kgo.Record
		want error
	}{
		{"empty value", &kgo.Record{}, ErrNoSpans},
		{"resource and scope without spans", encode(noSpans), ErrNoSpans},
		{"a span", encode(withSpans), nil},
	} {
		if _, _, err := Decode(tc.r, "default"); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}
