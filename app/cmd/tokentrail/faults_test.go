package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokentrail/tokentrail/app/receipt"
)

// Helpers of the fault tests (overload, SIGKILL, full disk) that run the
// real binary.

// answer is one HTTP answer as a fault test records it.
type answer struct {
	status     int // 0: no answer (transport error)
	retryAfter string
	ctype      string
	body       []byte
	took       time.Duration
	err        error
}

// send makes one request as org with client and reads the whole answer.
func (s *server) send(client *http.Client, method, path, org string, body any) answer {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return answer{err: err}
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.url+path, r)
	if err != nil {
		return answer{err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+s.keys[org])
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return answer{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"),
		ctype: resp.Header.Get("Content-Type"), body: b, took: time.Since(start), err: err}
}

// checkRefusal checks that a 503 or 429 is a problem with Retry-After.
func (a answer) checkRefusal() error {
	if a.status != http.StatusServiceUnavailable && a.status != http.StatusTooManyRequests {
		return nil
	}
	if n, err := strconv.Atoi(a.retryAfter); err != nil || n < 1 {
		return fmt.Errorf("%d with Retry-After %q", a.status, a.retryAfter)
	}
	if a.ctype != "application/problem+json" {
		return fmt.Errorf("%d as %q, not problem+json", a.status, a.ctype)
	}
	return nil
}

// rssKiB returns the resident set size of process pid, from /proc.
func rssKiB(pid int) (int64, error) { return statusKiB(pid, "VmRSS") }

// anonKiB returns the anonymous part of pid's resident set (heap and
// stacks): VmRSS without the pages of mapped files, such as the embedded
// ledger's bbolt file, which the kernel keeps or drops as it likes.
func anonKiB(pid int) (int64, error) { return statusKiB(pid, "RssAnon") }

