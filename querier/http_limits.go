package querier

import (
	"net/http"
)

// queryRetryAfter is the retry hint of a request refused for concurrency:
// a query usually takes less.
const queryRetryAfter = "1"

// limited serves h within the max-concurrent-queries of the request's
// tenants.
func (q *Querier) limited(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		tenants, err := q.readTenants(r)
		if err != nil {
			return err
		}
		release, err := q.Admit(tenants)
		if err != nil {
			return err
		}
		defer release()
		return h(w, r)
	}
}
