package api

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spanlog/spanlog/querier"
)

// API serves the query API of a querier. Create it with New and add its
// routes to a mux with RegisterRoutes.
type API struct {
	q       *querier.Querier
	logger  *slog.Logger
	metrics *metrics
}

// New returns the query API of q. Its metrics go to reg, but for the
// duration of each request, which goes to q's histogram of them (see
// querier.Querier.ObserveRequest).
func New(q *querier.Querier, logger *slog.Logger, reg prometheus.Registerer) *API {
	return &API{q: q, logger: logger, metrics: newMetrics(reg)}
}
