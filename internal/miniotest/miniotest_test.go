package miniotest

import (
	"net"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
)

func TestRestartKeepsAddressAndData(t *testing.T) {
	s := Start(t)
	cfg := s.NewBucket(t)
	if _, err := s.admin.PutObject(t.Context(), cfg.Bucket, "kept", strings.NewReader("data"), 4, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}

	s.Stop()
	if c, err := net.Dial("tcp", s.Endpoint); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after Stop", s.Endpoint)
	}
	s.Stop() // stopping twice is allowed

	s.Restart(t)
	if _, err := s.admin.StatObject(t.Context(), cfg.Bucket, "kept", minio.StatObjectOptions{}); err != nil {
		t.Fatalf("object written before the restart: %v", err)
	}
}

func TestStartInKeepsDataAcrossServers(t *testing.T) {
	dir := t.TempDir()
	first := StartIn(t, dir)
	cfg := first.Bucket(t, "kept")
	if _, err := first.admin.PutObject(t.Context(), cfg.Bucket, "obj", strings.NewReader("data"), 4, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	first.Stop()

	second := StartIn(t, dir)
	cfg = second.Bucket(t, "kept") // exists already: no error
	if _, err := second.admin.StatObject(t.Context(), cfg.Bucket, "obj", minio.StatObjectOptions{}); err != nil {
		t.Fatalf("object written by the first server: %v", err)
	}
}
