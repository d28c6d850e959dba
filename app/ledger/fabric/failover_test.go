package fabric

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/tokentrail/tokentrail/app/ledger"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// TestFabricPrivateData records a trade with private terms and reads it
// back on every peer: the regulator's and the exchange's peers hold the
// terms, the auditor's and the provider's do not, neither in what the
// contract reads there nor anywhere in their files. A regulator whose
// configured gateway is the auditor's peer still reads the terms, because
// the ledger sends reads that may carry terms only through member peers.
func TestFabricPrivateData(t *testing.T) {
	cfg := fabricConfig(t)
	n := readNetwork(t)
	l := openConfig(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	run := fmt.Sprintf("pd%d", time.Now().UnixNano())
	batch := run + "-b"
	if err := collectBatch(ctx, l, batch); err != nil {
		t.Fatal(err)
	}
	if _, err := assessBatch(ctx, l, "AuditorMSP", batch, "private data test", 80); err != nil {
		t.Fatal(err)
	}
	// Upper-case letters only: a string that appears nowhere else in a
	// peer's files, so the file scan below cannot match something else.
	ref := "SETTLE" + upperRandom(24)
	want := contract.Terms{UnitPrice: 12.5, Currency: "CNY", PriceUnit: "1M tokens", SettlementRef: ref}
	tradeID := run + "-t"
	req, _ := json.Marshal(contract.TradeRequest{TradeID: tradeID, BatchID: batch, Seller: "ProviderMSP", Buyer: "ConsumerMSP",
		Tokens: 10_000, Rights: "licence", Purposes: []string{"research"}})
	terms, _ := json.Marshal(want)
	salt := make([]byte, contract.SaltSize)
	rand.Read(salt)
	res, err := l.Submit(ctx, "ExchangeMSP", contract.FnTrade, req, map[string][]byte{contract.TransientTerms: terms, contract.TransientSalts: salt})
	if err != nil {
		t.Fatalf("record the trade: %v", err)
	}
	list, _ := json.Marshal(contract.ListTradesRequest{BatchID: batch})
	findTrade := func(raw []byte) (contract.Trade, bool) {
		var page contract.Page[contract.Trade]
		if err := json.Unmarshal(raw, &page); err != nil {
			t.Fatalf("ListTrades answer %s: %v", raw, err)
		}
		for _, tr := range page.Items {
			if tr.TradeID == tradeID {
				if tr.TxID != res.TxID {
					t.Fatalf("trade %s has txId %s, the write returned %s", tradeID, tr.TxID, res.TxID)
				}
				return tr, true
			}
		}
		return contract.Trade{}, false
	}
	checkTerms := func(where string, tr contract.Trade, present bool) {
		t.Helper()
		switch {
		case present && tr.Terms == nil:
			t.Errorf("%s: the trade has no terms", where)
		case present && *tr.Terms != want:
			t.Errorf("%s: terms %+v, want %+v", where, *tr.Terms, want)
		case !present && tr.Terms != nil:
			t.Errorf("%s: the trade carries terms %+v", where, *tr.Terms)
		default:
			t.Logf("%s: terms %s", where, map[bool]string{true: "present", false: "absent"}[present])
		}
	}

	// Through the ledger, as the app reads.
	for _, org := range []string{"RegulatorMSP", "ExchangeMSP", "AuditorMSP"} {
		raw, err := l.Evaluate(ctx, org, contract.FnListTrades, list)
		if err != nil {
			t.Fatalf("ListTrades as %s: %v", org, err)
		}
		tr, ok := findTrade(raw)
		if !ok {
			t.Fatalf("ListTrades as %s: trade %s missing", org, tradeID)
		}
		// The contract gives terms to the regulator and the trade's exchange only.
		checkTerms("ledger, as "+org, tr, org != "AuditorMSP")
	}

	// On each peer, as the regulator (entitled to every trade's terms): only
	// the members of the collection hold them. A peer that has not yet
	// committed the trade's block is asked again.
	onPeer := func(org, peer string) contract.Trade {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			raw, err := evalOn(ctx, through(t, l, org, peer), n.Peers[peer].MSPID, contract.FnListTrades, contract.ListTradesRequest{BatchID: batch})
			if err != nil {
				t.Fatalf("ListTrades as %s on %s: %v", org, peer, err)
			}
			if tr, ok := findTrade(raw); ok {
				return tr
			}
			if time.Now().After(deadline) {
				t.Fatalf("ListTrades as %s on %s: trade %s missing after 15 s", org, peer, tradeID)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	members := 0
	for _, peer := range n.peerNames() {
		member := slices.Contains(cfg.PrivateDataOrganizations, n.Peers[peer].MSPID)
		if member {
			members++
		}
		checkTerms("RegulatorMSP on "+peer, onPeer("RegulatorMSP", peer), member)
	}
	if members == 0 || members == len(n.Peers) {
		t.Fatalf("%d of %d peers belong to %v: the test needs members and non-members", members, len(n.Peers), cfg.PrivateDataOrganizations)
	}
	exchangePeer := n.peerOf("ExchangeMSP")
	checkTerms("ExchangeMSP on "+exchangePeer, onPeer("ExchangeMSP", exchangePeer), true)

	// The regulator configured with the auditor's peer as its gateway.
	auditorPeer := n.peerOf("AuditorMSP")
	cfg2 := cfg
	cfg2.Identities = slices.Clone(cfg.Identities)
	for i := range cfg2.Identities {
		if cfg2.Identities[i].MSPID == "RegulatorMSP" {
			cfg2.Identities[i].GatewayPeer = auditorPeer
		}
	}
	l2 := openConfig(t, cfg2)
	route := l2.routes["RegulatorMSP"]
	if route[0].peer != auditorPeer {
		t.Fatalf("the regulator's first gateway is %s, want %s", route[0].peer, auditorPeer)
	}
	// Evaluated on the gateway peer, as any query without a target is: the
	// auditor's peer answers with the trade and without its terms.
	raw, err := route[0].contract.EvaluateWithContext(ctx, contract.FnListTrades, client.WithBytesArguments(list))
	if err != nil {
		t.Fatalf("ListTrades as RegulatorMSP through %s: %v", auditorPeer, err)
	}
	if tr, ok := findTrade(raw); !ok {
		t.Fatalf("ListTrades as RegulatorMSP through %s: trade missing", auditorPeer)
	} else {
		checkTerms("RegulatorMSP through "+auditorPeer+" (gateway call)", tr, false)
	}
	// The ledger keeps that read off the auditor's peer.
	for _, g := range l2.privateRoute(route) {
		if g.peer == auditorPeer {
			t.Fatalf("the private route of the regulator includes %s", auditorPeer)
		}
	}
	raw, err = l2.Evaluate(ctx, "RegulatorMSP", contract.FnListTrades, list)
	if err != nil {
		t.Fatal(err)
	}
	if tr, ok := findTrade(raw); !ok {
		t.Fatal("ListTrades through the second ledger: trade missing")
	} else {
		checkTerms("ledger with the regulator's gateway on "+auditorPeer, tr, true)
	}

	// The peers' files: the settlement reference is stored by the members
	// (private state, private data store, transient store) and nowhere on the
	// others. The members' hits show the scan can find it.
	for _, peer := range n.peerNames() {
		member := slices.Contains(cfg.PrivateDataOrganizations, n.Peers[peer].MSPID)
		files, found := scanFiles(t, filepath.Join(n.dir, "data", peer), []byte(ref))
		switch {
		case member && len(found) == 0:
			t.Errorf("%s: the settlement reference is in none of its %d files", peer, files)
		case !member && len(found) > 0:
			t.Errorf("%s holds the private terms: %v", peer, found)
		default:
			t.Logf("%s: settlement reference in %d of %d files %v", peer, len(found), files, found)
		}
	}
}

// scanFiles returns how many files lie under dir and which contain needle.
func scanFiles(t *testing.T, dir string, needle []byte) (int, []string) {
	t.Helper()
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("peer data directory: %v", err)
	}
	count := 0
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return err
		}
		count++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, needle) {
			rel, _ := filepath.Rel(dir, path)
			found = append(found, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return count, found
}

func upperRandom(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = 'A' + b[i]%26
	}
	return string(b)
}

// TestFabricResubmitSameEnvelope submits one endorsed transaction, then
// the very same signed envelope again, through another gateway peer, as the
// ledger does after a commit-status timeout or a lost gateway. The second
// submission reports the first one's status and block, and the history
// holds the event once: the peers invalidate the copy as a duplicate.
func TestFabricResubmitSameEnvelope(t *testing.T) {
	l := openConfig(t, fabricConfig(t))
	n := readNetwork(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := fmt.Sprintf("rs%d", time.Now().UnixNano())
	batch := run + "-b"
	if err := collectBatch(ctx, l, batch); err != nil {
		t.Fatal(err)
	}
	score := 70.0
	args, _ := json.Marshal(contract.AssessRequest{BatchID: batch, Score: &score, Method: run + "-once"})
	route := l.routes["AuditorMSP"]
	tx, gw, err := l.endorse(ctx, route, contract.FnAssess, []client.ProposalOption{client.WithBytesArguments(args)})
	if err != nil {
		t.Fatal(err)
	}
	first, err := l.commit(ctx, route, gw, tx)
	if err != nil {
		t.Fatal(err)
	}
	envelope, err := tx.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	other, err := route[1].gw.NewTransaction(envelope)
	if err != nil {
		t.Fatal(err)
	}
	second, err := l.commit(ctx, route[1:], 0, other)
	if err != nil {
		t.Fatal(err)
	}
	if !second.Successful || second.BlockNumber != first.BlockNumber || second.TransactionID != first.TransactionID {
		t.Fatalf("second submission: %+v, first: %+v", second, first)
	}
	// A later write orders after the copy; then the history is final.
	laterTx, err := assessBatch(ctx, l, "AuditorMSP", batch, run+"-later", 71)
	if err != nil {
		t.Fatal(err)
	}
	// The copy is in a later block, invalidated as a duplicate.
	copies := 0
	for b := first.BlockNumber + 1; ; b++ {
		raw, err := route[0].qscc.EvaluateWithContext(ctx, "GetBlockByNumber", client.WithArguments(l.cfg.Channel, fmt.Sprint(b)))
		if err != nil {
			t.Fatalf("block %d: %v", b, err)
		}
		codes := blockTxs(t, raw)
		if c, ok := codes[tx.TransactionID()]; ok {
			copies++
			if c != peer.TxValidationCode_DUPLICATE_TXID {
				t.Errorf("the copy in block %d is %s, want DUPLICATE_TXID", b, c)
			}
		}
		if _, ok := codes[laterTx]; ok {
			break
		}
	}
	// Raft orders the copy again and the peers mark it DUPLICATE_TXID; BFT
	// orderers refuse a transaction they have ordered before, so there is
	// no copy, and the second submission reads the first one's status.
	want := 1
	if n.OrdererType == "BFT" {
		want = 0
	}
	if copies != want {
		t.Errorf("%d copies of the transaction after block %d, want %d (%s ordering)", copies, first.BlockNumber, want, n.OrdererType)
	}
	for _, g := range []*orgGateway{route[0], route[1]} {
		events, err := historyOn(ctx, g, n.Peers[g.peer].MSPID, batch)
		if err != nil {
			t.Fatal(err)
		}
		count := 0
		for _, e := range events {
			if e.Assessed != nil && e.Assessed.Method == run+"-once" {
				count++
				if e.TxID != tx.TransactionID() {
					t.Errorf("%s: the event has tx %s, want %s", g.peer, e.TxID, tx.TransactionID())
				}
			}
		}
		if count != 1 {
			t.Errorf("%s: the write submitted twice is in the history %d times", g.peer, count)
		}
	}
	t.Logf("tx %s committed in block %d; the same envelope submitted again through %s reported block %d; %d copies ordered (%s)",
		tx.TransactionID(), first.BlockNumber, route[1].peer, second.BlockNumber, copies, n.OrdererType)
}

// blockTxs returns the validation code of each transaction of a block by
// its ID.
func blockTxs(t *testing.T, raw []byte) map[string]peer.TxValidationCode {
	t.Helper()
	var block common.Block
	if err := proto.Unmarshal(raw, &block); err != nil {
		t.Fatal(err)
	}
	filter := block.GetMetadata().GetMetadata()[common.BlockMetadataIndex_TRANSACTIONS_FILTER]
	out := map[string]peer.TxValidationCode{}
	for i, d := range block.GetData().GetData() {
		var env common.Envelope
		var payload common.Payload
		var ch common.ChannelHeader
		if proto.Unmarshal(d, &env) != nil || proto.Unmarshal(env.GetPayload(), &payload) != nil ||
			proto.Unmarshal(payload.GetHeader().GetChannelHeader(), &ch) != nil || i >= len(filter) {
			t.Fatalf("block %d: transaction %d does not decode", block.GetHeader().GetNumber(), i)
		}
		out[ch.GetTxId()] = peer.TxValidationCode(filter[i])
	}
	return out
}

// TestFabricFaults drives concurrent writes and reads through the ledger
// while nodes fail, one after another: the auditor's peer (SIGKILL, started
// again after [retryWindow] and more, so that the auditor's calls succeed
// only through other peers), the chaincode server (SIGKILL, started again), and
// then the orderers. With Raft: the leader (SIGKILL; started again after the
// new leader took over) and a follower (SIGKILL, started again). With BFT
// (four orderers, f = 1): the leader (SIGKILL; started again after the view
// change), then two followers at once, past what BFT tolerates: no block is
// ordered and a write with a short deadline fails as unavailable (503), never
// with a wrong answer; one of them is started and writes resume before the
// other is started. Each write is an assessment
// with a method of its own; assessments are not idempotent, so a write
// recorded twice would show as two events. Afterwards, on every peer, each
// acknowledged write is in its batch's history exactly once, with the
// transaction ID the write returned, and each failed write at most once.
func TestFabricFaults(t *testing.T) {
	cfg := fabricConfig(t)
	n := readNetwork(t)
	// A lost transaction costs one commit timeout before it is submitted
	// again; 10 s keeps the run short and stays well above the commit
	// latency under this load.
	cfg.CommitTimeout = Duration(10 * time.Second)
	cfg.SubmitDeadline = Duration(90 * time.Second)
	logs := &countingHandler{counts: map[string]int{}}
	l, err := Open(cfg, slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	// Whatever happens, every node runs again afterwards, so that later
	// tests find a whole network.
	t.Cleanup(func() { restoreNetwork(t, l, n) })

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	began := time.Now()
	run := fmt.Sprintf("flt%d", time.Now().UnixNano())

	const writers = 12
	const pace = 200 * time.Millisecond // between one writer's writes
	const maxPerWriter = 400
	writerOrgs := []string{"ProcessorMSP", "AuditorMSP", "ExchangeMSP"}
	batches := make([]string, writers)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		batches[w] = fmt.Sprintf("%s-b%02d", run, w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := collectBatch(ctx, l, batches[w]); err != nil {
				errs <- fmt.Errorf("collect %s: %w", batches[w], err)
				return
			}
			// A processor assesses only what it may read: the provider
			// gives it a copy first.
			if org := writerOrgs[w%len(writerOrgs)]; org == "ProcessorMSP" {
				if err := circulateBatch(ctx, l, batches[w], org); err != nil {
					errs <- fmt.Errorf("circulate %s to %s: %w", batches[w], org, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// A write returns once its gateway peer committed it; the writers'
	// peers may be a block behind. Start when every peer has the batches.
	waitSameHeight(ctx, t, l, n, "RegulatorMSP", 0, 30*time.Second)
	base := l.stats.snapshot()

	type write struct {
		batch, method, txID string
		err                 error
		start, end          time.Time
		probe               bool // the deliberate write while ordering is stopped
	}
	type read struct {
		org      string
		at, done time.Time
		err      error
	}
	var mu sync.Mutex
	var writes []write
	var reads []read
	stop := make(chan struct{})
	var writersWG, readersWG sync.WaitGroup
	for w := range writers {
		writersWG.Add(1)
		go func() {
			defer writersWG.Done()
			org := writerOrgs[w%len(writerOrgs)]
			for i := range maxPerWriter {
				select {
				case <-stop:
					return
				default:
				}
				method := fmt.Sprintf("%s-w%02d-%04d", run, w, i)
				start := time.Now()
				txID, err := assessBatch(ctx, l, org, batches[w], method, float64(i%101))
				mu.Lock()
				writes = append(writes, write{batches[w], method, txID, err, start, time.Now(), false})
				mu.Unlock()
				time.Sleep(pace)
			}
		}()
	}
	for r, org := range []string{"AuditorMSP", "RegulatorMSP"} {
		readersWG.Add(1)
		go func() {
			defer readersWG.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				args, _ := json.Marshal(contract.HistoryRequest{BatchID: batches[(i+r)%writers], PageRequest: contract.PageRequest{PageSize: 5}})
				at := time.Now()
				_, err := l.Evaluate(ctx, org, contract.FnHistory, args)
				mu.Lock()
				reads = append(reads, read{org, at, time.Now(), err})
				mu.Unlock()
			}
		}()
	}

	type phase struct {
		name       string
		start, end time.Time
	}
	var phases []phase
	sleep := func(d time.Duration) {
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
	fault := func(name string, f func()) {
		p := phase{name: name, start: time.Now()}
		f()
		p.end = time.Now()
		phases = append(phases, p)
		sleep(8 * time.Second) // load on the whole network again
	}
	sleep(5 * time.Second)

	auditorPeer := n.peerOf("AuditorMSP")
	fault("peer "+auditorPeer+" killed and started", func() {
		mustNetctl(t, "kill", auditorPeer)
		// Down for longer than a call is retried through the same peers: the
		// auditor's reads and writes succeed only through another peer.
		sleep(retryWindow + 5*time.Second)
		mustNetctl(t, "start", auditorPeer)
	})
	cc := "cc-" + n.Chaincode
	fault("chaincode server killed and started", func() {
		mustNetctl(t, "kill", cc)
		sleep(2 * time.Second)
		mustNetctl(t, "start", cc)
	})
	var election time.Duration
	var oldLeader, newLeader string
	// newLeaderAfter waits up to limit for a leader other than old.
	newLeaderAfter := func(old string, killed time.Time, limit time.Duration) {
		for time.Since(killed) < limit {
			if out, err := netctl(ctx, "leader"); err == nil && out != old {
				newLeader, election = out, time.Since(killed)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("no new %s leader %s after %s was killed", n.OrdererType, limit, old)
	}
	var stalledHeight [2]uint64
	var stalled phase // while two BFT orderers were down
	var resumedAfter time.Duration
	if n.OrdererType == "BFT" {
		fault("BFT leader killed, started after the view change", func() {
			oldLeader = mustNetctl(t, "leader")
			killed := time.Now()
			mustNetctl(t, "kill", oldLeader)
			// Followers replace a silent leader after LeaderHeartbeatTimeout
			// or when a forwarded request is not ordered in time.
			newLeaderAfter(oldLeader, killed, 60*time.Second)
			sleep(8 * time.Second) // three orderers of four under load
			mustNetctl(t, "start", oldLeader)
		})
		fault("two BFT orderers killed (past f = 1), started one after the other", func() {
			leader := mustNetctl(t, "leader")
			var down []string
			for _, o := range sortedOrderers(n) {
				if o != leader && len(down) < 2 {
					down = append(down, o)
				}
			}
			for _, o := range down {
				mustNetctl(t, "kill", o)
			}
			stalled.start = time.Now()
			sleep(3 * time.Second) // blocks ordered before the kill reach the peers
			h0, err := heightOn(ctx, l.routes["RegulatorMSP"][0], "RegulatorMSP", n.Channel)
			if err != nil {
				t.Errorf("height while two orderers are down: %v", err)
			}
			// A write with a short deadline fails as unavailable.
			pctx, pcancel := context.WithTimeout(ctx, 8*time.Second)
			method := run + "-probe"
			start := time.Now()
			txID, perr := assessBatch(pctx, l, "ExchangeMSP", batches[0], method, 50)
			pcancel()
			mu.Lock()
			writes = append(writes, write{batches[0], method, txID, perr, start, time.Now(), true})
			mu.Unlock()
			if !errors.Is(perr, ledger.ErrUnavailable) {
				t.Errorf("a write while two of four BFT orderers are down: %v, want ledger.ErrUnavailable", perr)
			}
			h1, err := heightOn(ctx, l.routes["RegulatorMSP"][0], "RegulatorMSP", n.Channel)
			if err != nil {
				t.Errorf("height while two orderers are down: %v", err)
			}
			stalledHeight = [2]uint64{h0, h1}
			if h1 != h0 {
				t.Errorf("blocks %d..%d were ordered while two of four BFT orderers were down", h0, h1-1)
			}
			stalled.end = time.Now()
			mustNetctl(t, "start", down[0])
			// Writes resume with three of four before the fourth returns.
			// The orderer that comes back catches up and the stalled view
			// change completes first: 33 and 59 s in the runs measured.
			restarted := time.Now()
			for time.Since(restarted) < 120*time.Second {
				if h, err := heightOn(ctx, l.routes["RegulatorMSP"][0], "RegulatorMSP", n.Channel); err == nil && h > h1 {
					resumedAfter = time.Since(restarted)
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			if resumedAfter == 0 {
				t.Errorf("no block ordered within 120 s of %s coming back (three of four orderers)", down[0])
			}
			sleep(5 * time.Second)
			mustNetctl(t, "start", down[1])
		})
	} else {
		fault("Raft leader killed, started after the election", func() {
			oldLeader = mustNetctl(t, "leader")
			killed := time.Now()
			mustNetctl(t, "kill", oldLeader)
			newLeaderAfter(oldLeader, killed, 30*time.Second)
			sleep(8 * time.Second) // two orderers of three under load
			mustNetctl(t, "start", oldLeader)
		})
		fault("follower orderer killed and started", func() {
			leader := mustNetctl(t, "leader")
			var follower string
			for o := range n.Orderers {
				if o != leader && (follower == "" || o < follower) {
					follower = o
				}
			}
			mustNetctl(t, "kill", follower)
			sleep(5 * time.Second)
			mustNetctl(t, "start", follower)
		})
	}
	close(stop)
	readersWG.Wait()
	writersWG.Wait()
	loadEnd := time.Now()
	if ctx.Err() != nil {
		t.Fatalf("the run outlasted its deadline: %v", ctx.Err())
	}

	// Every node runs again; wait until every peer has every block.
	for _, node := range n.nodes() {
		if _, err := netctl(ctx, "start", node); err != nil {
			t.Fatal(err)
		}
	}
	height := waitSameHeight(ctx, t, l, n, "RegulatorMSP", 0, time.Minute)

	// Each write against each peer's copy of its batch's history.
	acked, failed := 0, 0
	byMethod := map[string]write{}
	probeFailed := 0
	for _, w := range writes {
		byMethod[w.method] = w
		switch {
		case w.err == nil:
			acked++
		case w.probe:
			probeFailed++
		default:
			failed++
		}
	}
	var reference map[string][]contract.Event
	failedRecorded := 0
	for _, peer := range n.peerNames() {
		g := through(t, l, "RegulatorMSP", peer)
		got := map[string][]contract.Event{}
		seen := map[string][]contract.Event{} // method → its events on this peer
		for _, b := range batches {
			events, err := historyOn(ctx, g, n.Peers[peer].MSPID, b)
			if err != nil {
				t.Fatalf("history of %s on %s: %v", b, peer, err)
			}
			got[b] = events
			for i, e := range events {
				if e.Seq != int64(i+1) {
					t.Errorf("%s on %s: event %d has seq %d", b, peer, i, e.Seq)
				}
				if e.Type == contract.EventAssessed && e.Assessed != nil {
					seen[e.Assessed.Method] = append(seen[e.Assessed.Method], e)
				}
			}
		}
		for method, events := range seen {
			w, ok := byMethod[method]
			if !ok {
				t.Errorf("%s: assessment %q was never submitted", peer, method)
				continue
			}
			if events[0].BatchID != w.batch || len(events) > 1 {
				t.Errorf("%s: write %s (batch %s) recorded %d times: %+v", peer, method, w.batch, len(events), events)
			}
		}
		for _, w := range writes {
			events := seen[w.method]
			switch {
			case w.err == nil && len(events) != 1:
				t.Errorf("%s: acknowledged write %s (tx %s) is in the history %d times", peer, w.method, w.txID, len(events))
			case w.err == nil && events[0].TxID != w.txID:
				t.Errorf("%s: acknowledged write %s returned tx %s, the ledger has it as %s", peer, w.method, w.txID, events[0].TxID)
			case w.err != nil && len(events) == 1 && reference == nil:
				failedRecorded++
			}
		}
		if reference == nil {
			reference = got
		} else {
			for _, b := range batches {
				x, _ := json.Marshal(reference[b])
				y, _ := json.Marshal(got[b])
				if !bytes.Equal(x, y) {
					t.Errorf("history of %s differs between %s and %s", b, n.peerNames()[0], peer)
				}
			}
		}
	}

	// Reads: count, failures, and the longest stretch during which a
	// reader's calls failed.
	readsByOrg := map[string]int{}
	failedReads := map[string]int{}
	longest := map[string]time.Duration{}
	var streak = map[string]time.Time{}
	var readErrs []string
	sort.Slice(reads, func(i, j int) bool { return reads[i].at.Before(reads[j].at) })
	for _, r := range reads {
		readsByOrg[r.org]++
		if r.err != nil {
			failedReads[r.org]++
			if streak[r.org].IsZero() {
				streak[r.org] = r.at
			}
			if len(readErrs) < 10 {
				readErrs = append(readErrs, fmt.Sprintf("%s at +%.1fs: %v", r.org, r.at.Sub(began).Seconds(), r.err))
			}
			continue
		}
		if s := streak[r.org]; !s.IsZero() {
			longest[r.org] = max(longest[r.org], r.done.Sub(s))
			streak[r.org] = time.Time{}
		}
	}
	var writeErrs []string
	var slowest time.Duration
	for _, w := range writes {
		slowest = max(slowest, w.end.Sub(w.start))
		if w.err != nil && len(writeErrs) < 10 {
			writeErrs = append(writeErrs, fmt.Sprintf("%s at +%.1fs: %v", w.method, w.start.Sub(began).Seconds(), w.err))
		}
	}
	st := l.stats.snapshot().minus(base)

	for _, p := range phases {
		// Calls that began during the fault or in the quiet period after it.
		var wmax, rmax time.Duration
		nw, nr := 0, 0
		for _, w := range writes {
			if !w.start.Before(p.start) && w.start.Before(p.end.Add(8*time.Second)) {
				nw++
				wmax = max(wmax, w.end.Sub(w.start))
			}
		}
		for _, r := range reads {
			if !r.at.Before(p.start) && r.at.Before(p.end.Add(8*time.Second)) {
				nr++
				rmax = max(rmax, r.done.Sub(r.at))
			}
		}
		t.Logf("fault: %-55s from +%5.1fs to +%5.1fs; until 8 s after: %d writes (slowest %s), %d reads (slowest %s)",
			p.name, p.start.Sub(began).Seconds(), p.end.Sub(began).Seconds(),
			nw, wmax.Round(time.Millisecond), nr, rmax.Round(time.Millisecond))
	}
	t.Logf("%s leader %s killed; %s led after %s", n.OrdererType, oldLeader, newLeader, election.Round(10*time.Millisecond))
	if n.OrdererType == "BFT" {
		t.Logf("two of four orderers down from +%.1fs to +%.1fs: height stayed %d (then %d); the write probe failed as unavailable (%d); blocks again %s after the third orderer was back",
			stalled.start.Sub(began).Seconds(), stalled.end.Sub(began).Seconds(), stalledHeight[0], stalledHeight[1], probeFailed, resumedAfter.Round(10*time.Millisecond))
		// Nothing can be ordered without a quorum: no write that began
		// after the second kill was acknowledged before one came back.
		for _, w := range writes {
			if w.err == nil && w.start.After(stalled.start) && w.end.Before(stalled.end) {
				t.Errorf("write %s began at +%.1fs and was acknowledged at +%.1fs, while two of four orderers were down",
					w.method, w.start.Sub(began).Seconds(), w.end.Sub(began).Seconds())
			}
		}
	}
	t.Logf("writes: %d by %d writers in %.0fs (%d acknowledged, %d failed, %d of the failed on the ledger once); slowest %s",
		len(writes), writers, loadEnd.Sub(began).Seconds(), acked, failed, failedRecorded, slowest.Round(time.Millisecond))
	t.Logf("ledger: %d failovers to another gateway peer, %d resubmissions of the same envelope, %d commit statuses asked again, %d re-endorsements after a read conflict",
		st.failovers, st.resubmissions, st.statusRequeries, st.reendorsements)
	for org, c := range readsByOrg {
		t.Logf("reads as %s: %d, %d failed, longest failing stretch %s", org, c, failedReads[org], longest[org].Round(time.Millisecond))
	}
	t.Logf("log warnings: %v", logs.summary())
	t.Logf("every peer at height %d with identical histories of %d batches", height, len(batches))
	for _, e := range writeErrs {
		t.Logf("failed write: %s", e)
	}
	for _, e := range readErrs {
		t.Logf("failed read: %s", e)
	}

	// The app kept serving: no read failed, and at most a handful of writes
	// (each retried for its whole deadline) did.
	if acked == 0 || len(writes) < 200 {
		t.Errorf("only %d writes (%d acknowledged): the load did not run", len(writes), acked)
	}
	for org, c := range failedReads {
		if c > 0 {
			t.Errorf("%d reads as %s failed", c, org)
		}
	}
	if failed > 0 {
		t.Errorf("%d writes failed", failed)
	}
	// Each fault left the writers writing: an acknowledged write started
	// after each fault ended.
	for _, p := range phases {
		ok := false
		for _, w := range writes {
			if w.err == nil && w.start.After(p.end) {
				ok = true
				break
			}
		}
		if !ok {
			t.Errorf("no write was acknowledged after %q", p.name)
		}
	}
}

// restoreNetwork starts every node that is not running and waits for a
// consensus leader and for the peers to agree on the height.
func restoreNetwork(t *testing.T, l *Ledger, n devNetwork) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for _, node := range n.nodes() {
		if out, err := netctl(ctx, "start", node); err != nil {
			t.Errorf("restore %s: %v", node, err)
		} else if !strings.Contains(out, "already running") {
			t.Logf("restored %s", node)
		}
	}
	for {
		if _, err := netctl(ctx, "leader"); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Errorf("no %s leader after restoring the network", n.OrdererType)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	for ctx.Err() == nil {
		heights := map[uint64]bool{}
		answered := 0
		for _, p := range n.peerNames() {
			for _, g := range l.routes["RegulatorMSP"] {
				if g.peer != p {
					continue
				}
				if h, err := heightOn(ctx, g, n.Peers[p].MSPID, n.Channel); err == nil {
					heights[h] = true
					answered++
				}
			}
		}
		if answered == len(n.Peers) && len(heights) == 1 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Errorf("the peers did not agree on a height after restoring the network")
}

// countingHandler counts the ledger's log records at warning level and
// above by message.
type countingHandler struct {
	mu     sync.Mutex
	counts map[string]int
}

func (h *countingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.counts[r.Message]++
	h.mu.Unlock()
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

func (h *countingHandler) summary() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var parts []string
	for m, c := range h.counts {
		parts = append(parts, fmt.Sprintf("%q×%d", m, c))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// sortedOrderers is the orderers' names in order.
func sortedOrderers(n devNetwork) []string {
	var out []string
	for o := range n.Orderers {
		out = append(out, o)
	}
	sort.Strings(out)
	return out
}
