// Package logtest collects what components and processes log, for tests
// that assert on it while those still write from goroutines of their own.
package logtest

import (
	"log/slog"
	"strings"
	"sync"
)

// Buffer is a log sink that several goroutines may write to while a test
// reads it. The zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns all that was written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Logger returns a logger writing text lines to l; loggers made by several
// calls share l.
func (l *Buffer) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, nil))
}
