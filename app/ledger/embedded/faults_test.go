package embedded

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tokentrail/tokentrail/app/ledger"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// TestSubmitBusyWhenQueueFull holds the writer inside a block, fills its
// queue, and expects the next Submit to fail at once with ErrBusy (an
// ErrUnavailable) rather than wait; once the writer moves on, every queued
// submission commits.
func TestSubmitBusyWhenQueueFull(t *testing.T) {
	l := openTest(t, Config{MaxBlockTxs: 1})
	setupConsortium(t, l)
	hold, entered := make(chan struct{}), make(chan struct{}, 1)
	l.testHookApply = func(*txState) error {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-hold
		return nil
	}
	capacity := cap(l.queue)
	var wg sync.WaitGroup
	errs := make(chan error, capacity+1)
	collect := func(i int) {
		defer wg.Done()
		_, err := l.Submit(context.Background(), orgProvider, contract.FnCollect, mustJSON(t, collectReq(fmt.Sprintf("q-%d", i), i)), nil)
		errs <- err
	}
	wg.Add(1)
	go collect(0)
	<-entered // the writer holds submission 0 and takes no more
	for i := 1; i <= capacity; i++ {
		wg.Add(1)
		go collect(i)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(l.queue) < capacity {
		if time.Now().After(deadline) {
			t.Fatalf("queue holds %d of %d after 10 s", len(l.queue), capacity)
		}
		time.Sleep(time.Millisecond)
	}

	start := time.Now()
	_, err := l.Submit(context.Background(), orgProvider, contract.FnCollect, mustJSON(t, collectReq("over", 9999)), nil)
	if !errors.Is(err, ErrBusy) || !errors.Is(err, ledger.ErrUnavailable) {
		t.Fatalf("Submit on a full queue: %v, want ErrBusy wrapping ErrUnavailable", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("Submit on a full queue waited %v instead of failing at once", waited)
	}

	close(hold)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a queued submission failed: %v", err)
		}
	}
	if _, err := l.Evaluate(context.Background(), orgProvider, contract.FnGetBatch, []byte(`{"id":"q-4"}`)); err != nil {
		t.Errorf("a queued submission is not on the ledger: %v", err)
	}
}

// TestDiskFull runs the ledger on a small tmpfs, fills the file system and
// expects writes to fail with ErrUnavailable while the ledger stays ready
// and readable; once space returns, writes succeed again, every write
// acknowledged before is still there, and the chain verifies on reopen.
// It mounts a tmpfs, so it needs root; CI runs as root.
func TestDiskFull(t *testing.T) {
	dir := mountTmpfs(t, "8m")
	cfg := Config{Dir: filepath.Join(dir, "ledger")}
	l, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { l.Close() }()
	setupConsortium(t, l)

	filler := fillDisk(t, dir)
	var acked []string
	var failure error
	for i := 0; i < 20000 && failure == nil; i++ {
		id := fmt.Sprintf("full-%d", i)
		_, err := l.Submit(context.Background(), orgProvider, contract.FnCollect, mustJSON(t, collectReq(id, i)), nil)
		if err == nil {
			acked = append(acked, id)
			continue
		}
		failure = err
	}
	if failure == nil {
		t.Fatal("20000 writes on a full file system all succeeded")
	}
	if !errors.Is(failure, ledger.ErrUnavailable) {
		t.Fatalf("a write on a full disk failed with %v, want ErrUnavailable", failure)
	}
	t.Logf("%d writes acknowledged after the disk filled, then: %v", len(acked), failure)
	if err := l.Ready(context.Background()); err != nil {
		t.Fatalf("the ledger is not ready after a failed write on a full disk: %v", err)
	}
	if _, err := l.Submit(context.Background(), orgProvider, contract.FnCollect, mustJSON(t, collectReq("still-full", 1)), nil); !errors.Is(err, ledger.ErrUnavailable) {
		t.Fatalf("a second write on the full disk: %v, want ErrUnavailable", err)
	}
	if _, err := l.Evaluate(context.Background(), orgProvider, contract.FnListBatches, []byte(`{}`)); err != nil {
		t.Fatalf("reading on a full disk: %v", err)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		id := fmt.Sprintf("after-%d", i)
		submit(t, l, orgProvider, contract.FnCollect, collectReq(id, 100000+i), nil)
		acked = append(acked, id)
	}
	height := l.Height()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.FullVerify = true
	if l, err = Open(cfg); err != nil {
		t.Fatalf("reopen with full verification: %v", err)
	}
	if l.Height() != height {
		t.Fatalf("height %d after reopen, want %d", l.Height(), height)
	}
	for _, id := range acked {
		if _, err := l.Evaluate(context.Background(), orgProvider, contract.FnGetBatch, mustJSON(t, map[string]string{"id": id})); err != nil {
			t.Errorf("acknowledged batch %s: %v", id, err)
		}
	}
	submit(t, l, orgProvider, contract.FnCollect, collectReq("after-reopen", 200000), nil)
}

// mountTmpfs mounts a tmpfs of size on a new temporary directory for the
// test, skipping it when the caller is not root or mounting fails.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounts a small tmpfs to fill it, which needs root (CI runs as root)")
	}
	dir, err := os.MkdirTemp("", "tokentrail-full-")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		os.Remove(dir)
		t.Skipf("cannot mount a tmpfs (%v: %s); this test needs a file system it can fill", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
			return
		}
		os.Remove(dir)
	})
	return dir
}

// fillDisk writes a file in dir until the file system is full and returns
// its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	// Small writes take what the large ones left.
	for {
		if _, err := f.Write(buf[:512]); err != nil {
			break
		}
	}
	return path
}
