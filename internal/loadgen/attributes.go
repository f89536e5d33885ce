package loadgen

import (
	"fmt"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// service is one service.name value and the resource that carries it.
type service struct {
	name     string
	resource *resource.Resource
}

func newServices(n int) []service {
	out := make([]service, n)
	for i := range out {
		name := serviceName(i)
		out[i] = service{
			name: name,
			resource: resource.NewWithAttributes(semconv.SchemaURL,
				semconv.ServiceName(name),
				semconv.ServiceNamespace("loadgen"),
				semconv.ServiceVersion("1.0.0"),
				semconv.ServiceInstanceID(name+"-0"),
				semconv.DeploymentEnvironmentNameKey.String("loadgen"),
			),
		}
	}
	return out
}

// serviceName gives the first services the names of a small shop, so that
// searches and service graphs read like real ones.
func serviceName(i int) string {
	names := [...]string{"frontend", "checkout", "cart", "payment", "inventory",
		"shipping", "auth", "search", "recommendation", "email"}
	if i < len(names) {
		return names[i]
	}
	return fmt.Sprintf("%s-%d", names[i%len(names)], i/len(names))
}

// call is the HTTP exchange behind a client span and the server span that
// answers it, or the operation of an internal span.
type call struct {
	method    string
	route     string
	path      string
	status    int
	callee    int
	operation int
}

// call picks an HTTP exchange: mostly reads, about 7% server errors and 3%
// not found.
func (b *traceBuilder) call() call {
	routes := [...]string{"/", "/api/orders", "/api/orders/{id}", "/api/cart",
		"/api/products/{id}", "/api/search", "/api/users/{id}/profile", "/health"}
	c := call{route: routes[b.rng.IntN(len(routes))]}
	switch r := b.rng.IntN(100); {
	case r < 70:
		c.method = "GET"
	case r < 90:
		c.method = "POST"
	case r < 95:
		c.method = "PUT"
	default:
		c.method = "DELETE"
	}
	c.path = strings.Replace(c.route, "{id}", strconv.Itoa(b.rng.IntN(10_000)), 1)
	switch r := b.rng.IntN(100); {
	case r < 5:
		c.status = 500
	case r < 7:
		c.status = 503
	case r < 10:
		c.status = 404
	default:
		c.status = 200
	}
	return c
}

// Internal spans are either a database query or some local work.
const operationCount = 6

func (n *node) operationName() string {
	return [operationCount]string{"SELECT orders", "SELECT products", "UPDATE cart",
		"render page", "validate request", "serialize response"}[n.call.operation]
}

func (n *node) isQuery() bool { return n.call.operation < 3 }

// describe gives span s its name, attributes, status and event, the
// attributes appended to out.attrs.
func (b *traceBuilder) describe(s *span, n *node, out *batch) {
	self := b.services[n.service].name
	sem := b.scratch[:0]
	switch n.kind {
	case trace.SpanKindServer:
		s.name = n.call.method + " " + n.call.route
		sem = append(sem,
			semconv.HTTPRequestMethodKey.String(n.call.method),
			semconv.HTTPRoute(n.call.route),
			semconv.HTTPResponseStatusCode(n.call.status),
			semconv.URLPath(n.call.path),
			semconv.URLScheme("http"),
			semconv.ServerAddress(self),
			semconv.ServerPort(8080),
			semconv.UserAgentOriginal("spanlog-loadgen"),
		)
		if n.call.status >= 500 {
			s.status, s.statusMessage = codes.Error, strconv.Itoa(n.call.status)+" from "+self
		}
	case trace.SpanKindClient:
		callee := b.services[n.call.callee].name
		s.name = n.call.method
		sem = append(sem,
			semconv.HTTPRequestMethodKey.String(n.call.method),
			semconv.HTTPResponseStatusCode(n.call.status),
			semconv.URLFull("http://"+callee+":8080"+n.call.path),
			semconv.ServerAddress(callee),
			semconv.ServerPort(8080),
			semconv.NetworkProtocolVersion("1.1"),
		)
		if n.call.status >= 400 {
			s.status, s.statusMessage = codes.Error, strconv.Itoa(n.call.status)+" from "+callee
		}
	default:
		s.name = n.operationName()
		if n.isQuery() {
			op, table, _ := strings.Cut(s.name, " ")
			sem = append(sem,
				semconv.DBSystemNamePostgreSQL,
				semconv.DBOperationName(op),
				semconv.DBCollectionName(table),
				semconv.DBQueryText(s.name+" WHERE id = $1"),
			)
		} else {
			sem = append(sem, semconv.CodeFunctionName(s.name))
		}
		if b.rng.IntN(100) < 2 {
			s.status, s.statusMessage = codes.Error, s.name+" failed"
		}
	}
	b.scratch = sem
	s.attrs = b.attributes(out, sem)
	s.event = b.event(out, s, n)
}

// attributes appends exactly the configured number of attributes to
// out.attrs and returns them: the semantic ones first, then generic ones of
// every value type.
func (b *traceBuilder) attributes(batch *batch, sem []attribute.KeyValue) []attribute.KeyValue {
	if b.attrs == 0 {
		return nil
	}
	from := len(batch.attrs)
	out := append(batch.attrs, sem[:min(len(sem), b.attrs)]...)
	for i := len(out) - from; i < b.attrs; i++ {
		k := b.fillKeys[i]
		switch i % 4 {
		case 0:
			out = append(out, k.String(b.fillValues[b.rng.IntN(len(b.fillValues))]))
		case 1:
			out = append(out, k.Int64(b.rng.Int64N(1_000_000)))
		case 2:
			out = append(out, k.Float64(b.rng.Float64()*1000))
		default:
			out = append(out, k.Bool(b.rng.IntN(2) == 0))
		}
	}
	batch.attrs = out
	return out[from:len(out):len(out)]
}

// fillKeys names the generic attributes once per worker rather than once
// per span.
func fillKeys(n int) []attribute.Key {
	keys := make([]attribute.Key, n)
	for i := range keys {
		keys[i] = attribute.Key("loadgen.attr." + strconv.Itoa(i))
	}
	return keys
}

// fillValues are the values of the generic string attributes, made once
// per worker: few distinct ones, so that tag-value lists stay readable.
func fillValues() []string {
	values := make([]string, 100)
	for i := range values {
		values[i] = "value-" + strconv.Itoa(i)
	}
	return values
}

// event gives a failed span the exception event an instrumentation library
// records, and one span in ten a cache miss; its attributes are appended
// to out.attrs.
func (b *traceBuilder) event(out *batch, s *span, n *node) event {
	from := len(out.attrs)
	var e event
	switch {
	case s.status == codes.Error:
		e = event{name: "exception", time: n.end}
		out.attrs = append(out.attrs,
			semconv.ExceptionType("loadgen.Error"),
			semconv.ExceptionMessage(s.statusMessage),
		)
	case b.rng.IntN(10) == 0:
		e = event{name: "cache.miss", time: n.start.Add(n.end.Sub(n.start) / 2)}
		out.attrs = append(out.attrs, attribute.String("cache.key", "key-"+strconv.Itoa(b.rng.IntN(1000))))
	default:
		return event{}
	}
	e.attrs = out.attrs[from:len(out.attrs):len(out.attrs)]
	return e
}
