package blocktest

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/schema"
)

// The services of a small shop. A third of them are instrumented with the
// HTTP semantic conventions before v1.23 (http.method, http.status_code,
// http.url), as fleets are, so searches see both generations of names.
var services = [...]string{"frontend", "api-gateway", "checkout", "cart",
	"payment", "inventory", "shipping", "auth", "search", "recommendation",
	"email", "currency"}

// instancesPerService is how many pods each service runs; each has its own
// resource.
const instancesPerService = 3

func legacyHTTP(service int) bool { return service%3 == 2 }

var languages = [...]string{"go", "java", "python", "nodejs"}

// Spans per trace are uniform in [minTraceSpans, maxTraceSpans]: a mean of 10.
const (
	minTraceSpans  = 3
	maxTraceSpans  = 17
	meanTraceSpans = (minTraceSpans + maxTraceSpans) / 2
)

// Root spans last between these, log-uniformly: most requests are fast, a
// good share takes over 100ms.
const (
	minRootDuration = 2 * time.Millisecond
	maxRootDuration = 2500 * time.Millisecond
)

type spanKind int

const (
	kindServer spanKind = iota
	kindClient          // an HTTP call; its one child is the callee's server span
	kindDB              // a database query, a client span without a child
	kindInternal
)

// genSpan is a span being laid out: the tree is built first, so errors
// can travel up from callee to caller before any span is written.
type genSpan struct {
	id, parentID pcommon.SpanID
	parent       int
	kind         spanKind
	service      int
	start, end   time.Time
	status       int // HTTP status of server and client spans
	method       string
	route        string
	target       int // the callee of a client span
	operation    int
	failed       bool
}

// traceGen lays out one trace from its own random stream, so any trace of
// a dataset can be built without building the ones before it.
type traceGen struct {
	rng   *rand.Rand
	spans []genSpan
}

// traceRNG returns the random stream of trace i of cycle c.
func traceRNG(seed uint64, c, i int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(c)<<32|uint64(i)))
}

// traceID draws the ID of a trace; it is the first thing drawn from the
// trace's stream, so partitioning needs nothing else.
func traceID(rng *rand.Rand) pcommon.TraceID {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[:8], rng.Uint64())
	binary.BigEndian.PutUint64(id[8:], rng.Uint64()|1) // never all zero
	return id
}

// genTrace builds the trace whose ID was just drawn from rng, starting at
// start, and adds its numbers to st.
func genTrace(rng *rand.Rand, id pcommon.TraceID, start time.Time, st *Stats) ptrace.Traces {
	g := traceGen{rng: rng}
	g.layout(start)
	return g.traces(id, st)
}

func (g *traceGen) layout(start time.Time) {
	n := minTraceSpans + g.rng.IntN(maxTraceSpans-minTraceSpans+1)
	root := genSpan{parent: -1, kind: kindServer, service: g.rootService(), start: start}
	root.end = start.Add(g.rootDuration())
	g.call(&root)
	g.spans = append(g.spans[:0], root)
	for len(g.spans) < n {
		p := g.pickParent()
		switch r := g.rng.IntN(100); {
		case r < 45 && len(g.spans)+2 <= n:
			g.addCall(p)
		case r < 75:
			g.addChild(p, kindDB)
		default:
			g.addChild(p, kindInternal)
		}
	}
	for i := range g.spans {
		g.spans[i].id = g.spanID()
	}
	for i := range g.spans {
		if p := g.spans[i].parent; p >= 0 {
			g.spans[i].parentID = g.spans[p].id
		}
	}
	g.propagateErrors()
}

// rootService is where requests enter: the frontend or the API gateway.
func (g *traceGen) rootService() int {
	if g.rng.IntN(10) < 7 {
		return 0
	}
	return 1
}

func (g *traceGen) rootDuration() time.Duration {
	lo, hi := math.Log(float64(minRootDuration)), math.Log(float64(maxRootDuration))
	return time.Duration(math.Exp(lo + g.rng.Float64()*(hi-lo)))
}

// pickParent picks a server or internal span: client spans have exactly
// one child, their callee's server span, and queries have none.
func (g *traceGen) pickParent() int {
	for {
		p := g.rng.IntN(len(g.spans))
		if k := g.spans[p].kind; k == kindServer || k == kindInternal {
			return p
		}
	}
}

// window returns a random part of parent p's time for a child.
func (g *traceGen) window(p int) (time.Time, time.Time) {
	ps := &g.spans[p]
	d := ps.end.Sub(ps.start)
	start := ps.start.Add(time.Duration(g.rng.Float64() * 0.4 * float64(d)))
	left := ps.end.Sub(start)
	end := start.Add(max(time.Duration((0.05+0.85*g.rng.Float64())*float64(left)), time.Microsecond))
	return start, end
}

func (g *traceGen) addChild(p int, kind spanKind) {
	s := genSpan{parent: p, kind: kind, service: g.spans[p].service, operation: g.rng.IntN(len(operations))}
	s.start, s.end = g.window(p)
	switch kind {
	case kindDB:
		s.failed = g.rng.IntN(1000) < 15
	case kindInternal:
		s.failed = g.rng.IntN(1000) < 4
	}
	g.spans = append(g.spans, s)
}

