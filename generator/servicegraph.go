package generator

import (
	"github.com/spanlog/spanlog/schema"
)

// The service graph: a request between two services is a client span and
// the server span whose parent it is (a producer span and its consumer's,
// across a messaging system), and an edge counts such requests. Both
// halves are in one partition: the distributor partitions by tenant and
// trace ID, and a client span and its server span share their trace. So
// a generator pairs them alone, whatever the partitions' owners, and the
// halves wait for each other in the partition's state, saved with it.
//
// A client span calling a database (db.system, db.name or db.namespace
// set) is an edge to the database as a node of its own at once, named by
// the first of peer.service, server.address, network.peer.address[:port],
// db.namespace, db.name, db.system. A server span without a parent was
// called by no traced client: it is an edge from "user" at once. A half
// that waited metrics-generator.service-graph.wait of log time is
// unpaired: a client span naming its peer (peer-attributes) is an edge to
// that peer as a virtual node, and any other is counted in
// traces_service_graph_unpaired_spans_total.

// Connection types, the values of the connection_type label, as Tempo's.
const (
	connDirect    = ""
	connMessaging = "messaging_system"
	connDatabase  = "database"
	connVirtual   = "virtual_node"
)

// userNode is the client of a root server span.
const userNode = "user"

const (
	metricGraphRequests = "traces_service_graph_request_total"
	metricGraphFailed   = "traces_service_graph_request_failed_total"
	metricGraphServer   = "traces_service_graph_request_server_seconds"
	metricGraphClient   = "traces_service_graph_request_client_seconds"
	metricGraphUnpaired = "traces_service_graph_unpaired_spans_total"
	metricGraphDropped  = "traces_service_graph_dropped_spans_total"
)

// serviceGraphLabels are the labels of every service graph series.
var serviceGraphLabels = []string{"client", "server", "connection_type"}

func edgeKindSpec(cfg ServiceGraphConfig) *kindSpec {
	return &kindSpec{
		labels:  serviceGraphLabels,
		buckets: cfg.HistogramBuckets,
		families: []family{
			{name: metricGraphRequests, help: "Requests between two services.", value: func(e *entry) uint64 { return e.count }},
			{name: metricGraphFailed, help: "Requests between two services where either span failed.", value: func(e *entry) uint64 { return e.failed }},
			{name: metricGraphServer, help: "Durations of the requests' server spans, in seconds.", histogram: true, hist: 0},
			{name: metricGraphClient, help: "Durations of the requests' client spans, in seconds.", histogram: true, hist: 1},
		},
	}
}

func counterKindSpec(name, help string) *kindSpec {
	return &kindSpec{
		labels:   serviceGraphLabels,
		families: []family{{name: name, help: help, value: func(e *entry) uint64 { return e.count }}},
	}
}

// half is a span of a request waiting for its other half.
type half struct {
	key      edgeKey
	client   bool // a client or producer span, else a server or consumer one
	service  string
	conn     string // connDirect or connMessaging
	seconds  float64
	failed   bool
	peer     string // a client's peer-attributes value, "" if none
	arrived  int64  // log time
	resolved bool   // paired or expired, left in the queue
}

// edgeKey is a request's trace ID and the client span's ID, which is
// the server span's parent.
type edgeKey [24]byte

func makeKey(traceID [16]byte, spanID [8]byte) edgeKey {
	var k edgeKey
	copy(k[:16], traceID[:])
	copy(k[16:], spanID[:])
	return k
}

// edgeStore holds a tenant's halves waiting in one partition, in the order
// they came, which is the order of their log times.
type edgeStore struct {
	byKey map[edgeKey]*half
	queue []*half // from head on; resolved ones are skipped
	head  int
}

func (s *edgeStore) len() int { return len(s.byKey) }

func (s *edgeStore) add(h *half) {
	if s.byKey == nil {
		s.byKey = make(map[edgeKey]*half)
	}
	s.byKey[h.key] = h
	s.queue = append(s.queue, h)
}

func (s *edgeStore) take(k edgeKey) *half {
	h := s.byKey[k]
	if h != nil {
		delete(s.byKey, k)
		h.resolved = true
	}
	return h
}

// expire removes, oldest first, the halves that arrived before cutoff,
// and calls fn with each.
func (s *edgeStore) expire(cutoff int64, fn func(*half)) {
	for s.head < len(s.queue) {
		h := s.queue[s.head]
		if !h.resolved && h.arrived >= cutoff {
			break
		}
		s.queue[s.head] = nil
		s.head++
		if !h.resolved {
			delete(s.byKey, h.key)
			h.resolved = true
			fn(h)
		}
	}
	if s.head > 0 && s.head >= len(s.queue)/2 {
		s.queue = append(s.queue[:0], s.queue[s.head:]...)
		s.head = 0
	}
}

// pending returns the halves waiting, oldest first.
func (s *edgeStore) pending() []*half {
	out := make([]*half, 0, s.len())
	for _, h := range s.queue[s.head:] {
		if !h.resolved {
			out = append(out, h)
		}
	}
	return out
}

