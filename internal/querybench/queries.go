package querybench

// DefaultQueries are the searches of issue 11's table, each worded for the
// traces internal/loadgen sends with 10 services and its default
// attributes, and each, but the last, matching at least 20 traces of the
// 1.4 million spans make bench-search-workload loads:
//
//   - everything;
//   - one service of the ten;
//   - errors: 5xx on servers, 4xx and 5xx on clients, 2% of internal spans;
//   - errors that took long;
//   - a span attribute equality: loadgen writes the stable semantic
//     conventions' http.response.status_code, not http.status_code;
//   - a span attribute regex matching a small fraction: client spans'
//     url.full holds http://<service>:8080<path>, and ids run from 0 to
//     9999, so this matches 11 products in 10,000 on one route in 8
//     (issue 11's ".*/item/1234.*" would match too few traces here);
//   - a name and kind conjunction: server spans are named "<method>
//     <route>";
//   - a structural query;
//   - a span set aggregate: every trace has 10 spans;
//   - a trace intrinsic that matches nothing, since loadgen's traces last
//     at most 2s: what it costs to rule every trace out.
func DefaultQueries() []string {
	return []string{
		`{}`,
		`{resource.service.name="cart"}`,
		`{status=error}`,
		`{status=error && duration>100ms}`,
		`{span.http.response.status_code=500}`,
		`{span.url.full=~".*/api/products/123.*"}`,
		`{name="POST /api/orders" && kind=server}`,
		`{resource.service.name="frontend"} >> {status=error}`,
		`{} | count() > 9`,
		`{traceDuration>2s}`,
	}
}

// DrilldownQueries are the TraceQL metrics queries Grafana Traces
// Drilldown sends for its default views, over root spans with no filter:
// rate, errors, the duration's 90th percentile and heatmap, the breakdown
// by service, and the comparison of errors with the rest.
func DrilldownQueries() []string {
	return []string{
		`{nestedSetParent<0 && true} | rate()`,
		`{nestedSetParent<0 && true && status=error} | rate()`,
		`{nestedSetParent<0 && true} | quantile_over_time(duration, 0.9)`,
		`{nestedSetParent<0 && true} | histogram_over_time(duration)`,
		`{nestedSetParent<0 && true && resource.service.name != nil} | rate() by(resource.service.name) with(sample=true)`,
		`{nestedSetParent<0 && true} | compare({status = error}, 10)`,
	}
}
