// Package threadprio runs a role's CPU-bound background work at a lower
// scheduling priority than the rest of its process, so that when the
// CPUs are busy the kernel runs the work a client waits on first.
//
// Go schedules goroutines onto threads, and the kernel schedules the
// threads; only a thread has a priority. So a goroutine given a lower
// priority is locked to its thread for the rest of its life, and no
// other goroutine runs there. It owns nothing else; which work is
// background is each role's to say.
package threadprio

import "sync"

// Nice is the nice value, from 0 to 19, of the threads running background
// work: at 10, such a thread gets about a tenth of a CPU's time against
// one of the default 0 while both are ready to run, and all of it when
// nothing else is. 0 runs background work as any other, on whichever
// thread Go picks.
type Nice int

// MaxNice is the lowest priority a Nice can give.
const MaxNice Nice = 19

// Lower runs the calling goroutine from now on at n's priority. It does
// nothing for n of 0, nor where threads have no priority of their own
// (on systems other than Linux), nor when the kernel refuses; the work
// then runs at the usual priority.
//
// Call it first thing in a goroutine that lasts as long as its role runs
// (as Workers' do), not in one per piece of work. The goroutine's thread
// ends with it, since a priority once lowered cannot be raised back
// without a privilege; but ending a thread can start another to take
// its place, and the kernel gives a new thread the priority of the one
// that starts it. So each goroutine that ends at a lower priority may
// leave a thread at that priority to run anything; ending only when its
// role stops, it leaves that to the process's shutdown. (A goroutine that
// ends on the main thread, which cannot end, parks it for good.)
func (n Nice) Lower() {
	if n > 0 {
		lower(n)
	}
}

// Workers are goroutines at one priority that run the functions handed
// to them, as many at once as there are workers.
type Workers struct {
	jobs chan func()
	wg   sync.WaitGroup
}

// Start starts count workers at n's priority; Stop ends them.
func (n Nice) Start(count int) *Workers {
	w := &Workers{jobs: make(chan func())}
	for range count {
		w.wg.Go(func() {
			n.Lower()
			for f := range w.jobs {
				f()
			}
		})
	}
	return w
}

// Go runs f on the first worker free, and returns once one took it.
func (w *Workers) Go(f func()) { w.jobs <- f }

// Stop ends the workers once the functions handed to them returned, and
// waits for them. Go must not be called after it.
func (w *Workers) Stop() {
	close(w.jobs)
	w.wg.Wait()
}
