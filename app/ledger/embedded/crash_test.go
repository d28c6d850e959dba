package embedded

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokentrail/tokentrail/app/receipt"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// The crash and lock tests run this test binary again as a child process
// that writes to (or holds) a ledger; these variables tell the child what to do.
const (
	envChildMode = "TOKENTRAIL_TEST_CHILD" // "write" or "hold"
	envChildDir  = "TOKENTRAIL_TEST_DIR"
	envChildRun  = "TOKENTRAIL_TEST_RUN"
)

// TestChildProcess is not a test: it is the child's body, and skips when
// run normally.
func TestChildProcess(t *testing.T) {
	mode := os.Getenv(envChildMode)
	if mode == "" {
		t.Skip("runs only as a child of TestCrashSafety or TestSecondProcessIsRefused")
	}
	l, err := Open(Config{Dir: os.Getenv(envChildDir)})
	if err != nil {
		fmt.Printf("OPEN-ERROR %v\n", err)
		os.Exit(3)
	}
	fmt.Println("OPEN")
	switch mode {
	case "hold":
		time.Sleep(time.Minute)
	case "write":
		childWrite(l, os.Getenv(envChildRun))
	}
	os.Exit(0)
}

// childWrite submits until killed and prints "ACK <txID> <block>" for each
// acknowledged write, only after Submit returned.
func childWrite(l *Ledger, run string) {
	ctx := context.Background()
	tolerate := func(err error) {
		var ce *contract.Error
		if err != nil && !(errors.As(err, &ce) && ce.Kind == contract.KindConflict) {
			fmt.Printf("ERROR %v\n", err)
			os.Exit(4)
		}
	}
	// Setup may have been cut short by an earlier kill: redo what is missing.
	sub := func(org, fn string, req any, transient map[string][]byte) {
		b, _ := json.Marshal(req)
		_, err := l.Submit(ctx, org, fn, b, transient)
		tolerate(err)
	}
	sub(orgRegulator, contract.FnBootstrap, contract.BootstrapRequest{Name: "Regulator", Region: "CN"}, nil)
	for _, p := range []contract.RegisterParticipantRequest{
		{MSPID: orgProvider, Name: "Provider", Roles: []string{"provider"}, Region: "CN"},
		{MSPID: orgExchange, Name: "Exchange", Roles: []string{"exchange"}, Region: "CN"},
		{MSPID: orgConsumer, Name: "Consumer", Roles: []string{"consumer"}, Region: "CN"},
	} {
		sub(orgRegulator, contract.FnRegisterParticipant, p, nil)
	}
	sub(orgProvider, contract.FnCollect, collectReq("base", 0), nil)

	var out sync.Mutex
	ack := func(txID string, block uint64) {
		out.Lock()
		fmt.Printf("ACK %s %d\n", txID, block)
		out.Unlock()
	}
	var wg sync.WaitGroup
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				b, _ := json.Marshal(collectReq(fmt.Sprintf("c-%s-%d-%d", run, g, i), i))
				res, err := l.Submit(ctx, orgProvider, contract.FnCollect, b, nil)
				if err != nil {
					fmt.Printf("ERROR %v\n", err)
					os.Exit(4)
				}
				ack(res.TxID, res.Block)
			}
		}()
	}
	for i := 0; ; i++ {
		var trades []contract.TradeRequest
		var terms []contract.Terms
		for j := 0; j < 5; j++ {
			trades = append(trades, tradeReq(fmt.Sprintf("t-%s-%d-%d", run, i, j), "base"))
			terms = append(terms, contract.Terms{UnitPrice: 10, Currency: "CNY", PriceUnit: "1M tokens"})
		}
		b, _ := json.Marshal(contract.BulkTradeRequest{Trades: trades})
		tb, _ := json.Marshal(terms)
		res, err := l.Submit(ctx, orgExchange, contract.FnTradeBulk, b, map[string][]byte{contract.TransientTerms: tb, contract.TransientSalts: randomSalts(len(terms))})
		if err != nil {
			fmt.Printf("ERROR %v\n", err)
			os.Exit(4)
		}
		ack(res.TxID, res.Block)
	}
}

type child struct {
	cmd   *exec.Cmd
	lines chan string
}

func startChild(t *testing.T, mode, dir string, run int) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envChildMode+"="+mode, envChildDir+"="+dir, envChildRun+"="+strconv.Itoa(run))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, lines: make(chan string, 1<<16)}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() { // a line cut short by the kill has no newline and is dropped
			c.lines <- sc.Text()
		}
	}()
	return c
}

// kill sends SIGKILL and returns every complete line the child printed.
func (c *child) kill(t *testing.T) []string {
	t.Helper()
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for l := range c.lines {
		lines = append(lines, l)
	}
	_ = c.cmd.Wait()
	return lines
}

