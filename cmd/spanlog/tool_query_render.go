package main

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// traceResponse is the answer of GET /api/v2/traces/{id}.
type traceResponse struct {
	Trace   json.RawMessage `json:"trace"`
	Status  string          `json:"status"`
	Message string          `json:"message"`
}

// traces decodes the trace, OTLP JSON as {"resourceSpans": [...]}.
func (r *traceResponse) traces() (ptrace.Traces, error) {
	td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(r.Trace)
	if err != nil {
		return td, fmt.Errorf("decode the trace: %w", err)
	}
	return td, nil
}

// spanNode is a span of a trace being printed as a tree.
type spanNode struct {
	id, parent pcommon.SpanID
	service    string
	name       string
	kind       ptrace.SpanKind
	start, end uint64
	status     ptrace.Status
	orphan     bool // its parent is not in the trace
	children   []*spanNode
}

// printTraceTree prints td as a tree of its spans: each under its parent,
// children in the order they started; a span whose parent is not in the
// trace (lost, or not arrived) starts a tree of its own.
func printTraceTree(o *output, id string, td ptrace.Traces) {
	var spans []*spanNode
	byID := make(map[pcommon.SpanID]*spanNode)
	services := make(map[string]bool)
	for _, rs := range td.ResourceSpans().All() {
		service := "<unknown service>"
		if v, ok := rs.Resource().Attributes().Get("service.name"); ok {
			service = v.AsString()
		}
		services[service] = true
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				n := &spanNode{
					id: s.SpanID(), parent: s.ParentSpanID(), service: service, name: s.Name(), kind: s.Kind(),
					start: uint64(s.StartTimestamp()), end: uint64(s.EndTimestamp()), status: s.Status(),
				}
				spans = append(spans, n)
				byID[n.id] = n
			}
		}
	}
	if len(spans) == 0 {
		o.printf("trace %s has no spans\n", id)
		return
	}
	slices.SortFunc(spans, func(a, b *spanNode) int {
		return cmp.Or(cmp.Compare(a.start, b.start), bytes.Compare(a.id[:], b.id[:]))
	})
	var roots []*spanNode
	first, last := spans[0].start, spans[0].end
	for _, n := range spans {
		first, last = min(first, n.start), max(last, n.end)
		p, ok := byID[n.parent]
		switch {
		case n.parent.IsEmpty():
			roots = append(roots, n)
		case !ok || p == n:
			n.orphan = true
			roots = append(roots, n)
		default:
			p.children = append(p.children, n)
		}
	}
	o.printf("trace %s: %d spans, %d services, %s, started %s UTC\n",
		id, len(spans), len(services), roundDuration(time.Duration(last-first)), time.Unix(0, int64(first)).UTC().Format(timeLayout+".000"))
	t := newTable(0, "SPAN", "SERVICE", "KIND", "START", "DURATION", "STATUS", "SPAN ID")
	var walk func(n *spanNode, prefix, branch string)
	walk = func(n *spanNode, prefix, branch string) {
		name := prefix + branch + n.name
		if n.orphan {
			name += fmt.Sprintf(" [parent %s not in the trace]", hex.EncodeToString(n.parent[:]))
		}
		t.add(name, n.service, spanKind(n.kind), "+"+roundDuration(time.Duration(n.start-first)).String(),
			roundDuration(time.Duration(n.end-n.start)).String(), spanStatus(n.status), hex.EncodeToString(n.id[:]))
		switch branch {
		case "├─ ":
			prefix += "│  "
		case "└─ ":
			prefix += "   "
		}
		for i, child := range n.children {
			if i == len(n.children)-1 {
				walk(child, prefix, "└─ ")
			} else {
				walk(child, prefix, "├─ ")
			}
		}
	}
	for _, r := range roots {
		walk(r, "", "")
	}
	t.print(o)
}

func spanKind(k ptrace.SpanKind) string {
	if k == ptrace.SpanKindUnspecified {
		return ""
	}
	return k.String()
}

