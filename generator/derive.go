package generator

import (
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spanlog/spanlog/schema"
)

// deriver turns the spans of records into the entries of a partition's
// state. It is not safe for concurrent use: one consuming loop owns it.
type deriver struct {
	specs [kindCount]*kindSpec // nil for a kind not derived
	// spanDims are the attribute keys of the span metrics' dimensions.
	spanDims []string
	stale    int64 // StaleSeriesTimeout in nanoseconds
	// The service graph's settings, times in nanoseconds.
	wait      int64
	maxItems  int
	peerAttrs []string
	// maxSeries returns a tenant's max-active-series in one partition;
	// 0 is no limit.
	maxSeries func(tenant string) int
	limited   *limitReporter
	// attrKeys are the attributes the deriver reads, all others being
	// left out of the rows it is given (see keeps).
	attrKeys keySet

	key  []byte   // scratch: an entry's key
	vals []string // scratch: an entry's label values
	// own copies the strings of the rows the deriver keeps (an entry's
	// labels, a waiting half's names): the rows' strings are the
	// record's memory (see recordReader).
	own schema.Interner
}

func newDeriver(cfg Config, maxSeries func(string) int, limited *limitReporter) *deriver {
	d := &deriver{
		stale:     cfg.StaleSeriesTimeout.Nanoseconds(),
		maxSeries: maxSeries,
		limited:   limited,
	}
	if cfg.SpanMetrics.Enabled {
		d.specs[kindSpan] = spanKindSpec(cfg.SpanMetrics)
		d.spanDims = cfg.SpanMetrics.Dimensions
	}
	if sg := cfg.ServiceGraph; sg.Enabled {
		d.specs[kindEdge] = edgeKindSpec(sg)
		d.specs[kindUnpaired] = counterKindSpec(metricGraphUnpaired, "Halves of requests (client or server spans) that found no other within the wait.")
		d.specs[kindDropped] = counterKindSpec(metricGraphDropped, "Halves of requests dropped because the store of those waiting was full.")
		d.wait = sg.Wait.Nanoseconds()
		d.maxItems = sg.MaxItems
		d.peerAttrs = sg.PeerAttributes
	}
	for _, keys := range [][]string{d.spanDims, d.peerAttrs, databaseKeys()} {
		for _, k := range keys {
			d.attrKeys.add(k)
		}
	}
	return d
}

// keeps reports whether the deriver reads the attribute key: the
// generator decodes records keeping those alone (schema.RowDecoder.Lean),
// which spares it most of a span's attributes.
func (d *deriver) keeps(key []byte) bool { return d.attrKeys.has(key) }

// keySet is a small set of attribute keys. It is asked about every
// attribute of every span, most of which it does not hold, so it looks
// only at the keys of the same length, and at their last byte before the
// rest.
type keySet struct {
	byLen [64][]string // keys of 63 bytes and more under 63
}

func (s *keySet) add(key string) {
	n := min(len(key), 63)
	if !slices.Contains(s.byLen[n], key) {
		s.byLen[n] = append(s.byLen[n], key)
	}
}

func (s *keySet) has(key []byte) bool {
	for _, k := range s.byLen[min(len(key), 63)] {
		if (len(k) == 0 || k[len(k)-1] == key[len(key)-1]) && string(key) == k {
			return true
		}
	}
	return false
}

// cost returns the series an entry of kind k makes.
func (d *deriver) cost(k kind) int { return d.specs[k].series() }

// apply counts the spans of one record of tenant, stamped ts (Unix
// nanoseconds), at offset of p.
func (d *deriver) apply(p *partitionState, tenant string, rows []schema.SpanRow, ts, offset int64) {
	p.logTime = max(p.logTime, ts)
	p.sweep(d.stale, d.cost)
	if d.specs[kindEdge] != nil {
		d.expire(p)
	}
	if len(rows) > 0 {
		t := p.tenant(tenant)
		for i := range rows {
			if d.specs[kindSpan] != nil {
				d.spanMetrics(t, tenant, &rows[i], p.logTime)
			}
			if d.specs[kindEdge] != nil {
				d.serviceGraph(t, tenant, &rows[i], p.logTime)
			}
		}
	}
	p.offset = offset + 1
	p.saved = false
}

// expire resolves the halves of every tenant of p that waited longer than
// the wait, each time the log time enters a new eighth of it: a half waits
// from the wait to an eighth more, depending on the records alone.
func (d *deriver) expire(p *partitionState) {
	period := max(d.wait/8, 1)
	if p.logTime/period == p.expiredAt {
		return
	}
	p.expiredAt = p.logTime / period
	for id, t := range p.tenants {
		d.expireHalves(t, id, p.logTime)
	}
}

