package querybench

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Config configures Run.
type Config struct {
	// Endpoint is the query API's base URL, scheme included.
	// Default "http://127.0.0.1:3200".
	Endpoint string
	// Tenant is sent as the X-Scope-OrgID header (tenant.Header); empty
	// sends no header. Default "".
	Tenant string
	// Queries are the TraceQL queries to run, in this order.
	// Default DefaultQueries().
	Queries []string
	// Repeat is how many times each query runs. Default 5.
	Repeat int
	// Limit is the search's limit parameter, the most traces an answer
	// holds. Default 20, Grafana's.
	Limit int
	// SpansPerSpanSet is the search's spss parameter, the most spans an
	// answer shows per matching span set. Default 3, Grafana's.
	SpansPerSpanSet int
	// Start and End are the search's time window, sent in unix seconds as
	// Grafana does (Start rounded down, End up); a zero one is not sent.
	// Default zero, both.
	Start, End time.Time
	// RequestTimeout bounds one search; past it the query counts as
	// failed. Default 1m.
	RequestTimeout time.Duration
	// Step, when set, makes each query a TraceQL metrics query, sent to
	// /api/metrics/query_range with this step over the window, as
	// Grafana sends it; Limit and SpansPerSpanSet are not sent then.
	// Default 0: searches.
	Step time.Duration
}

// DefaultConfig returns Grafana's default search of a querier on this
// machine, five times each of DefaultQueries, over the querier's own window.
func DefaultConfig() Config {
	return Config{
		Endpoint:        "http://127.0.0.1:3200",
		Queries:         DefaultQueries(),
		Repeat:          5,
		Limit:           20,
		SpansPerSpanSet: 3,
		RequestTimeout:  time.Minute,
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	u, err := url.Parse(c.Endpoint)
	switch {
	case c.Endpoint == "":
		return errors.New("querybench: no endpoint")
	case err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return fmt.Errorf("querybench: endpoint must be an http:// or https:// URL with a host, got %q", c.Endpoint)
	case len(c.Queries) == 0:
		return errors.New("querybench: no queries")
	case c.Repeat < 1:
		return fmt.Errorf("querybench: repeat must be at least 1, got %d", c.Repeat)
	case c.Limit < 1:
		return fmt.Errorf("querybench: limit must be at least 1, got %d", c.Limit)
	case c.SpansPerSpanSet < 1:
		return fmt.Errorf("querybench: spans per span set must be at least 1, got %d", c.SpansPerSpanSet)
	case !c.Start.IsZero() && !c.End.IsZero() && !c.Start.Before(c.End):
		return fmt.Errorf("querybench: start %v must be before end %v", c.Start, c.End)
	case c.Step < 0:
		return fmt.Errorf("querybench: step must not be negative, got %v", c.Step)
	case c.RequestTimeout <= 0:
		return fmt.Errorf("querybench: request timeout must be positive, got %v", c.RequestTimeout)
	}
	for i, q := range c.Queries {
		if q == "" {
			return fmt.Errorf("querybench: query %d is empty", i+1)
		}
	}
	return nil
}
