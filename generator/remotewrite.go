package generator

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/spanlog/spanlog/tenant"
)

// RemoteWriteConfig says where the series are pushed with Prometheus'
// remote write protocol (1.0: protobuf, snappy), one tenant per request
// named in X-Scope-OrgID, as Mimir, Cortex and Prometheus (with
// --web.enable-remote-write-receiver) take it.
type RemoteWriteConfig struct {
	// URL receives the series, e.g.
	// http://prometheus:9090/api/v1/write or
	// http://mimir/api/v1/push. Empty: no remote write. Default "".
	URL string `yaml:"url" help:"Prometheus remote write URL the series are pushed to (empty: none)."`
	// Timeout bounds one request. Default 10s.
	Timeout time.Duration `yaml:"timeout" help:"Timeout of one remote write request."`
	// MinBackoff is the first wait before a request that failed (a
	// network error, 5xx or 429) is sent again; waits double up to
	// MaxBackoff. A request refused otherwise (4xx) is not retried.
	// Default 100ms.
	MinBackoff time.Duration `yaml:"min-backoff" help:"First wait before retrying a failed remote write request; doubles up to max-backoff."`
	// MaxBackoff caps the wait between retries. Default 10s.
	MaxBackoff time.Duration `yaml:"max-backoff" help:"Longest wait between retries of a remote write request."`
	// MaxSamplesPerRequest bounds one request's samples. Default 2,000.
	MaxSamplesPerRequest int `yaml:"max-samples-per-request" help:"Most samples one remote write request carries."`
}

// The series are cumulative: a push carries each series' count since it
// started, so a push that fails loses resolution, not counts, and the
// newest push supersedes the older ones. So the queue holds one push, the
// newest: a flush that finds the writer still busy replaces the push
// waiting, counted in remote_write_pushes_superseded_total, and a push
// whose retries outlast the next flush gives way to it. Memory is two
// pushes: the one being sent and the one waiting.

// push is what one flush publishes: every partition's snapshot, to be
// sent stamped at.
type push struct {
	snapshots []*snapshot
	at        time.Time
}

type remoteWriter struct {
	cfg     RemoteWriteConfig
	specs   [kindCount]*kindSpec
	client  *http.Client
	logger  *slog.Logger
	metrics *remoteWriteMetrics

	next chan *push // holds at most the newest push
	// sent is the snapshot last sent whole of each partition: exemplars go
	// with a snapshot's pushes until one is sent whole (a receiver ignores
	// an exemplar it holds already).
	sent map[string]*snapshot
	// zeros holds the series whose zero is not delivered yet (see
	// entryKey): a fresh series' zero goes with every push until a
	// request carrying it is taken, so that a push superseded or given up
	// does not lose it. Rebuilt at each push from its series, so it holds
	// at most the series published.
	zeros map[string]bool
}

type remoteWriteMetrics struct {
	samples    *prometheus.CounterVec
	requests   *prometheus.CounterVec
	duration   prometheus.Histogram
	superseded prometheus.Counter
}

func newRemoteWriter(cfg RemoteWriteConfig, specs [kindCount]*kindSpec, logger *slog.Logger, reg prometheus.Registerer) *remoteWriter {
	m := &remoteWriteMetrics{
		samples: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spanlog_metrics_generator_remote_write_samples_total",
			Help: "Samples pushed with remote write, by result (sent, failed: given up on).",
		}, []string{"result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spanlog_metrics_generator_remote_write_requests_total",
			Help: "Remote write requests, by HTTP status code (0: no answer).",
		}, []string{"code"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "spanlog_metrics_generator_remote_write_request_duration_seconds",
			Help:    "Time of one remote write request.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
		superseded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_metrics_generator_remote_write_pushes_superseded_total",
			Help: "Pushes replaced by a newer one before they were sent, or while retried: their values are in the newer one.",
		}),
	}
	reg.MustRegister(m.samples, m.requests, m.duration, m.superseded)
	return &remoteWriter{
		cfg:     cfg,
		specs:   specs,
		client:  &http.Client{Timeout: cfg.Timeout},
		logger:  logger,
		metrics: m,
		next:    make(chan *push, 1),
		sent:    make(map[string]*snapshot),
		zeros:   make(map[string]bool),
	}
}

// offer queues p, replacing the push waiting, if any.
func (w *remoteWriter) offer(p *push) {
	for {
		select {
		case w.next <- p:
			return
		default:
		}
		select {
		case <-w.next:
			w.metrics.superseded.Inc()
		default:
		}
	}
}

// run sends the pushes offered until ctx ends.
func (w *remoteWriter) run(ctx context.Context) {
	defer w.client.CloseIdleConnections()
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-w.next:
			w.send(ctx, p)
		}
	}
}

