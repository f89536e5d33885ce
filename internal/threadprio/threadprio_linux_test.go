//go:build linux

package threadprio

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ran is where one function ran: its thread, and the thread's nice value.
type ran struct{ tid, nice int }

func here(t *testing.T) ran {
	tid := syscall.Gettid()
	return ran{tid: tid, nice: threadNice(t, tid)}
}

func TestWorkersRunAtTheirPriorityAndNothingElseDoes(t *testing.T) {
	w := Nice(10).Start(2)
	defer w.Stop()
	workers := make(chan ran)
	others := make(chan ran)
	// The workers block and wake between functions, handing their
	// threads' places to others; the goroutines started meanwhile must
	// not run at the workers' priority.
	const rounds = 200
	go func() {
		for range rounds {
			w.Go(func() {
				time.Sleep(100 * time.Microsecond)
				workers <- here(t)
			})
		}
	}()
	for range rounds {
		go func() { others <- here(t) }()
	}
	threads := make(map[int]bool)
	for range rounds * 2 {
		select {
		case r := <-workers:
			if r.nice != 10 {
				t.Fatalf("a function handed to the workers ran at nice %d, want 10", r.nice)
			}
			threads[r.tid] = true
		case r := <-others:
			if r.nice != 0 {
				t.Fatalf("a goroutine beside the workers ran at nice %d, want 0", r.nice)
			}
		}
	}
	if len(threads) > 2 {
		t.Fatalf("the functions ran on %d threads, want one per worker, 2", len(threads))
	}
}

func TestNiceZeroChangesNothing(t *testing.T) {
	w := Nice(0).Start(1)
	done := make(chan ran)
	w.Go(func() { done <- here(t) })
	if r := <-done; r.nice != 0 {
		t.Fatalf("the function ran at nice %d, want 0", r.nice)
	}
	w.Stop()
}

func TestStopWaitsForTheFunctionsHanded(t *testing.T) {
	w := Nice(5).Start(3)
	var finished [6]bool
	for i := range finished {
		w.Go(func() {
			time.Sleep(time.Millisecond)
			finished[i] = true
		})
	}
	w.Stop()
	for i, ok := range finished {
		if !ok {
			t.Fatalf("function %d had not returned when Stop did", i)
		}
	}
}

// threadNice returns the nice value of the process's thread tid, read
// from proc(5): the 19th field of its stat, counted from the command
// name in parentheses, which may hold spaces and parentheses.
func threadNice(t *testing.T, tid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/stat", tid))
	if err != nil {
		t.Error(err)
		return -1
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 17 {
		t.Errorf("thread %d: stat %q has too few fields", tid, s)
		return -1
	}
	n, err := strconv.Atoi(fields[16])
	if err != nil {
		t.Errorf("thread %d: nice %q: %v", tid, fields[16], err)
		return -1
	}
	return n
}
