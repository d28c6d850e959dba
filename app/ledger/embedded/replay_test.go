package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tokentrail/tokentrail/app/receipt"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// replayWorkload drives a ledger with single writes, bulk trades with
// private terms and a refused write, partly concurrently so that blocks hold
// several transactions, and returns what was submitted by transaction ID.
func replayWorkload(t *testing.T, l *Ledger) map[string]ReplayTx {
	t.Helper()
	var mu sync.Mutex
	subs := map[string]ReplayTx{}
	sub := func(org, fn string, req any, transient map[string][]byte) error {
		args := mustJSON(t, req)
		res, err := l.Submit(context.Background(), org, fn, args, transient)
		if err != nil {
			return err
		}
		mu.Lock()
		subs[res.TxID] = ReplayTx{Creator: org, Function: fn, Args: args, Transient: transient}
		mu.Unlock()
		return nil
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(sub(orgRegulator, contract.FnBootstrap, contract.BootstrapRequest{Name: "Regulator", Region: "CN"}, nil))
	for _, p := range []contract.RegisterParticipantRequest{
		{MSPID: orgProvider, Name: "Provider", Roles: []string{"provider"}, Region: "CN"},
		{MSPID: orgExchange, Name: "Exchange", Roles: []string{"exchange"}, Region: "CN"},
		{MSPID: orgConsumer, Name: "Consumer", Roles: []string{"consumer"}, Region: "CN"},
	} {
		must(sub(orgRegulator, contract.FnRegisterParticipant, p, nil))
	}
	must(sub(orgProvider, contract.FnCollect, collectReq("r-0", 0), nil))
	must(sub(orgExchange, contract.FnTrade, tradeReq("r-t-0", "r-0"), termsJSON(t, 12)))

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := 1; w <= 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("r-%d", w)
			if err := sub(orgProvider, contract.FnCollect, collectReq(id, w), nil); err != nil {
				errs <- err
				return
			}
			req := contract.BulkTradeRequest{}
			prices := make([]float64, 40)
			for j := range prices {
				req.Trades = append(req.Trades, tradeReq(fmt.Sprintf("r-t-%d-%d", w, j), id))
				prices[j] = float64(10 + j%5)
			}
			if err := sub(orgExchange, contract.FnTradeBulk, req, termsJSON(t, prices...)); err != nil {
				errs <- err
				return
			}
			// Refused (the batch exists): nothing of it may be written.
			if err := sub(orgProvider, contract.FnCollect, collectReq(id, w), nil); err == nil {
				errs <- fmt.Errorf("collecting %s twice was accepted", id)
			}
			if err := sub(orgProvider, contract.FnCirculate, contract.CirculateRequest{BatchID: id, To: orgConsumer, Purpose: "model-training", AccessMode: "copy"}, nil); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return subs
}

// committedBlocks reads the ledger's blocks and pairs each transaction
// record with what was submitted for it.
func committedBlocks(t *testing.T, l *Ledger, subs map[string]ReplayTx) []ReplayBlock {
	t.Helper()
	var out []ReplayBlock
	err := l.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBlocks).ForEach(func(k, v []byte) error {
			b, err := decodeBlock(v)
			if err != nil {
				return err
			}
			var h receipt.Header
			if err := json.Unmarshal(b.header, &h); err != nil {
				return err
			}
			rb := ReplayBlock{Number: h.Number, Header: bytes.Clone(b.header), Signature: bytes.Clone(b.signature)}
			for _, st := range b.txs {
				var rec receipt.TxRecord
				if err := json.Unmarshal(st.record, &rec); err != nil {
					return err
				}
				ts, err := time.Parse(time.RFC3339Nano, rec.Timestamp)
				if err != nil {
					return err
				}
				s, ok := subs[rec.TxID]
				if !ok {
					return fmt.Errorf("block %d holds %s, which was not submitted", h.Number, rec.TxID)
				}
				s.TxID, s.Time, s.Record = rec.TxID, ts, bytes.Clone(st.record)
				rb.Txs = append(rb.Txs, s)
			}
			out = append(out, rb)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// replayInto replays blocks into a fresh file and returns it, with the
// replayed write-set digests by transaction ID.
func replayInto(t *testing.T, blocks []ReplayBlock) (*bolt.DB, map[string][32]byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "replay.db")
	r, err := NewReplay(path)
	if err != nil {
		t.Fatal(err)
	}
	digests := map[string][32]byte{}
	for _, b := range blocks {
		p, err := r.Prepare(b)
		if err != nil {
			t.Fatal(err)
		}
		for i, rt := range p.Txs {
			if rt.Err != nil {
				t.Fatalf("block %d: transaction %s refused on replay: %v", b.Number, b.Txs[i].TxID, rt.Err)
			}
			digests[b.Txs[i].TxID] = rt.WriteSet
		}
		if _, err := r.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, digests
}

// diffFiles returns the first difference between two ledger files in the
// state, private, txs and blocks buckets (every key and value) and in the
// meta bucket's format, height and head; nil when there is none.
func diffFiles(a, b *bolt.DB) error {
	dump := func(db *bolt.DB) (map[string][]byte, error) {
		out := map[string][]byte{}
		err := db.View(func(tx *bolt.Tx) error {
			flat := func(prefix string, bk *bolt.Bucket) error {
				return bk.ForEach(func(k, v []byte) error {
					if v == nil {
						return fmt.Errorf("unexpected nested bucket %s%s", prefix, k)
					}
					out[prefix+string(k)] = bytes.Clone(v)
					return nil
				})
			}
			for _, name := range [][]byte{bucketState, bucketTxs, bucketBlocks} {
				if err := flat(string(name)+"/", tx.Bucket(name)); err != nil {
					return err
				}
			}
			priv := tx.Bucket(bucketPrivate)
			if err := priv.ForEachBucket(func(c []byte) error {
				return flat("private/"+string(c)+"/", priv.Bucket(c))
			}); err != nil {
				return err
			}
			m := tx.Bucket(bucketMeta)
			for _, k := range [][]byte{metaFormat, metaHeight, metaHead} {
				out["meta/"+string(k)] = bytes.Clone(m.Get(k))
			}
			return nil
		})
		return out, err
	}
	da, err := dump(a)
	if err != nil {
		return err
	}
	db, err := dump(b)
	if err != nil {
		return err
	}
	for _, k := range sortedKeys(da) {
		if v, ok := db[k]; !ok {
			return fmt.Errorf("%q is missing from the replay", k)
		} else if !bytes.Equal(v, da[k]) {
			return fmt.Errorf("%q differs: %d bytes, the ledger's %d", k, len(v), len(da[k]))
		}
	}
	for _, k := range sortedKeys(db) {
		if _, ok := da[k]; !ok {
			return fmt.Errorf("%q is only in the replay", k)
		}
	}
	if len(da) < 100 {
		return fmt.Errorf("only %d entries compared", len(da))
	}
	return nil
}

// TestReplayMatchesLedger replays a ledger's blocks with Replay and checks
// that the replayed file holds, byte for byte, the state, private data,
// transaction index and blocks the ledger wrote (data format 3, blocks of
// header version 2), and that every replayed write set opens the
// writeSetHash commitment of the ledger's own record.
func TestReplayMatchesLedger(t *testing.T) {
	l := openTest(t, Config{})
	subs := replayWorkload(t, l)
	blocks := committedBlocks(t, l, subs)
	multi := 0
	for _, b := range blocks {
		if len(b.Txs) > 1 {
			multi++
		}
	}
	if len(blocks) < 10 || multi == 0 {
		t.Fatalf("%d blocks, %d of several transactions: the workload should make both", len(blocks), multi)
	}
	replayed, digests := replayInto(t, blocks)

	checked := 0
	for _, b := range blocks {
		var h receipt.Header
		if err := json.Unmarshal(b.Header, &h); err != nil {
			t.Fatal(err)
		}
		if h.Version != receipt.HeaderVersion {
			t.Fatalf("block %d has header version %d, want %d", b.Number, h.Version, receipt.HeaderVersion)
		}
		for _, tx := range b.Txs {
			var rec receipt.TxRecord
			if err := json.Unmarshal(tx.Record, &rec); err != nil {
				t.Fatal(err)
			}
			if got := l.WriteSetCommitment(tx.TxID, digests[tx.TxID]); got != rec.WriteSetHash {
				t.Fatalf("transaction %s (%s): the replayed write set commits to %s, the record holds %s", tx.TxID, tx.Function, got, rec.WriteSetHash)
			}
			checked++
		}
	}
	if checked != len(subs) {
		t.Fatalf("%d transactions checked, %d committed", checked, len(subs))
	}
	if err := diffFiles(l.db, replayed); err != nil {
		t.Fatal(err)
	}
}

// TestReplayDetectsDrift: a replay that writes anything else — here one
// trade of a bulk transaction with another token count — is caught both by
// the file comparison and by the write-set commitment.
func TestReplayDetectsDrift(t *testing.T) {
	l := openTest(t, Config{})
	subs := replayWorkload(t, l)
	blocks := committedBlocks(t, l, subs)
	var victim string
	for bi := range blocks {
		for ti, tx := range blocks[bi].Txs {
			if tx.Function != contract.FnTradeBulk || victim != "" {
				continue
			}
			var req contract.BulkTradeRequest
			if err := json.Unmarshal(tx.Args, &req); err != nil {
				t.Fatal(err)
			}
			req.Trades[7].Tokens++
			blocks[bi].Txs[ti].Args = mustJSON(t, req)
			victim = tx.TxID
		}
	}
	if victim == "" {
		t.Fatal("no bulk trade to change")
	}
	replayed, digests := replayInto(t, blocks)
	if err := diffFiles(l.db, replayed); err == nil {
		t.Fatal("a replay with a changed trade compares equal to the ledger")
	} else {
		t.Logf("caught: %v", err)
	}
	var rec receipt.TxRecord
	for _, b := range blocks {
		for _, tx := range b.Txs {
			if tx.TxID == victim {
				if err := json.Unmarshal(tx.Record, &rec); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if l.WriteSetCommitment(victim, digests[victim]) == rec.WriteSetHash {
		t.Fatal("a changed trade's write set opens the ledger's commitment")
	}
}

// TestReplayRefusesExistingFile: the replay starts from an empty file.
func TestReplayRefusesExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	r, err := NewReplay(path)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, err := NewReplay(path); err == nil {
		t.Fatal("a replay opened a file that was already initialised")
	}
}