// addCall adds an HTTP call from p's service to another: a client span
// and, inside it, the callee's server span.
func (g *traceGen) addCall(p int) {
	caller := g.spans[p].service
	callee := (caller + 1 + g.rng.IntN(len(services)-1)) % len(services)
	c := genSpan{parent: p, kind: kindClient, service: caller, target: callee}
	c.start, c.end = g.window(p)
	g.call(&c)
	g.spans = append(g.spans, c)
	d := c.end.Sub(c.start)
	srv := c
	srv.parent, srv.kind, srv.service = len(g.spans)-1, kindServer, callee
	srv.start = c.start.Add(time.Duration(g.rng.Float64() * 0.05 * float64(d)))
	srv.end = c.end.Add(-time.Duration(g.rng.Float64() * 0.05 * float64(d)))
	g.spans = append(g.spans, srv)
}

var routes = [...]string{"/", "/api/orders", "/api/orders/{id}", "/api/cart",
	"/api/products/{id}", "/api/search", "/api/users/{id}/profile", "/api/checkout",
	"/health"}

// call picks a request and its outcome: 3% client errors, 3% server errors.
func (g *traceGen) call(s *genSpan) {
	s.route = routes[g.rng.IntN(len(routes))]
	switch r := g.rng.IntN(100); {
	case r < 70:
		s.method = "GET"
	case r < 90:
		s.method = "POST"
	case r < 96:
		s.method = "PUT"
	default:
		s.method = "DELETE"
	}
	switch r := g.rng.IntN(1000); {
	case r < 18:
		s.status = 500
	case r < 24:
		s.status = 502
	case r < 30:
		s.status = 503
	case r < 40:
		s.status = 400
	case r < 55:
		s.status = 404
	case r < 60:
		s.status = 429
	case r < 100:
		s.status = 201
	case r < 130:
		s.status = 204
	default:
		s.status = 200
	}
	s.failed = s.status >= 500
}

// propagateErrors makes a failed server span fail its client span, and a
// failed call fail the server span that made it half of the time, walking
// children before parents (children come after their parents).
func (g *traceGen) propagateErrors() {
	for i := len(g.spans) - 1; i > 0; i-- {
		s := &g.spans[i]
		p := &g.spans[s.parent]
		switch {
		case s.kind == kindServer && p.kind == kindClient:
			p.status, p.failed = s.status, s.failed
		case s.kind == kindClient && s.failed && p.kind == kindServer && !p.failed && g.rng.IntN(2) == 0:
			p.status, p.failed = 500, true
		}
	}
}

func (g *traceGen) spanID() pcommon.SpanID {
	var id pcommon.SpanID
	binary.BigEndian.PutUint64(id[:], g.rng.Uint64()|1)
	return id
}

var operations = [...]struct{ db, table, op, function string }{
	{"postgresql", "orders", "SELECT", "OrderRepository.find"},
	{"postgresql", "products", "SELECT", "ProductCatalog.lookup"},
	{"postgresql", "carts", "UPDATE", "CartStore.save"},
	{"redis", "sessions", "GET", "SessionCache.get"},
	{"redis", "rates", "GET", "RateLimiter.allow"},
	{"postgresql", "payments", "INSERT", "PaymentLedger.record"},
}

// traces turns the laid-out spans into OTLP, one resource per service
// instance and one scope per instrumentation library, as an SDK exports
// them.
func (g *traceGen) traces(id pcommon.TraceID, st *Stats) ptrace.Traces {
	td := ptrace.NewTraces()
	instance := make(map[int]int)
	scopes := make(map[[2]int]ptrace.SpanSlice)
	for i := range g.spans {
		s := &g.spans[i]
		inst, ok := instance[s.service]
		if !ok {
			inst = g.rng.IntN(instancesPerService)
			instance[s.service] = inst
		}
		lib := scopeOf(s.kind)
		key := [2]int{s.service, lib}
		spans, ok := scopes[key]
		if !ok {
			var rs ptrace.ResourceSpans
			for j := range td.ResourceSpans().Len() {
				r := td.ResourceSpans().At(j)
				if v, _ := r.Resource().Attributes().Get(schema.KeyServiceName); v.Str() == services[s.service] {
					rs = r
				}
			}
			if rs == (ptrace.ResourceSpans{}) {
				rs = td.ResourceSpans().AppendEmpty()
				setResource(rs.Resource().Attributes(), s.service, inst)
				rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
			}
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName(scopeNames[lib])
			ss.Scope().SetVersion("0.63.0")
			spans = ss.Spans()
			scopes[key] = spans
		}
		g.span(spans.AppendEmpty(), id, s)
		st.add(s)
	}
	st.Traces++
	return td
}

