package generator

import (
	"encoding/hex"
	"errors"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/spanlog/spanlog/tenant"
)

// ScrapePath is where a generator serves its series for Prometheus to
// scrape, one tenant per request, named by X-Scope-OrgID as on the query
// API: the series name services and spans of a tenant, which only who
// may read its traces may read. spanlog's own /metrics stays free of
// them.
const ScrapePath = "/metrics/generator"

// RegisterRoutes adds the scrape endpoint to mux.
func (g *Generator) RegisterRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+ScrapePath, g.serveScrape)
}

func (g *Generator) serveScrape(w http.ResponseWriter, r *http.Request) {
	tenants, err := g.tenants.Read(tenant.HeaderValue(r.Header.Values(tenant.Header)))
	switch {
	case errors.Is(err, tenant.ErrMissing):
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	case len(tenants) != 1:
		http.Error(w, "the series of one tenant at a time: name one in "+tenant.Header, http.StatusBadRequest)
		return
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(&tenantCollector{g: g, tenant: tenants[0]})
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}).ServeHTTP(w, r)
}

// tenantCollector collects the published series of one tenant. It
// describes nothing, as its series are only known when collected.
type tenantCollector struct {
	g      *Generator
	tenant string
}

func (c *tenantCollector) Describe(chan<- *prometheus.Desc) {}

func (c *tenantCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.g.publishedSnapshots() {
		for i := range s.tenants[c.tenant] {
			e := &s.tenants[c.tenant][i]
			c.g.descs.collect(ch, c.g.specs[e.kind], e, s)
		}
	}
}

// descs are the descriptions of the families of each kind.
type descs [kindCount][]*prometheus.Desc

func newDescs(specs [kindCount]*kindSpec) *descs {
	var d descs
	for k, spec := range specs {
		if spec == nil {
			continue
		}
		labels := append(append([]string(nil), spec.labels...), labelPartition)
		for _, f := range spec.families {
			d[k] = append(d[k], prometheus.NewDesc(f.name, f.help, labels, nil))
		}
	}
	return &d
}

// collect sends the metrics of e, published in s.
func (d *descs) collect(ch chan<- prometheus.Metric, spec *kindSpec, e *entry, s *snapshot) {
	values := append(append(make([]string, 0, len(e.labels)+1), e.labels...), s.partition)
	for i, f := range spec.families {
		desc := d[e.kind][i]
		if !f.histogram {
			if m, err := prometheus.NewConstMetric(desc, prometheus.CounterValue, float64(f.value(e)), values...); err == nil {
				ch <- m
			}
			continue
		}
		h := &e.hists[f.hist]
		buckets := make(map[float64]uint64, len(spec.buckets))
		var cum uint64
		for j, bound := range spec.buckets {
			if j < len(h.counts) {
				cum += h.counts[j]
			}
			buckets[bound] = cum
		}
		m, err := prometheus.NewConstHistogram(desc, h.count(), h.sum, buckets, values...)
		if err != nil {
			continue
		}
		if h.exemplar.set {
			ex := prometheus.Exemplar{
				Value:     h.exemplar.value,
				Labels:    prometheus.Labels{labelTraceID: hex.EncodeToString(h.exemplar.traceID[:])},
				Timestamp: s.taken,
			}
			if withEx, err := prometheus.NewMetricWithExemplars(m, ex); err == nil {
				m = withEx
			}
		}
		ch <- m
	}
}