// send pushes p, each tenant's series in requests of at most
// MaxSamplesPerRequest samples.
func (w *remoteWriter) send(ctx context.Context, p *push) {
	byTenant := make(map[string][]seriesRef)
	zeros := make(map[string]bool)
	for _, s := range p.snapshots {
		first := w.sent[s.partition] != s
		for id, entries := range s.tenants {
			for i := range entries {
				e := &entries[i]
				ref := seriesRef{e: e, s: s, first: first}
				if key := entryKey(s.partition, id, e); first && e.fresh || w.zeros[key] {
					ref.zero, ref.key = true, key
					zeros[key] = true
				}
				byTenant[id] = append(byTenant[id], ref)
			}
		}
	}
	w.zeros = zeros
	for _, id := range slices.Sorted(maps.Keys(byTenant)) {
		enc := &writeEncoder{max: w.cfg.MaxSamplesPerRequest, at: p.at.UnixMilli()}
		for _, ref := range byTenant[id] {
			enc.entry(w.specs[ref.e.kind], ref)
		}
		for _, req := range enc.finish() {
			if !w.post(ctx, id, req) {
				return // given up: a newer push, or the end
			}
			for _, key := range req.zeros {
				delete(w.zeros, key)
			}
		}
	}
	// Only now: a push given up sends its snapshots' exemplars again.
	for _, s := range p.snapshots {
		w.sent[s.partition] = s
	}
}

// entryKey names the series of entry e of tenant in a partition.
func entryKey(partition, tenant string, e *entry) string {
	return partition + "\x00" + tenant + "\x00" + strconv.Itoa(int(e.kind)) + "\x00" + strings.Join(e.labels, "\x00")
}

type seriesRef struct {
	e     *entry
	s     *snapshot
	first bool // the snapshot's first push: exemplars go with it
	// zero says the entry's series go preceded by a zero, their key being
	// key: fresh, and not delivered yet.
	zero bool
	key  string
}

// post sends one request, retrying until it is taken, refused for good,
// or a newer push waits. It returns false when the push is given up.
func (w *remoteWriter) post(ctx context.Context, tenantID string, req *writeRequest) bool {
	body := s2.EncodeSnappy(nil, req.buf)
	backoff := w.cfg.MinBackoff
	for {
		code, err := w.do(ctx, tenantID, body)
		switch {
		case err == nil:
			w.metrics.samples.WithLabelValues("sent").Add(float64(req.samples))
			return true
		case code/100 == 4 && code != http.StatusTooManyRequests:
			w.metrics.samples.WithLabelValues("failed").Add(float64(req.samples))
			w.logger.Warn("remote write refused; not retried", "tenant", tenantID, "code", code, "err", err)
			return true
		}
		w.logger.Warn("remote write failed; retrying", "tenant", tenantID, "code", code, "err", err, "backoff", backoff)
		wait := time.Duration(float64(backoff) * (0.5 + rand.Float64()/2))
		select {
		case <-ctx.Done():
			w.metrics.samples.WithLabelValues("failed").Add(float64(req.samples))
			return false
		case <-time.After(wait):
		}
		if len(w.next) > 0 {
			w.metrics.samples.WithLabelValues("failed").Add(float64(req.samples))
			w.metrics.superseded.Inc()
			return false
		}
		backoff = min(2*backoff, w.cfg.MaxBackoff)
	}
}

func (w *remoteWriter) do(ctx context.Context, tenantID string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	req.Header.Set("User-Agent", "spanlog-metrics-generator")
	req.Header.Set(tenant.Header, tenantID)
	start := time.Now()
	resp, err := w.client.Do(req)
	w.metrics.duration.Observe(time.Since(start).Seconds())
	if err != nil {
		w.metrics.requests.WithLabelValues("0").Inc()
		return 0, err
	}
	defer resp.Body.Close()
	w.metrics.requests.WithLabelValues(strconv.Itoa(resp.StatusCode)).Inc()
	if resp.StatusCode/100 == 2 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return resp.StatusCode, nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return resp.StatusCode, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(msg))
}

// writeEncoder encodes series into remote write requests (prompb's
// WriteRequest, wire format), each of at most max samples.
type writeEncoder struct {
	max  int
	at   int64 // the samples' timestamp, in milliseconds
	reqs []*writeRequest
	cur  *writeRequest

	ts     []byte      // scratch: one TimeSeries
	labels []wireLabel // scratch: its labels
}

type writeRequest struct {
	buf     []byte
	samples int
	zeros   []string // keys of the entries whose zeros it carries
}

type wireLabel struct{ name, value string }

// Field numbers of prompb's messages.
const (
	wrTimeseries = 1 // WriteRequest
	tsLabels     = 1 // TimeSeries
	tsSamples    = 2
	tsExemplars  = 3
	lbName       = 1 // Label
	lbValue      = 2
	smValue      = 1 // Sample
	smTimestamp  = 2
	exLabels     = 1 // Exemplar
	exValue      = 2
	exTimestamp  = 3
)