// TestCrashSafety kills a process writing to the ledger with SIGKILL at
// random points, again and again. After each kill the ledger must open (its
// chain verifies), hold every write the child saw acknowledged, in the block
// it was acknowledged with, and its state must agree with its blocks: every
// event of every committed transaction is in the state, and the state holds
// no batch that no committed transaction created.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	const runs = 24
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	acked := map[string]uint64{} // txID → block
	withAcks := 0
	for run := 0; run < runs; run++ {
		c := startChild(t, "write", dir, run)
		var lines []string
		if run%6 == 5 {
			// Kill anywhere from start-up on: during open, key creation or setup.
			time.Sleep(time.Duration(rng.IntN(60)) * time.Millisecond)
			lines = c.kill(t)
		} else {
			// Kill at a random moment once writes are flowing.
			for first := range c.lines {
				lines = append(lines, first)
				if strings.HasPrefix(first, "ACK ") || strings.HasPrefix(first, "ERROR") {
					break
				}
			}
			time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
			lines = append(lines, c.kill(t)...)
		}
		runAcks := map[string]uint64{}
		for _, line := range lines {
			f := strings.Fields(line)
			switch {
			case len(f) == 3 && f[0] == "ACK":
				n, err := strconv.ParseUint(f[2], 10, 64)
				if err != nil {
					t.Fatalf("child printed %q", line)
				}
				runAcks[f[1]] = n
				acked[f[1]] = n
			case strings.HasPrefix(line, "ERROR"), strings.HasPrefix(line, "OPEN-ERROR"):
				t.Fatalf("run %d: child: %s", run, line)
			}
		}
		if len(runAcks) > 0 {
			withAcks++
		}
		checkAfterCrash(t, dir, acked, runAcks, run == runs-1)
	}
	if len(acked) < runs || withAcks < runs/2 {
		t.Fatalf("only %d acknowledged writes in %d of %d runs: the test proved little", len(acked), withAcks, runs)
	}
	t.Logf("%d runs, %d acknowledged writes, all present", runs, len(acked))
}

func checkAfterCrash(t *testing.T, dir string, acked, runAcks map[string]uint64, final bool) {
	t.Helper()
	l, err := Open(Config{Dir: dir, FullVerify: final})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer l.Close()
	ctx := context.Background()

	// Every acknowledged write is in the block it was acknowledged with.
	inBlock := map[string]uint64{}
	collected := map[string]bool{}
	var events []string
	err = l.Blocks(1, func(b BlockView) bool {
		for _, tx := range b.Txs {
			inBlock[tx.TxID] = b.Number
			if tx.Payload == nil {
				continue
			}
			var w contract.WriteEvent
			if err := json.Unmarshal(tx.Payload, &w); err != nil {
				t.Fatalf("block %d: %v", b.Number, err)
			}
			for _, e := range w.Events {
				events = append(events, e.EventID)
				if e.Type == contract.EventCollected {
					collected[e.BatchID] = true
				}
			}
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	for tx, n := range acked {
		if got, ok := inBlock[tx]; !ok || got != n {
			t.Fatalf("acknowledged tx %s (block %d) lost after a kill: found %v in block %d", tx, n, ok, got)
		}
	}
	// The latest run's receipts verify against the node key.
	checked := 0
	for tx := range runAcks {
		if checked == 20 {
			break
		}
		checked++
		doc, err := l.Receipt(ctx, tx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := receipt.Verify(doc, []byte(l.TrustAnchor())); err != nil {
			t.Fatalf("receipt of %s: %v", tx, err)
		}
	}
	// No partial transaction: every event of every committed transaction is
	// in the state, and the state holds exactly the committed batches.
	for _, id := range events {
		if _, err := l.Evaluate(ctx, orgRegulator, contract.FnGetEvent, mustJSON(t, contract.IDRequest{ID: id})); err != nil {
			t.Fatalf("event %s of a committed transaction: %v", id, err)
		}
	}
	inState := 0
	req := contract.ListBatchesRequest{PageRequest: contract.PageRequest{PageSize: contract.MaxPageSize}}
	for {
		out, err := l.Evaluate(ctx, orgRegulator, contract.FnListBatches, mustJSON(t, req))
		if err != nil {
			t.Fatal(err)
		}
		var page contract.Page[contract.BatchView]
		if err := json.Unmarshal(out, &page); err != nil {
			t.Fatal(err)
		}
		for _, b := range page.Items {
			if !collected[b.ID] {
				t.Fatalf("batch %s is in the state but no committed transaction created it", b.ID)
			}
			inState++
		}
		if page.NextPageToken == "" {
			break
		}
		req.PageToken = page.NextPageToken
	}
	if inState != len(collected) {
		t.Fatalf("%d batches in the state, %d created by committed transactions", inState, len(collected))
	}
}

// TestSecondProcessIsRefused holds the data directory in a child process:
// opening it here must fail clearly, and succeed once the child is killed.
func TestSecondProcessIsRefused(t *testing.T) {
	dir := t.TempDir()
	c := startChild(t, "hold", dir, 0)
	if line, ok := <-c.lines; !ok || line != "OPEN" {
		c.kill(t)
		t.Fatalf("child did not open the ledger: %q", line)
	}
	_, err := Open(Config{Dir: dir, LockTimeout: 100 * time.Millisecond})
	c.kill(t)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("open while another process holds the directory: %v", err)
	}
	l, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatalf("open after the holder died: %v", err)
	}
	l.Close()
}