// statusKiB returns the field of /proc/PID/status counted in kB.
func statusKiB(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// peakRSS samples the RSS of pid every 20 ms until stop is closed, and
// returns the largest sample.
func peakRSS(pid int, stop <-chan struct{}) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		var peak int64
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if kb, err := rssKiB(pid); err == nil {
				peak = max(peak, kb)
			}
			select {
			case <-stop:
				out <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// listedBatches pages through GET /api/v1/batches as org and returns every
// batch ID. It retries an answer of 429 or 503 after its Retry-After.
func (s *server) listedBatches(t *testing.T, org string) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	token := ""
	for range 10000 {
		a := s.send(s.client, "GET", "/api/v1/batches?pageSize=500&pageToken="+token, org, nil)
		if a.status == http.StatusTooManyRequests || a.status == http.StatusServiceUnavailable {
			time.Sleep(time.Second)
			continue
		}
		if a.status != http.StatusOK {
			t.Fatalf("list batches: %d %v %s", a.status, a.err, a.body)
		}
		var page struct {
			Items         []struct{ ID string }
			NextPageToken string
		}
		if err := json.Unmarshal(a.body, &page); err != nil {
			t.Fatal(err)
		}
		for _, b := range page.Items {
			ids[b.ID] = true
		}
		if page.NextPageToken == "" {
			return ids
		}
		token = page.NextPageToken
	}
	t.Fatal("list batches: no last page after 10000 pages")
	return nil
}

var faultDigest atomic.Int64

// uniqueCollect is a valid collection of a new batch id.
func uniqueCollect(id string) map[string]any {
	return collectReq(id, int(1_000_000+faultDigest.Add(1)))
}

// TestOverload fires 2,000 concurrent requests — writes as one key, reads as
// another — at a server with small admission limits and a rate limit. Every
// answer must come back, within the client's 20 s, as 201, 200, 429 or 503,
// the refusals as problems with Retry-After; the server must stay up with
// its RSS under 300 MiB; and afterwards every acknowledged write is on the
// ledger.
func TestOverload(t *testing.T) {
	bin := buildBinary(t)
	s := startServer(t, bin, t.TempDir(),
		"--max-inflight-writes", "8", "--max-queued-writes", "16",
		"--max-inflight-reads", "8", "--max-queued-reads", "16", "--queue-wait", "200ms",
		"--rate-limit", "200", "--rate-burst", "1000")
	const (
		total   = 2000
		writes  = 1500 // as ProviderMSP: 1,000 within its burst, then 429s
		rssMiB  = 300
		timeout = 20 * time.Second
	)
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{
		MaxIdleConnsPerHost: total, MaxConnsPerHost: 0, DisableCompression: true}}
	defer client.CloseIdleConnections()

	stopRSS := make(chan struct{})
	peak := peakRSS(s.cmd.Process.Pid, stopRSS)
	start := make(chan struct{})
	answers := make([]answer, total)
	ids := make([]string, total)
	var wg sync.WaitGroup
	for i := range total {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if i < writes {
				ids[i] = fmt.Sprintf("load-%d", i)
				answers[i] = s.send(client, "POST", "/api/v1/batches", "ProviderMSP", uniqueCollect(ids[i]))
			} else {
				answers[i] = s.send(client, "GET", "/api/v1/batches?pageSize=20", "RegulatorMSP", nil)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(stopRSS)

	count := map[int]int{}
	var slowest time.Duration
	for i, a := range answers {
		count[a.status]++
		slowest = max(slowest, a.took)
		switch {
		case a.err != nil:
			t.Errorf("request %d: no answer after %v: %v", i, a.took, a.err)
		case i < writes && a.status != 201 && a.status != 429 && a.status != 503,
			i >= writes && a.status != 200 && a.status != 429 && a.status != 503:
			t.Errorf("request %d: %d %s", i, a.status, a.body)
		}
		if err := a.checkRefusal(); err != nil {
			t.Errorf("request %d: %v", i, err)
		}
	}
	t.Logf("answers by status: %v; slowest %v", count, slowest)
	if count[201] == 0 || count[200] == 0 {
		t.Errorf("no write or no read got through: %v", count)
	}
	if count[503] == 0 {
		t.Errorf("2,000 concurrent requests never met the admission limits: %v", count)
	}
	if count[429] == 0 {
		t.Errorf("1,500 writes by one key never met its rate limit of a 1,000 burst: %v", count)
	}
	if kb := <-peak; kb > rssMiB<<10 {
		t.Errorf("peak RSS %d MiB, over the %d MiB bound", kb>>10, rssMiB)
	} else {
		t.Logf("peak RSS %d MiB", kb>>10)
	}

	// Still up, and every acknowledged write is on the ledger.
	if code, _ := s.call("GET", "/healthz", "", nil); code != 200 {
		t.Fatalf("healthz after the load: %d", code)
	}
	if s.cmd.ProcessState != nil {
		t.Fatalf("the server exited: %v", s.cmd.ProcessState)
	}
	listed := s.listedBatches(t, "AuditorMSP")
	for i, a := range answers[:writes] {
		if a.status == 201 && !listed[ids[i]] {
			t.Errorf("batch %s was acknowledged (201) but is not on the ledger", ids[i])
		}
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *server) kill(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not die within 30 s of SIGKILL")
	}
}

// verifiedOnOpen returns how many blocks the embedded ledger verified when
// the server opened it, from its log.
func verifiedOnOpen(t *testing.T, s *server) int {
	t.Helper()
	for _, line := range strings.Split(s.logs.String(), "\n") {
		var rec struct {
			Msg            string
			VerifiedBlocks *int
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "embedded ledger open" && rec.VerifiedBlocks != nil {
			return *rec.VerifiedBlocks
		}
	}
	t.Fatalf("no \"embedded ledger open\" line with verifiedBlocks in the log:\n%s", s.logs.String())
	return 0
}

// ackedWrite is a write the server acknowledged.
type ackedWrite struct {
	id      string
	eventID string
	receipt json.RawMessage
}

// TestSIGKILLUnderLoad kills the server with SIGKILL at a random moment while
// four clients collect batches, five times, restarting it on the same data
// directory each time. Every start verifies the chain since its last
// checkpoint (a broken one would stop it). At the end every acknowledged
// batch is on the ledger, its receipt as given at write time verifies
// against the ledger's trust anchor (one per round with `tokentrail
// verify`), and the ledger hands out the very same receipt again.
func TestSIGKILLUnderLoad(t *testing.T) {
	bin := buildBinary(t)
	data := t.TempDir()
	const rounds, writers = 5, 4
	var acked []ackedWrite
	for round := range rounds {
		s := startServer(t, bin, data)
		// After a kill there is no checkpoint of the last blocks: the start
		// verifies them.
		if v := verifiedOnOpen(t, s); round > 0 && v == 0 {
			t.Fatalf("round %d: the start after SIGKILL verified no blocks:\n%s", round, s.logs.String())
		}
		var mu sync.Mutex
		var roundAcked []ackedWrite
		var stop atomic.Bool
		var wg sync.WaitGroup
		client := &http.Client{Timeout: 20 * time.Second}
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; !stop.Load(); i++ {
					id := fmt.Sprintf("kill-%d-%d-%d", round, w, i)
					a := s.send(client, "POST", "/api/v1/batches", "ProviderMSP", uniqueCollect(id))
					if a.status != http.StatusCreated {
						if a.status != 0 { // no answer: the kill came first
							t.Errorf("collect %s: %d %s", id, a.status, a.body)
						}
						continue
					}
					var wr written
					if err := json.Unmarshal(a.body, &wr); err != nil || wr.Event == nil || len(wr.Receipt) == 0 {
						t.Errorf("collect %s answered %s", id, a.body)
						continue
					}
					mu.Lock()
					roundAcked = append(roundAcked, ackedWrite{id: id, eventID: wr.Event.EventID, receipt: wr.Receipt})
					mu.Unlock()
				}
			}()
		}
		// Kill once some writes are acknowledged, at a random moment after.
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			n := len(roundAcked)
			mu.Unlock()
			if n > 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(time.Duration(100+rand.IntN(900)) * time.Millisecond)
		s.kill(t)
		stop.Store(true)
		wg.Wait()
		client.CloseIdleConnections()
		if len(roundAcked) == 0 {
			t.Fatalf("round %d: no write was acknowledged", round)
		}
		t.Logf("round %d: %d writes acknowledged before SIGKILL", round, len(roundAcked))
		acked = append(acked, roundAcked...)
	}

	s := startServer(t, bin, data)
	var info struct{ TrustAnchor string }
	ledgerJSON := s.must(200, "GET", "/api/v1/ledger", "AuditorMSP", nil, &info)
	anchor := []byte(info.TrustAnchor)
	listed := s.listedBatches(t, "AuditorMSP")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ledger.json"), ledgerJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	for i, w := range acked {
		if !listed[w.id] {
			t.Errorf("batch %s was acknowledged but is not on the ledger after %d kills", w.id, rounds)
			continue
		}
		if _, err := receipt.Verify(w.receipt, anchor); err != nil {
			t.Errorf("receipt of %s: %v", w.id, err)
		}
		// Every hundredth receipt also through the CLI and the API.
		if i%100 == 0 {
			path := filepath.Join(dir, "receipt.json")
			if err := os.WriteFile(path, w.receipt, 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(bin, "verify", "--trust", filepath.Join(dir, "ledger.json"), path).CombinedOutput(); err != nil {
				t.Errorf("tokentrail verify, receipt of %s: %v\n%s", w.id, err, out)
			}
			again := s.must(200, "GET", "/api/v1/events/"+w.eventID+"/receipt", "AuditorMSP", nil, nil)
			if !bytes.Equal(bytes.TrimSpace(again), bytes.TrimSpace(w.receipt)) {
				t.Errorf("the ledger's receipt of %s differs from the one given at write time", w.id)
			}
		}
	}
	t.Logf("%d acknowledged writes over %d kills: all on the ledger, receipts verified", len(acked), rounds)
}

// TestDiskFull runs the server with its data directory on a 16 MiB tmpfs and
// fills the file system: writes are answered 503 with Retry-After (never
// 500), the server stays up and answers reads; once the filler is removed
// writes succeed again, and after a restart — which verifies the chain —
// every acknowledged write is still there. It mounts a tmpfs, so it needs
// root; CI runs as root.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounts a small tmpfs to fill it, which needs root (CI runs as root)")
	}
	bin := buildBinary(t)
	mnt, err := os.MkdirTemp("", "tokentrail-full-")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt).CombinedOutput(); err != nil {
		os.Remove(mnt)
		t.Skipf("cannot mount a tmpfs (%v: %s); this test needs a file system it can fill", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
			return
		}
		os.Remove(mnt)
	})
	data := filepath.Join(mnt, "data")
	s := startServer(t, bin, data)
	var acked []string
	for i := range 5 {
		id := fmt.Sprintf("before-%d", i)
		s.must(201, "POST", "/api/v1/batches", "ProviderMSP", uniqueCollect(id), nil)
		acked = append(acked, id)
	}

	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for n := len(buf); n >= 512; n /= 2 {
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				break
			}
		}
	}
	f.Close()

	var refused answer
	for i := 0; i < 5000; i++ {
		id := fmt.Sprintf("full-%d", i)
		a := s.send(s.client, "POST", "/api/v1/batches", "ProviderMSP", uniqueCollect(id))
		if a.status == http.StatusCreated {
			acked = append(acked, id)
			continue
		}
		refused = a
		break
	}
	if refused.status != http.StatusServiceUnavailable {
		t.Fatalf("a write on the full disk: %d %v %s, want 503", refused.status, refused.err, refused.body)
	}
	if err := refused.checkRefusal(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d writes acknowledged in all; on the full disk: %d %s", len(acked), refused.status, refused.body)
	for range 3 { // and it keeps answering so
		a := s.send(s.client, "POST", "/api/v1/batches", "ProviderMSP", uniqueCollect("still-full"))
		if a.status != http.StatusServiceUnavailable || a.checkRefusal() != nil {
			t.Fatalf("another write on the full disk: %d %s", a.status, a.body)
		}
	}
	s.must(200, "GET", "/healthz", "", nil, nil)
	s.must(200, "GET", "/api/v1/batches/"+acked[0], "ProviderMSP", nil, nil)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		id := fmt.Sprintf("after-%d", i)
		s.must(201, "POST", "/api/v1/batches", "ProviderMSP", uniqueCollect(id), nil)
		acked = append(acked, id)
	}
	if err := s.stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, s.logs.String())
	}
	s = startServer(t, bin, data)
	listed := s.listedBatches(t, "AuditorMSP")
	for _, id := range acked {
		if !listed[id] {
			t.Errorf("acknowledged batch %s is missing after the restart", id)
		}
	}
	s.must(201, "POST", "/api/v1/batches", "ProviderMSP", uniqueCollect("after-restart"), nil)
}
