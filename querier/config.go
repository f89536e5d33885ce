package querier

import (
	"errors"
	"fmt"
	"time"

	"github.com/spanlog/spanlog/blocklist"
	"github.com/spanlog/spanlog/internal/threadprio"
)

// Config tunes a querier.
type Config struct {
	// ReadYourWritesTimeout bounds how long a trace-by-ID request waits for
	// the live tail to reach the end of the trace's partition as it stood
	// when the request arrived; past it the answer is marked partial.
	// Default 5s.
	ReadYourWritesTimeout time.Duration `yaml:"read-your-writes-timeout" help:"Longest wait for the live tail to catch up with writes acked before a request."`
	// BlockConcurrency is how many blocks one request reads at once.
	// Default 16.
	BlockConcurrency int `yaml:"block-concurrency" help:"Blocks one request reads in parallel."`
	// QueryTimeout bounds one HTTP request end to end, from the query
	// API and from other queriers; the Go methods run under their
	// caller's context. Default 30s.
	QueryTimeout time.Duration `yaml:"query-timeout" help:"Longest time one query may run."`
	// OpenBlocks is how many block readers stay open between requests.
	// Each holds its block's footer, bloom filters and page indexes (tens
	// of KiB to a few MiB). Default 2000.
	OpenBlocks int `yaml:"open-blocks" help:"Block readers kept open between requests (footers, bloom filters, page indexes)."`
	// SearchCacheBytes bounds the search cache: what searches learned of
	// blocks (their trace summaries, the traces that pass a query's span
	// filter, the rows of the traces read whole), kept for the next
	// search, most recently used first. 28 bytes per trace of a block's
	// summaries (110 with their ends or roots), 28 per trace a filter
	// matched, a few KB per trace read whole; a block's entry over a
	// quarter of it is not kept. 0 keeps nothing. Default 64 MiB.
	SearchCacheBytes int64 `yaml:"search-cache-bytes" help:"Most bytes of what searches read of blocks (trace summaries, filter matches, traces read whole) kept for the next searches (0: none)."`
	// Group is the consumer group queriers share the partitions' live
	// tails through: each partition is consumed by one querier, which
	// answers the others for it. Default "spanlog-queriers".
	Group string `yaml:"group" help:"Consumer group the queriers share the partitions' live tails through."`
	// SessionTimeout is how long the group waits for a querier that
	// stopped heartbeating (killed, or cut off) before giving its
	// partitions to the others; queries needing those partitions wait
	// that long. Kafka's floor is 6s. Default 10s.
	SessionTimeout time.Duration `yaml:"session-timeout" help:"How long the querier group waits for a silent querier before moving its partitions."`
	// PeerTimeout bounds one request for another querier's live tail,
	// which includes the owner's wait for read-your-writes; past it the
	// owner is asked again, after the group is described again. Default
	// 15s.
	PeerTimeout time.Duration `yaml:"peer-timeout" help:"Longest wait for another querier's live tail before asking again."`
	// LiveTailMaxBytes bounds the live tail: the records of the owned
	// partitions that no known block holds yet, counted with what holding
	// them costs beside their values. Healthy block-builders keep it to a
	// minute or so of the querier's share of the ingest; when they fall
	// behind, the oldest records are evicted past the bound and answers
	// that may miss them are PARTIAL until blocks hold them. Give it about
	// a quarter of the querier's memory. Default 1 GiB.
	LiveTailMaxBytes int64 `yaml:"live-tail-max-bytes" help:"Most bytes the live tail holds; past it the oldest records are evicted and answers that may miss them are PARTIAL until blocks hold them."`
	// LiveTailFetchMinBytes is how many bytes of new records (as the
	// broker stores them) the live tail's fetch waits for, up to
	// LiveTailFetchMaxWait, before it returns. At 1 a span is searchable
	// as soon as the tail decoded it, which a search right after a write
	// expects (searches do not wait for the log's end); more saves the
	// broker and the querier fetches under load, at up to
	// LiveTailFetchMaxWait of staleness. At most 32 MiB. Default 1.
	LiveTailFetchMinBytes int64 `yaml:"live-tail-fetch-min-bytes" help:"Bytes of new records a live tail fetch from Kafka waits for, up to live-tail-fetch-max-wait, before it returns (1: return on any record)."`
	// LiveTailFetchMaxWait is the longest the live tail's fetch waits for
	// LiveTailFetchMinBytes: with more than 1, how long after its ack a
	// span may be missing from searches, and how much a trace-by-ID
	// request's read-your-writes wait may take on a quiet log. At least
	// 10ms and below read-your-writes-timeout (unless that is 0).
	// Default 100ms.
	LiveTailFetchMaxWait time.Duration `yaml:"live-tail-fetch-max-wait" help:"Longest a live tail fetch from Kafka waits for live-tail-fetch-min-bytes: how long an acked span may be missing from searches."`
	// StorageTimeout bounds how long one query waits on object storage
	// for its blocklist (the first poll, the poll a live tail partition
	// needs, a tenant's refresh). Past it, and when a block cannot be read,
	// the query answers from the live tail and the blocks it could read,
	// marked PARTIAL, instead of waiting for a bucket that may be gone.
	// It must leave time within query-timeout and, with the read-your-
	// writes wait, within peer-timeout. Default 5s.
	StorageTimeout time.Duration `yaml:"storage-timeout" help:"Longest a query waits on object storage for its blocklist before answering from the live tail, marked PARTIAL."`
	// PeerMaxResponseBytes bounds the answer another querier gets from
	// this one's live tail, and the answer this one reads from another's.
	// An answer for several traces over it is asked for again in halves;
	// a single trace, search candidates or tags over it fail the query
	// with 422, naming this setting. Default 128 MiB.
	PeerMaxResponseBytes int64 `yaml:"peer-max-response-bytes" help:"Largest live tail answer one querier sends another, in bytes."`
	// AdvertiseAddress is the host:port other queriers reach this one's
	// peer listener (server.internal-listen-address) at. Empty means
	// the internal listen address, with the host name when that has no
	// host.
	AdvertiseAddress string `yaml:"advertise-address" help:"host:port other queriers reach this querier's internal listener at (default: derived from server.internal-listen-address)."`
	// WholeScanShare picks how a search reads the traces it reads whole
	// from a block: a lookup by ID costs about a page per column and
	// trace, and rows decoded one by one, so past one in WholeScanShare of
	// the block's traces it scans the columns a search reads instead. 0
	// never scans. Default 8.
	WholeScanShare int64 `yaml:"whole-scan-share" help:"A search scans a block for the traces it reads whole, rather than looking them up, when it wants more than one in this many of the block's traces (0: always look up)."`
	// MetricsMaxSeries bounds the series of a TraceQL metrics query's
	// answer (each holds a value per step): a query that makes more is
	// refused with 422, naming this setting. Default 1000.
	MetricsMaxSeries int `yaml:"metrics-max-series" help:"Most series a TraceQL metrics query may answer with; past it the query is refused (422)."`
	// Blocklist tunes how the querier learns of blocks.
	Blocklist blocklist.Config `yaml:"blocklist"`
	// Background is the priority of the thread that decodes and indexes
	// the live tail's records: a tail behind by a few milliseconds
	// answers a search as soon as it catches up (read your writes), while
	// a write waiting on a thread waits for its client. Searches run at
	// the usual priority. cmd/spanlog sets it from
	// server.background-nice. Default 0: the usual priority.
	Background threadprio.Nice `yaml:"-"`
}