func setResource(a pcommon.Map, service, inst int) {
	name := services[service]
	pod := fmt.Sprintf("%s-%08x-%d", name, uint32(service*2654435761), inst)
	a.PutStr(schema.KeyServiceName, name)
	a.PutStr("service.namespace", "shop")
	a.PutStr("service.version", fmt.Sprintf("1.%d.%d", service%4, inst))
	a.PutStr("service.instance.id", pod)
	a.PutStr("deployment.environment.name", "production")
	a.PutStr("host.name", fmt.Sprintf("node-%d", (service+inst)%7))
	a.PutStr("k8s.namespace.name", "shop")
	a.PutStr("k8s.deployment.name", name)
	a.PutStr("k8s.pod.name", pod)
	a.PutStr("cloud.region", "eu-west-1")
	a.PutStr("telemetry.sdk.name", "opentelemetry")
	a.PutStr("telemetry.sdk.language", languages[service%len(languages)])
	a.PutStr("telemetry.sdk.version", "1.38.0")
}

const (
	scopeHTTP = iota
	scopeDB
	scopeApp
)

var scopeNames = [...]string{
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
	"github.com/XSAM/otelsql",
	"shop/app",
}

func scopeOf(k spanKind) int {
	switch k {
	case kindServer, kindClient:
		return scopeHTTP
	case kindDB:
		return scopeDB
	}
	return scopeApp
}

// span fills sp from s with the attributes its instrumentation sets.
func (g *traceGen) span(sp ptrace.Span, id pcommon.TraceID, s *genSpan) {
	sp.SetTraceID(id)
	sp.SetSpanID(s.id)
	sp.SetParentSpanID(s.parentID)
	sp.SetFlags(1)
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(s.start))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(s.end))
	a := sp.Attributes()
	legacy := legacyHTTP(s.service)
	path := strings.Replace(s.route, "{id}", strconv.Itoa(g.rng.IntN(100_000)), 1)
	switch s.kind {
	case kindServer:
		sp.SetKind(ptrace.SpanKindServer)
		sp.SetName(s.method + " " + s.route)
		if legacy {
			a.PutStr("http.method", s.method)
			a.PutInt("http.status_code", int64(s.status))
			a.PutStr("http.target", path)
			a.PutStr("http.scheme", "http")
			a.PutStr("net.host.name", services[s.service])
			a.PutStr("http.user_agent", "shop-client/2.1")
		} else {
			a.PutStr("http.request.method", s.method)
			a.PutInt("http.response.status_code", int64(s.status))
			a.PutStr("url.path", path)
			a.PutStr("url.scheme", "http")
			a.PutStr("server.address", services[s.service])
			a.PutStr("user_agent.original", "shop-client/2.1")
		}
		a.PutStr("http.route", s.route)
		a.PutStr("client.address", fmt.Sprintf("10.%d.%d.%d", g.rng.IntN(4), g.rng.IntN(256), g.rng.IntN(256)))
		a.PutInt("server.port", 8080)
		if s.failed {
			g.fail(sp, fmt.Sprintf("%d %s", s.status, s.route))
		}
	case kindClient:
		sp.SetKind(ptrace.SpanKindClient)
		sp.SetName(s.method)
		url := "http://" + services[s.target] + ":8080" + path
		if legacy {
			a.PutStr("http.method", s.method)
			a.PutInt("http.status_code", int64(s.status))
			a.PutStr("http.url", url)
			a.PutStr("net.peer.name", services[s.target])
		} else {
			a.PutStr("http.request.method", s.method)
			a.PutInt("http.response.status_code", int64(s.status))
			a.PutStr("url.full", url)
			a.PutStr("server.address", services[s.target])
		}
		a.PutInt("server.port", 8080)
		a.PutStr("network.protocol.version", "1.1")
		if s.failed {
			g.fail(sp, fmt.Sprintf("%d from %s", s.status, services[s.target]))
		}
	case kindDB:
		op := operations[s.operation]
		sp.SetKind(ptrace.SpanKindClient)
		sp.SetName(op.op + " " + op.table)
		a.PutStr("db.system.name", op.db)
		a.PutStr("db.operation.name", op.op)
		a.PutStr("db.collection.name", op.table)
		a.PutStr("db.query.text", op.op+" * FROM "+op.table+" WHERE id = $1")
		a.PutStr("server.address", op.db+"."+op.table)
		if s.failed {
			g.fail(sp, "connection reset by peer")
		}
	default:
		op := operations[s.operation]
		sp.SetKind(ptrace.SpanKindInternal)
		sp.SetName(op.function)
		a.PutStr("code.function.name", op.function)
		a.PutInt("app.items", int64(g.rng.IntN(50)))
		a.PutBool("app.cache_hit", g.rng.IntN(3) == 0)
		if s.failed {
			g.fail(sp, "invalid state")
		}
	}
}

// fail marks sp as an error with the exception event SDKs record.
func (g *traceGen) fail(sp ptrace.Span, msg string) {
	sp.Status().SetCode(ptrace.StatusCodeError)
	sp.Status().SetMessage(msg)
	ev := sp.Events().AppendEmpty()
	ev.SetTimestamp(sp.EndTimestamp())
	ev.SetName("exception")
	ev.Attributes().PutStr("exception.type", "shop.Error")
	ev.Attributes().PutStr("exception.message", msg)
}