func spanStatus(s ptrace.Status) string {
	switch s.Code() {
	case ptrace.StatusCodeOk:
		return "ok"
	case ptrace.StatusCodeError:
		if s.Message() != "" {
			return "error: " + s.Message()
		}
		return "error"
	}
	return ""
}

// searchResponse is the answer of GET /api/search, the parts printed.
type searchResponse struct {
	Traces []struct {
		TraceID           string `json:"traceID"`
		RootServiceName   string `json:"rootServiceName"`
		RootTraceName     string `json:"rootTraceName"`
		StartTimeUnixNano string `json:"startTimeUnixNano"`
		DurationMs        uint32 `json:"durationMs"`
		SpanSets          []struct {
			Matched uint32 `json:"matched"`
		} `json:"spanSets"`
		ServiceStats map[string]struct {
			SpanCount  uint32 `json:"spanCount"`
			ErrorCount uint32 `json:"errorCount"`
		} `json:"serviceStats"`
	} `json:"traces"`
	Metrics struct {
		InspectedTraces uint32 `json:"inspectedTraces"`
		InspectedBytes  string `json:"inspectedBytes"`
	} `json:"metrics"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

func printSearch(o *output, r *searchResponse, limit int) {
	t := newTable(4, "TRACE ID", "START", "DURATION", "ROOT SERVICE", "ROOT NAME", "MATCHED", "SPANS", "ERRORS")
	for _, tr := range r.Traces {
		start := ""
		if ns, err := strconv.ParseInt(tr.StartTimeUnixNano, 10, 64); err == nil {
			start = time.Unix(0, ns).UTC().Format(timeLayout)
		}
		duration := "<1ms"
		if tr.DurationMs > 0 {
			duration = roundDuration(time.Duration(tr.DurationMs) * time.Millisecond).String()
		}
		var matched, spans, errs uint32
		for _, s := range tr.SpanSets {
			matched += s.Matched
		}
		for _, s := range tr.ServiceStats {
			spans += s.SpanCount
			errs += s.ErrorCount
		}
		t.add(tr.TraceID, start, duration, tr.RootServiceName, tr.RootTraceName,
			strconv.FormatUint(uint64(matched), 10), strconv.FormatUint(uint64(spans), 10), strconv.FormatUint(uint64(errs), 10))
	}
	if len(r.Traces) == 0 {
		o.printf("no trace matches\n")
	} else {
		t.print(o)
	}
	inspected, _ := strconv.ParseInt(r.Metrics.InspectedBytes, 10, 64)
	o.printf("%d traces; inspected %d traces, %s", len(r.Traces), r.Metrics.InspectedTraces, humanBytes(inspected))
	if len(r.Traces) == limit {
		o.printf("; there may be more: raise -limit")
	}
	o.printf("\n")
}

// tagNamesResponse is the answer of GET /api/v2/search/tags.
type tagNamesResponse struct {
	Scopes []struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	} `json:"scopes"`
}

func printTagNames(o *output, r *tagNamesResponse) {
	t := newTable(1, "SCOPE", "TAG")
	for _, s := range r.Scopes {
		for _, tag := range s.Tags {
			t.add(s.Name, tag)
		}
	}
	t.print(o)
}

// tagValuesResponse is the answer of GET /api/v2/search/tag/{tag}/values.
type tagValuesResponse struct {
	TagValues []struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"tagValues"`
}

func printTagValues(o *output, tag string, r *tagValuesResponse, limit int) {
	if len(r.TagValues) == 0 {
		o.printf("tag %s has no values\n", tag)
		return
	}
	t := newTable(1, "TYPE", "VALUE")
	for _, v := range r.TagValues {
		t.add(v.Type, v.Value)
	}
	t.print(o)
	if len(r.TagValues) == limit {
		o.printf("%d values; there may be more: raise -limit\n", limit)
	}
}