// entry encodes the series of one entry.
func (enc *writeEncoder) entry(spec *kindSpec, ref seriesRef) {
	e := ref.e
	fresh := ref.zero
	// An entry's series go in one request, so that its zeros are taken or
	// not together.
	samples := 0
	for _, f := range spec.families {
		if f.histogram {
			samples += len(spec.buckets) + 3
		} else {
			samples++
		}
	}
	if fresh {
		samples *= 2
	}
	if enc.cur == nil || enc.cur.samples+samples > enc.max && enc.cur.samples > 0 {
		enc.cur = &writeRequest{}
		enc.reqs = append(enc.reqs, enc.cur)
	}
	if fresh {
		enc.cur.zeros = append(enc.cur.zeros, ref.key)
	}
	for _, f := range spec.families {
		if !f.histogram {
			enc.series(f.name, spec, ref, "", float64(f.value(e)), fresh, nil)
			continue
		}
		h := &e.hists[f.hist]
		exBucket := -1
		if ref.first && h.exemplar.set {
			exBucket = sort.SearchFloat64s(spec.buckets, h.exemplar.value)
		}
		var cum uint64
		for i := 0; i <= len(spec.buckets); i++ {
			if i < len(h.counts) {
				cum += h.counts[i]
			}
			le := "+Inf"
			if i < len(spec.buckets) {
				le = strconv.FormatFloat(spec.buckets[i], 'f', -1, 64)
			}
			var ex *exemplar
			if i == exBucket {
				ex = &h.exemplar
			}
			enc.series(f.name+"_bucket", spec, ref, le, float64(cum), fresh, ex)
		}
		enc.series(f.name+"_sum", spec, ref, "", h.sum, fresh, nil)
		enc.series(f.name+"_count", spec, ref, "", float64(h.count()), fresh, nil)
	}
}

// series encodes one series with its sample (preceded by a zero a
// millisecond earlier when fresh), and exemplar if not nil.
func (enc *writeEncoder) series(name string, spec *kindSpec, ref seriesRef, le string, v float64, fresh bool, ex *exemplar) {
	enc.labels = append(enc.labels[:0], wireLabel{"__name__", name}, wireLabel{labelPartition, ref.s.partition})
	for i, l := range spec.labels {
		enc.labels = append(enc.labels, wireLabel{l, ref.e.labels[i]})
	}
	if le != "" {
		enc.labels = append(enc.labels, wireLabel{"le", le})
	}
	slices.SortFunc(enc.labels, func(a, b wireLabel) int { return strings.Compare(a.name, b.name) })

	b := enc.ts[:0]
	for _, l := range enc.labels {
		b = protowire.AppendTag(b, tsLabels, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(sizeLabel(l)))
		b = appendLabel(b, l)
	}
	samples := 1
	if fresh {
		b = appendSample(b, 0, enc.at-1)
		samples++
	}
	b = appendSample(b, v, enc.at)
	if ex != nil {
		l := wireLabel{labelTraceID, hex.EncodeToString(ex.traceID[:])}
		var m []byte
		m = protowire.AppendTag(m, exLabels, protowire.BytesType)
		m = protowire.AppendVarint(m, uint64(sizeLabel(l)))
		m = appendLabel(m, l)
		m = protowire.AppendTag(m, exValue, protowire.Fixed64Type)
		m = protowire.AppendFixed64(m, math.Float64bits(ex.value))
		m = protowire.AppendTag(m, exTimestamp, protowire.VarintType)
		m = protowire.AppendVarint(m, uint64(ref.s.taken.UnixMilli()))
		b = protowire.AppendTag(b, tsExemplars, protowire.BytesType)
		b = protowire.AppendBytes(b, m)
	}
	enc.ts = b

	enc.cur.buf = protowire.AppendTag(enc.cur.buf, wrTimeseries, protowire.BytesType)
	enc.cur.buf = protowire.AppendBytes(enc.cur.buf, b)
	enc.cur.samples += samples
}

func (enc *writeEncoder) finish() []*writeRequest { return enc.reqs }

func sizeLabel(l wireLabel) int {
	return protowire.SizeTag(lbName) + protowire.SizeBytes(len(l.name)) + protowire.SizeTag(lbValue) + protowire.SizeBytes(len(l.value))
}

func appendLabel(b []byte, l wireLabel) []byte {
	b = protowire.AppendTag(b, lbName, protowire.BytesType)
	b = protowire.AppendString(b, l.name)
	b = protowire.AppendTag(b, lbValue, protowire.BytesType)
	return protowire.AppendString(b, l.value)
}

func appendSample(b []byte, v float64, at int64) []byte {
	size := protowire.SizeTag(smValue) + 8 + protowire.SizeTag(smTimestamp) + protowire.SizeVarint(uint64(at))
	b = protowire.AppendTag(b, tsSamples, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	b = protowire.AppendTag(b, smValue, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, math.Float64bits(v))
	b = protowire.AppendTag(b, smTimestamp, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(at))
}
