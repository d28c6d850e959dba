package tokens

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// bar is a progress bar drawn on a terminal: bytes done of the total,
// redrawn at most every redrawEvery from its own goroutine, so counting never
// waits on the terminal. It implements [Progress].
type bar struct {
	w     io.Writer
	label string
	every time.Duration

	total, done atomic.Int64

	mu      sync.Mutex // serialises writes to w
	drawn   bool       // a bar line is on screen
	started bool
	stop    chan struct{}
	stopped chan struct{}
}

const redrawEvery = 100 * time.Millisecond

func newBar(w io.Writer, label string) *bar {
	return &bar{w: w, label: label, every: redrawEvery, stop: make(chan struct{}), stopped: make(chan struct{})}
}

func (b *bar) Start(total int64) {
	b.total.Store(total)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started {
		return
	}
	b.started = true
	go func() {
		defer close(b.stopped)
		t := time.NewTicker(b.every)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-t.C:
				b.mu.Lock()
				b.draw()
				b.mu.Unlock()
			}
		}
	}()
}

func (b *bar) Add(n int64) { b.done.Add(n) }

// Println prints a line above the bar.
func (b *bar) Println(msg string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.clear()
	fmt.Fprintln(b.w, msg)
}

// Finish stops redrawing and removes the bar.
func (b *bar) Finish() {
	b.mu.Lock()
	started := b.started
	b.mu.Unlock()
	if started {
		close(b.stop)
		<-b.stopped
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.clear()
}

// draw writes the bar; b.mu is held.
func (b *bar) draw() {
	const width = 30
	total, done := b.total.Load(), b.done.Load()
	frac := 1.0
	if total > 0 {
		frac = min(1, float64(done)/float64(total))
	}
	fill := int(frac * width)
	fmt.Fprintf(b.w, "\r%s [%s%s] %3d%% %s / %s\x1b[K", b.label,
		strings.Repeat("=", fill), strings.Repeat(" ", width-fill), int(frac*100), humanBytes(done), humanBytes(total))
	b.drawn = true
}

// clear erases the bar line; b.mu is held.
func (b *bar) clear() {
	if b.drawn {
		fmt.Fprint(b.w, "\r\x1b[K")
		b.drawn = false
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), -1
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i])
}