// serviceGraph pairs the halves of requests in r.
func (d *deriver) serviceGraph(t *tenantState, tenant string, r *schema.SpanRow, now int64) {
	var client bool
	conn := connDirect
	switch r.Kind {
	case 3: // client
		client = true
	case 4: // producer
		client, conn = true, connMessaging
	case 2: // server
	case 5: // consumer
		conn = connMessaging
	default:
		return
	}
	failed := r.StatusCode == 2
	secs := seconds(r.DurationNano)
	if client {
		if db, ok := databaseNode(r); ok {
			d.edge(t, tenant, r.ServiceName, db, connDatabase, secs, secs, failed, r.TraceID, now)
			return
		}
	} else if r.ParentSpanID == ([8]byte{}) {
		d.edge(t, tenant, userNode, r.ServiceName, connVirtual, secs, 0, failed, r.TraceID, now)
		return
	}
	h := half{client: client, service: r.ServiceName, conn: conn, seconds: secs, failed: failed, arrived: now}
	if client {
		h.key = makeKey(r.TraceID, r.SpanID)
		h.peer = d.peerNode(r)
	} else {
		h.key = makeKey(r.TraceID, r.ParentSpanID)
	}
	// A half waiting under the key is either the other half, or one of
	// the same side, which this one replaces.
	other := t.edges.take(h.key)
	if other != nil && other.client != h.client {
		c, s := &h, other
		if !h.client {
			c, s = other, &h
		}
		if c.conn == connMessaging || s.conn == connMessaging {
			conn = connMessaging
		}
		d.edge(t, tenant, c.service, s.service, conn, s.seconds, c.seconds, c.failed || s.failed, r.TraceID, now)
		return
	}
	if other == nil && t.edges.len() >= d.maxItems {
		// The store is full: the new half is dropped, as Tempo does,
		// so that what waits keeps its chance.
		d.halfCounter(t, tenant, kindDropped, &h, now)
		return
	}
	// Only a half that waits is allocated, and its names copied: most
	// find their other half in the same record.
	waiting := h
	waiting.service, waiting.peer = d.own.String(h.service), d.own.String(h.peer)
	t.edges.add(&waiting)
}

// expireHalves resolves the halves of t that waited past the wait.
func (d *deriver) expireHalves(t *tenantState, tenant string, now int64) {
	t.edges.expire(now-d.wait, func(h *half) {
		if h.client && h.peer != "" {
			d.edge(t, tenant, h.service, h.peer, connVirtual, 0, h.seconds, h.failed, [16]byte(h.key[:16]), now)
			return
		}
		d.halfCounter(t, tenant, kindUnpaired, h, now)
	})
}

// edge counts one request from client to server.
func (d *deriver) edge(t *tenantState, tenant, client, server, conn string, serverSecs, clientSecs float64, failed bool, traceID [16]byte, now int64) {
	d.vals = append(d.vals[:0], client, server, conn)
	e := d.entry(t, tenant, kindEdge, now)
	if e == nil {
		return
	}
	e.count++
	if failed {
		e.failed++
	}
	buckets := d.specs[kindEdge].buckets
	e.hists[0].observe(buckets, serverSecs, traceID)
	e.hists[1].observe(buckets, clientSecs, traceID)
}

// halfCounter counts h in the counter of kind k, under its side's
// service.
func (d *deriver) halfCounter(t *tenantState, tenant string, k kind, h *half, now int64) {
	if h.client {
		d.vals = append(d.vals[:0], h.service, "", h.conn)
	} else {
		d.vals = append(d.vals[:0], "", h.service, h.conn)
	}
	if e := d.entry(t, tenant, k, now); e != nil {
		e.count++
	}
}

// peerNode returns the value of the first peer attribute of r, "" if none.
func (d *deriver) peerNode(r *schema.SpanRow) string {
	for _, key := range d.peerAttrs {
		if v := attrValue(r, key); v != "" {
			return v
		}
	}
	return ""
}

// databaseKeys returns the attributes databaseNode reads.
func databaseKeys() []string {
	return []string{"db.system", "db.name", "db.namespace", "peer.service", "server.address", "network.peer.address", "network.peer.port"}
}

// databaseNode returns the name of the database r calls, if it calls one.
func databaseNode(r *schema.SpanRow) (string, bool) {
	system, name, namespace := attrValue(r, "db.system"), attrValue(r, "db.name"), attrValue(r, "db.namespace")
	if system == "" && name == "" && namespace == "" {
		return "", false
	}
	if v := attrValue(r, "peer.service"); v != "" {
		return v, true
	}
	if v := attrValue(r, "server.address"); v != "" {
		return v, true
	}
	if v := attrValue(r, "network.peer.address"); v != "" {
		if port := attrValue(r, "network.peer.port"); port != "" {
			return v + ":" + port, true
		}
		return v, true
	}
	for _, v := range []string{namespace, name, system} {
		if v != "" {
			return v, true
		}
	}
	return "", false
}