// maxLiveTailFetchMinBytes bounds querier.live-tail-fetch-min-bytes below
// the most a fetch returns (franz-go's default, 50 MiB, which the tail
// keeps): a fetch must be able to return what it waits for.
const maxLiveTailFetchMinBytes = 32 << 20

// DefaultConfig returns the configuration spanlog runs with when nothing is set.
func DefaultConfig() Config {
	return Config{
		ReadYourWritesTimeout: 5 * time.Second,
		BlockConcurrency:      16,
		QueryTimeout:          30 * time.Second,
		OpenBlocks:            2000,
		SearchCacheBytes:      64 << 20,
		Group:                 "spanlog-queriers",
		SessionTimeout:        10 * time.Second,
		PeerTimeout:           15 * time.Second,
		LiveTailMaxBytes:      1 << 30,
		LiveTailFetchMinBytes: 1,
		LiveTailFetchMaxWait:  100 * time.Millisecond,
		StorageTimeout:        5 * time.Second,
		PeerMaxResponseBytes:  128 << 20,
		WholeScanShare:        8,
		MetricsMaxSeries:      1000,
		Blocklist:             blocklist.DefaultConfig(),
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.ReadYourWritesTimeout < 0:
		return errors.New("querier: read-your-writes timeout must not be negative")
	case c.BlockConcurrency <= 0:
		return errors.New("querier: block concurrency must be positive")
	case c.OpenBlocks <= 0:
		return errors.New("querier: open blocks must be positive")
	case c.SearchCacheBytes < 0:
		return errors.New("querier: search cache bytes must not be negative")
	case c.QueryTimeout <= 0:
		return errors.New("querier: query timeout must be positive")
	case c.Group == "":
		return errors.New("querier: group must be set")
	case c.SessionTimeout <= 0:
		return errors.New("querier: session timeout must be positive")
	case c.LiveTailMaxBytes <= 0:
		return errors.New("querier: live tail max bytes must be positive")
	case c.LiveTailFetchMinBytes <= 0 || c.LiveTailFetchMinBytes > maxLiveTailFetchMinBytes:
		return fmt.Errorf("querier: live tail fetch min bytes must be between 1 and %d", maxLiveTailFetchMinBytes)
	case c.LiveTailFetchMaxWait < 10*time.Millisecond:
		// As Kafka clients want.
		return errors.New("querier: live tail fetch max wait must be at least 10ms")
	case c.ReadYourWritesTimeout > 0 && c.LiveTailFetchMaxWait >= c.ReadYourWritesTimeout:
		return errors.New("querier: live tail fetch max wait must be below the read-your-writes timeout, or a quiet log's writes would time it out")
	case c.StorageTimeout <= 0 || c.StorageTimeout >= c.QueryTimeout:
		return errors.New("querier: storage timeout must be positive and less than the query timeout")
	case c.PeerTimeout <= c.ReadYourWritesTimeout+c.StorageTimeout:
		return errors.New("querier: peer timeout must be more than the read-your-writes and storage timeouts, which it includes")
	case c.PeerMaxResponseBytes <= 0:
		return errors.New("querier: peer max response bytes must be positive")
	case c.WholeScanShare < 0:
		return errors.New("querier: whole scan share must not be negative")
	case c.MetricsMaxSeries <= 0:
		return errors.New("querier: metrics max series must be positive")
	}
	return c.Blocklist.Validate()
}