func (d *deriver) spanMetrics(t *tenantState, tenant string, r *schema.SpanRow, now int64) {
	d.vals = append(d.vals[:0], r.ServiceName, r.Name, spanKindName(r.Kind), statusCodeName(r.StatusCode))
	for _, key := range d.spanDims {
		d.vals = append(d.vals, attrValue(r, key))
	}
	e := d.entry(t, tenant, kindSpan, now)
	if e == nil {
		return
	}
	e.count++
	e.hists[0].observe(d.specs[kindSpan].buckets, seconds(r.DurationNano), r.TraceID)
}

// entry returns the entry of kind k with the label values in d.vals,
// created if the tenant's limit allows; nil if it does not.
func (d *deriver) entry(t *tenantState, tenant string, k kind, now int64) *entry {
	d.key = appendKey(d.key[:0], k, d.vals)
	if e := t.entries[string(d.key)]; e != nil {
		e.lastSeen = now
		return e
	}
	spec := d.specs[k]
	cost := spec.series()
	if limit := d.maxSeries(tenant); limit > 0 && t.active+cost > limit {
		d.limited.report(tenant, limit)
		return nil
	}
	e := newEntry(spec.histograms())
	e.kind = k
	e.labels = make([]string, len(d.vals))
	for i, v := range d.vals {
		e.labels[i] = d.own.String(v)
	}
	e.lastSeen = now
	e.fresh = true
	t.entries[string(d.key)] = e
	t.active += cost
	return e
}

// seconds returns a span duration in seconds; a negative one, of a span
// that ends before it starts, is 0.
func seconds(nanos int64) float64 {
	return float64(max(nanos, 0)) / 1e9
}

// spanKindName returns the OTLP name of a span kind, as Tempo labels it.
func spanKindName(k int32) string {
	switch k {
	case 0:
		return "SPAN_KIND_UNSPECIFIED"
	case 1:
		return "SPAN_KIND_INTERNAL"
	case 2:
		return "SPAN_KIND_SERVER"
	case 3:
		return "SPAN_KIND_CLIENT"
	case 4:
		return "SPAN_KIND_PRODUCER"
	case 5:
		return "SPAN_KIND_CONSUMER"
	}
	return "SPAN_KIND_" + strconv.Itoa(int(k))
}

// statusCodeName returns the OTLP name of a status code, as Tempo labels
// it.
func statusCodeName(c int32) string {
	switch c {
	case 0:
		return "STATUS_CODE_UNSET"
	case 1:
		return "STATUS_CODE_OK"
	case 2:
		return "STATUS_CODE_ERROR"
	}
	return "STATUS_CODE_" + strconv.Itoa(int(c))
}

// attrValue returns the value of attribute key of the span, or else of
// its resource, as a label value: "" when neither has it, or has it as
// bytes, an array or a map.
func attrValue(r *schema.SpanRow, key string) string {
	if v, ok := findAttr(r.Attrs, key); ok {
		return v
	}
	v, _ := findAttr(r.ResourceAttrs, key)
	return v
}

func findAttr(attrs []schema.Attribute, key string) (string, bool) {
	for i := range attrs {
		a := &attrs[i]
		if a.Key != key {
			continue
		}
		switch {
		case a.Str != nil:
			return *a.Str, true
		case a.Int != nil:
			return strconv.FormatInt(*a.Int, 10), true
		case a.Double != nil:
			return strconv.FormatFloat(*a.Double, 'g', -1, 64), true
		case a.Bool != nil:
			return strconv.FormatBool(*a.Bool), true
		}
		return "", false
	}
	return "", false
}

// limitReporter counts the spans a tenant's max-active-series kept out of
// the series, and logs it at most once a minute per tenant.
type limitReporter struct {
	discarded *prometheus.CounterVec
	logger    *slog.Logger
	now       func() time.Time

	mu     sync.Mutex
	logged map[string]time.Time
}

// limitLogInterval is how often at most a tenant's limit is logged.
const limitLogInterval = time.Minute

func (l *limitReporter) report(tenant string, limit int) {
	l.discarded.WithLabelValues(tenant, reasonMaxActiveSeries).Inc()
	now := l.now()
	l.mu.Lock()
	last, ok := l.logged[tenant]
	log := !ok || now.Sub(last) >= limitLogInterval
	if log {
		l.logged[tenant] = now
	}
	l.mu.Unlock()
	if log {
		l.logger.Warn("a tenant's series reached its max-active-series in a partition: spans of new series are not counted; the counter spanlog_metrics_generator_spans_discarded_total counts them (logged at most once a minute per tenant)",
			"tenant", tenant, "limit", limit)
	}
}
