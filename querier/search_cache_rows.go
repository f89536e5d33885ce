package querier

import (
	"bytes"
	"fmt"
	"strings"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/schema"
)

// traceRowsEntry is what the search cache keeps of a trace a search read
// whole, or checked on its filter's columns, in one block: its rows, with
// the columns and attributes the search read (see rowsKey), copied out of
// the pages' arenas so that the cache holds what it counts. Grafana's
// searches are most recent first, so the same few recent traces are read
// whole search after search: a dashboard refreshed, a query refined.
type traceRowsEntry []schema.SpanRow

// rowsKey is the search cache's key of trace id's rows in block m, read
// with the columns cols and of the attribute lists the attributes keys
// (all of them if nil).
func rowsKey(m *schema.BlockMeta, id pcommon.TraceID, cols block.Columns, keys []string) cacheKey {
	k := "*"
	if keys != nil {
		k = strings.Join(keys, "\x00")
	}
	return cacheKey{m.BlockID, fmt.Sprintf("rows %x %d %s", id[:], cols, k)}
}

// cachedRows calls found with the rows of each of ids the cache holds for
// block m, and returns the others.
func (c *searchCache) cachedRows(m *schema.BlockMeta, ids []pcommon.TraceID, cols block.Columns, keys []string, found func(pcommon.TraceID, []schema.SpanRow) error) ([]pcommon.TraceID, error) {
	var missing []pcommon.TraceID
	for _, id := range ids {
		v, ok := c.peekValue(rowsKey(m, id, cols, keys))
		if !ok {
			c.requests.WithLabelValues("miss").Inc()
			missing = append(missing, id)
			continue
		}
		if err := found(id, v.(traceRowsEntry)); err != nil {
			return nil, err
		}
	}
	return missing, nil
}

// addRows caches a copy of rows, trace id's in block m as read with cols
// and keys. Rows with events, links, scope attributes or a trace summary,
// none of which a search reads, are not kept.
func (c *searchCache) addRows(m *schema.BlockMeta, id pcommon.TraceID, cols block.Columns, keys []string, rows []schema.SpanRow) {
	if c.max == 0 {
		return
	}
	kept, n, ok := copyRows(rows)
	if ok {
		c.add(rowsKey(m, id, cols, keys), kept, n)
	}
}

// copyRows returns a copy of rows that shares no memory with them, and
// about how many bytes it takes; false if a row holds what a search does
// not read (events, links, scope attributes, a trace summary).
func copyRows(rows []schema.SpanRow) (traceRowsEntry, int64, bool) {
	out := make(traceRowsEntry, len(rows))
	n := int64(len(rows)) * int64(unsafe.Sizeof(schema.SpanRow{}))
	str := func(s string) string {
		n += int64(len(s))
		return strings.Clone(s)
	}
	attrs := func(in []schema.Attribute) []schema.Attribute {
		if in == nil {
			return nil
		}
		cp := make([]schema.Attribute, len(in))
		n += int64(len(in)) * int64(unsafe.Sizeof(schema.Attribute{}))
		for i, a := range in {
			cp[i].Key = str(a.Key)
			if a.Str != nil {
				s := str(*a.Str)
				cp[i].Str = &s
			}
			if a.Int != nil {
				v := *a.Int
				cp[i].Int = &v
			}
			if a.Double != nil {
				v := *a.Double
				cp[i].Double = &v
			}
			if a.Bool != nil {
				v := *a.Bool
				cp[i].Bool = &v
			}
			cp[i].Bytes, cp[i].Any = bytes.Clone(a.Bytes), bytes.Clone(a.Any)
			n += 8*4 + int64(len(a.Bytes)+len(a.Any))
		}
		return cp
	}
	for i := range rows {
		r := &rows[i]
		if len(r.Events) > 0 || len(r.Links) > 0 || len(r.ScopeAttrs) > 0 || r.Trace != nil {
			return nil, 0, false
		}
		o := &out[i]
		*o = *r
		o.TraceState, o.Name, o.StatusMessage = str(r.TraceState), str(r.Name), str(r.StatusMessage)
		o.ResourceSchemaURL, o.ScopeName, o.ScopeVersion, o.ScopeSchemaURL = str(r.ResourceSchemaURL), str(r.ScopeName), str(r.ScopeVersion), str(r.ScopeSchemaURL)
		o.ServiceName, o.HTTPMethod, o.HTTPURL = str(r.ServiceName), str(r.HTTPMethod), str(r.HTTPURL)
		o.Attrs, o.ResourceAttrs = attrs(r.Attrs), attrs(r.ResourceAttrs)
		o.Events, o.Links, o.ScopeAttrs = nil, nil, nil
		if r.HTTPStatusCode != nil {
			v := *r.HTTPStatusCode
			o.HTTPStatusCode = &v
			n += 8
		}
	}
	return out, n, true
}
