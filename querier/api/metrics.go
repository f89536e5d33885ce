package api

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	// batchTraces counts the IDs batch requests asked for, by whether a
	// trace was found.
	batchTraces *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		batchTraces: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spanlog_querier_batch_traces_total",
			Help: "Trace IDs looked up by batch requests that ran to the end, by result (found, not_found).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.batchTraces)
	return m
}
