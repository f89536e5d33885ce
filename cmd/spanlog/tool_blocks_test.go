package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/parquet-go/parquet-go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/blocktest"
	"github.com/spanlog/spanlog/internal/miniotest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// runTool runs the spanlog command args names, as main does, and returns
// what it printed on stdout and stderr.
func runTool(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	tl, ok, err := findTool(args)
	if err != nil || !ok {
		t.Fatalf("no tool %q: %v", args[0], err)
	}
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = tl.run(ctx, args[1:], &out, &errOut)
	return out.String(), errOut.String(), err
}

// storageUnderTest is a bucket of each backend, with the flags that point
// spanlog at it.
type storageUnderTest struct {
	bucket objstore.Bucket
	flags  []string
}

// storages returns a constructor of an empty bucket per backend: a local
// directory, given by flag, and a MinIO bucket, given in a config file as
// the server's would be.
func storages(parent *testing.T) map[string]func(*testing.T) storageUnderTest {
	var minio *miniotest.Server
	return map[string]func(*testing.T) storageUnderTest{
		"dir": func(t *testing.T) storageUnderTest {
			dir := t.TempDir()
			bkt, err := objstore.NewDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			return storageUnderTest{bkt, []string{"-storage.local.path=" + dir}}
		},
		"minio": func(t *testing.T) storageUnderTest {
			if minio == nil {
				minio = miniotest.Start(parent)
			}
			s3 := minio.NewBucket(t)
			bkt, err := objstore.NewS3(s3, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			config := filepath.Join(t.TempDir(), "spanlog.yaml")
			yaml := fmt.Sprintf("storage:\n  backend: s3\n  s3:\n    endpoint: %s\n    bucket: %s\n    access-key-id: %s\n    secret-access-key: %s\n    insecure: true\n",
				s3.Endpoint, s3.Bucket, s3.AccessKeyID, s3.SecretAccessKey)
			if err := os.WriteFile(config, []byte(yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			return storageUnderTest{bkt, []string{"-config.file=" + config}}
		},
	}
}

// tenantBlocks are the blocks of a tenant in every state: what
// writeTenantBlocks wrote.
type tenantBlocks struct {
	expired, live, superseded, merged []*schema.BlockMeta
	unreadable, noMeta                uuid.UUID
}

// writeTenantBlocks writes blocks of tenant "shop" as two block-builder
// cycles of two partitions would have, and its index, two hours ago and
// 90 minutes ago; merges partition 1's two blocks; and adds a block whose
// meta is garbage and one without a meta. With a retention of 75 minutes,
// the first cycle's blocks are expired.
func writeTenantBlocks(t *testing.T, bkt objstore.Bucket) tenantBlocks {
	t.Helper()
	ctx := context.Background()
	_, err := blocktest.Build(ctx, bkt, blocktest.Spec{
		Tenant: "shop", Seed: 7, Partitions: 2, Cycles: 2, SpansPerBlock: 300,
		Cycle: 30 * time.Minute, Start: time.Now().Add(-2 * time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	x, err := block.ReadIndex(ctx, bkt, "shop")
	if err != nil || len(x.Metas) != 4 {
		t.Fatalf("dataset index %v: %v", x, err)
	}
	var tb tenantBlocks
	var p1 []*schema.BlockMeta
	for _, m := range x.Metas {
		switch first := m.KafkaRanges[0]; {
		case first.Partition == 1:
			p1 = append(p1, m)
			if first.Start == 0 {
				tb.expired = append(tb.expired, m)
			} else {
				tb.superseded = append(tb.superseded, m)
			}
		case first.Start == 0:
			tb.expired = append(tb.expired, m)
		default:
			tb.live = append(tb.live, m)
		}
	}
	merged, err := block.Compact(ctx, bkt, p1, block.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	tb.merged = []*schema.BlockMeta{merged}
	tb.unreadable, tb.noMeta = uuid.New(), uuid.New()
	for name, content := range map[string]string{
		block.MetaName("shop", tb.unreadable): "{not json",
		block.DataName("shop", tb.noMeta):     "PAR1",
	} {
		if err := bkt.Upload(ctx, name, strings.NewReader(content)); err != nil {
			t.Fatal(err)
		}
	}
	return tb
}

func TestBlocksList(t *testing.T) {
	for name, newStorage := range storages(t) {
		t.Run(name, func(t *testing.T) {
			s := newStorage(t)
			tb := writeTenantBlocks(t, s.bucket)
			args := append([]string{"blocks", "ls", "-tenant=shop", "-compactor.block-retention=75m", "-o", "json"}, s.flags...)
			stdout, stderr, err := runTool(t, args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			var l blockListing
			if err := json.Unmarshal([]byte(stdout), &l); err != nil {
				t.Fatalf("%v: %s", err, stdout)
			}
			states := make(map[uuid.UUID]blockEntry)
			for _, e := range l.Blocks {
				states[e.ID] = e
			}
			check := func(metas []*schema.BlockMeta, state string, indexed bool) {
				t.Helper()
				for _, m := range metas {
					e, ok := states[m.BlockID]
					switch {
					case !ok:
						t.Errorf("block %s (%s) not listed", m.BlockID, state)
					case e.State != state || e.Indexed != indexed:
						t.Errorf("block %s: state %s, indexed %v; want %s, %v", m.BlockID, e.State, e.Indexed, state, indexed)
					case e.BlockMeta == nil || e.TotalSpans != m.TotalSpans || e.CompactionLevel != m.CompactionLevel ||
						!slices.Equal(e.KafkaRanges, m.KafkaRanges) || e.Size != m.Size:
						t.Errorf("block %s listed as %+v, meta %+v", m.BlockID, e.BlockMeta, m)
					}
					if (state == stateExpired || state == stateSuperseded) != (e.DeletableAfter != nil) {
						t.Errorf("block %s (%s): deletable after %v", m.BlockID, state, e.DeletableAfter)
					}
				}
			}
			check(tb.expired, stateExpired, true)
			check(tb.live, stateLive, true)
			check(tb.superseded, stateSuperseded, true)
			check(tb.merged, stateLive, false)
			if e := states[tb.superseded[0].BlockID]; e.SupersededBy == nil || *e.SupersededBy != tb.merged[0].BlockID {
				t.Errorf("superseded by %v, want the merged block %s", e.SupersededBy, tb.merged[0].BlockID)
			}
			if e := states[tb.unreadable]; e.State != stateUnreadable || !strings.Contains(e.Problem, "invalid block meta") {
				t.Errorf("block with a garbage meta: %+v", e)
			}
			if e := states[tb.noMeta]; e.State != stateNoMeta {
				t.Errorf("block without a meta: %+v", e)
			}
			if len(l.Blocks) != 7 || l.Index == nil || l.Index.Blocks != 4 || l.Retention != "1h15m0s" {
				t.Errorf("listing of %d blocks, index %+v, retention %s", len(l.Blocks), l.Index, l.Retention)
			}

			// The table says the same to a person.
			stdout, _, err = runTool(t, append([]string{"blocks", "ls", "-tenant=shop", "-compactor.block-retention=75m"}, s.flags...)...)
			if err != nil {
				t.Fatal(err)
			}
			merged := tb.merged[0]
			for _, want := range []string{
				"BLOCK", "OFFSETS", "STATE", "lists 4 blocks",
				fmt.Sprintf("%s  1          %s", merged.BlockID, formatOffsets(merged.KafkaRanges)),
				"superseded by " + merged.BlockID.String(),
				"live (not in the index yet)",
				"expired, deletable from",
				tb.unreadable.String(), "unreadable: ",
				tb.noMeta.String(), "no meta",
			} {
				if !strings.Contains(stdout, want) {
					t.Errorf("table lacks %q:\n%s", want, stdout)
				}
			}
		})
	}
}

// A tenant without blocks lists none, and says which tenants have some.
func TestBlocksListOtherTenant(t *testing.T) {
	s := storages(t)["dir"](t)
	writeTenantBlocks(t, s.bucket)
	stdout, stderr, err := runTool(t, append([]string{"blocks", "ls", "-o=json"}, s.flags...)...)
	if err != nil {
		t.Fatal(err)
	}
	var l blockListing
	if err := json.Unmarshal([]byte(stdout), &l); err != nil || l.Tenant != "single-tenant" || len(l.Blocks) != 0 {
		t.Errorf("listing of the default tenant: %s (%v)", stdout, err)
	}
	if !strings.Contains(stderr, "tenant single-tenant has no blocks") || !strings.Contains(stderr, "tenants with blocks: shop (-tenant)") {
		t.Errorf("stderr does not say which tenants have blocks: %s", stderr)
	}
}

func TestBlocksInspect(t *testing.T) {
	s := storages(t)["dir"](t)
	tb := writeTenantBlocks(t, s.bucket)
	merged := tb.merged[0]
	stdout, _, err := runTool(t, append([]string{"blocks", "inspect", merged.BlockID.String(), "-tenant=shop", "-o", "json", "-traces=5"}, s.flags...)...)
	if err != nil {
		t.Fatal(err)
	}
	var in inspection
	if err := json.Unmarshal([]byte(stdout), &in); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	if in.Meta.BlockID != merged.BlockID || in.File.Rows != merged.TotalSpans || len(in.File.RowGroups) == 0 || len(in.File.Columns) != len(parquet.SchemaOf(schema.SpanRowV3{}).Columns()) {
		t.Errorf("meta %+v, file of %d rows, %d row groups, %d columns", in.Meta, in.File.Rows, len(in.File.RowGroups), len(in.File.Columns))
	}
	if len(in.Traces) != 5 || in.Traces[0].TraceID != merged.MinTraceID || in.Traces[0].Spans == 0 || in.Traces[0].RootName == "" {
		t.Errorf("trace summaries %+v", in.Traces)
	}

	stdout, _, err = runTool(t, append([]string{"blocks", "inspect", "-tenant=shop", "-traces=0", merged.BlockID.String()}, s.flags...)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"crc32c      " + merged.DataCRC32C, "level       1", "ROW GROUP", "BLOOM", "COLUMN", "COMPRESSION", "trace_id", "trace.root.name",
		"ROOT SERVICE", merged.MaxTraceID,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("inspect lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "more traces") {
		t.Errorf("-traces=0 left traces out:\n%s", stdout)
	}
}

func TestBlocksVerify(t *testing.T) {
	for name, newStorage := range storages(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := newStorage(t)
			tb := writeTenantBlocks(t, s.bucket)
			verify := func(args ...string) (string, error) {
				stdout, _, err := runTool(t, append(append([]string{"blocks", "verify", "-tenant=shop"}, args...), s.flags...)...)
				return stdout, err
			}
			good, bad := tb.live[0], tb.merged[0]
			if stdout, err := verify(good.BlockID.String(), bad.BlockID.String()); err != nil || strings.Count(stdout, "  ok  ") != 2 {
				t.Fatalf("sound blocks: %v\n%s", err, stdout)
			}

			// A byte of the merged block flipped, and the span count of
			// another edited in its meta.
			data, err := objstore.ReadAll(ctx, s.bucket, block.DataName("shop", bad.BlockID))
			if err != nil {
				t.Fatal(err)
			}
			data[len(data)/2] ^= 0xff
			if err := s.bucket.Upload(ctx, block.DataName("shop", bad.BlockID), bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			edited := *good
			edited.TotalSpans++
			metaJSON, err := schema.MarshalMeta(&edited)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.bucket.Upload(ctx, block.MetaName("shop", good.BlockID), bytes.NewReader(metaJSON)); err != nil {
				t.Fatal(err)
			}

			stdout, err := verify(good.BlockID.String(), bad.BlockID.String())
			if err == nil || !strings.Contains(err.Error(), "2 of 2 blocks of tenant shop failed verification") ||
				!strings.Contains(err.Error(), good.BlockID.String()) || !strings.Contains(err.Error(), bad.BlockID.String()) {
				t.Errorf("error %v, want both blocks named", err)
			}
			for _, want := range []string{
				good.BlockID.String() + "  FAILED", fmt.Sprintf("totalSpans: the meta says %d, the data holds %d", edited.TotalSpans, good.TotalSpans),
				bad.BlockID.String() + "  FAILED", "dataCRC32C: the meta says " + bad.DataCRC32C,
			} {
				if !strings.Contains(stdout, want) {
					t.Errorf("verify output lacks %q:\n%s", want, stdout)
				}
			}

			// -all: every block with a meta, the garbage one failing too.
			stdout, err = verify("-all", "-o=json")
			var results []verified
			if jerr := json.Unmarshal([]byte(stdout), &results); jerr != nil {
				t.Fatalf("%v: %s", jerr, stdout)
			}
			failed := map[uuid.UUID]bool{}
			for _, r := range results {
				if !r.OK {
					failed[r.BlockID] = true
				}
			}
			if err == nil || len(results) != 6 || len(failed) != 3 || !failed[good.BlockID] || !failed[bad.BlockID] || !failed[tb.unreadable] {
				t.Errorf("verify -all: %v; %d results, failed %v", err, len(results), failed)
			}
		})
	}
}

// Errors say what to do next: which setting points at the storage, which
// command lists the blocks.
func TestBlocksErrors(t *testing.T) {
	s := storages(t)["dir"](t)
	missing := filepath.Join(t.TempDir(), "nowhere")
	minio := miniotest.Start(t)
	noBucket := minio.Config("missing")
	s3 := func(cfg objstore.S3Config, extra ...string) []string {
		return append([]string{
			"-storage.backend=s3", "-storage.s3.endpoint=" + cfg.Endpoint, "-storage.s3.bucket=" + cfg.Bucket,
			"-storage.s3.access-key-id=" + cfg.AccessKeyID, "-storage.s3.secret-access-key=" + cfg.SecretAccessKey,
			"-storage.s3.insecure=true",
		}, extra...)
	}
	unreachable := noBucket
	unreachable.Endpoint = "127.0.0.1:1"
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"no command", []string{"blocks"}, []string{"ls, inspect or verify"}},
		{"unknown command", []string{"blocks", "rm"}, []string{`unknown command "rm"`}},
		{"local path missing", []string{"blocks", "ls", "-storage.local.path=" + missing}, []string{missing, "storage.local.path", "-config.file"}},
		{"s3 without endpoint", []string{"blocks", "ls", "-storage.backend=s3"}, []string{"needs an endpoint", "-storage.*"}},
		{"bucket missing", append([]string{"blocks", "ls"}, s3(noBucket)...), []string{`S3 bucket "missing" does not exist`}},
		{"s3 unreachable", append([]string{"blocks", "ls"}, s3(unreachable, "-storage.s3.startup-check-timeout=1s")...), []string{"did not answer", "storage.s3.endpoint"}},
		{"block unknown", append([]string{"blocks", "inspect", "-tenant=shop", "1fef3388-247a-5a2d-8e84-90509f9728b3"}, s.flags...), []string{"tenant shop has no block 1fef3388", "spanlog blocks ls -tenant shop"}},
		{"not a block ID", append([]string{"blocks", "inspect", "abc"}, s.flags...), []string{`"abc" is not a block ID`}},
		{"verify nothing", append([]string{"blocks", "verify"}, s.flags...), []string{"-all"}},
		{"bad output", append([]string{"blocks", "ls", "-o=yaml"}, s.flags...), []string{"table or json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runTool(t, tc.args...)
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}
