package bench

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/tokentrail/tokentrail/app/auth"
	"github.com/tokentrail/tokentrail/app/ledger/embedded"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// The embedded ledger's ceiling is the store's raw durable write rate for
// the writes a run committed, in the blocks it committed them in: the same
// group commit. After the run, the committed transactions are replayed with
// [embedded.Replay], which owns the ledger's file layout, write order and
// block encoding: each block's transactions are executed again by the
// contract (untimed) over the replayed file's state to recover their write
// sets and event payloads, with the block's header, signature and
// transaction records from the run's receipts; then the block is written
// into the fresh bbolt file with the ledger's options — write sets, the
// encoded block, the transaction index and the head — as one fsynced bbolt
// transaction, and only those transactions are timed. What is left out is
// what tokentrail adds: HTTP, JSON, the contract, hashing, signing and
// queueing. (The same method as app/ledger/embedded's benchmarks, which
// record the write sets in process.)

// replayTx is one ledger transaction as the server submits it.
type replayTx struct {
	fn, org   string
	args      []byte
	transient map[string][]byte
}

// CeilingResult is the raw store's rate for the run's writes.
type CeilingResult struct {
	Kind          string  `json:"kind"`
	Transactions  int     `json:"transactions"`
	Blocks        int     `json:"blocks"`
	TxPerBlock    float64 `json:"txPerBlock"`
	Events        int64   `json:"events"`
	RawSeconds    float64 `json:"rawSeconds"`
	RawEventsPerS float64 `json:"rawEventsPerS"`
	Ratio         float64 `json:"ratio"` // the run's events/s ÷ RawEventsPerS
	Failures      int     `json:"failures,omitempty"`
	// ExactWriteSets counts the replayed transactions whose write set hashes
	// to the writeSetHash of the ledger's own transaction record.
	ExactWriteSets int `json:"exactWriteSets"`
	// SaltedWriteSets counts the replayed transactions that hash otherwise
	// because they are trades: the server drew the salts of their private
	// values, which never leave it, so the replay draws its own. Their write
	// sets have the same keys and the same sizes.
	SaltedWriteSets int `json:"saltedWriteSets,omitempty"`
	// UncheckedWriteSets counts the replayed transactions whose record's
	// writeSetHash is a salted commitment (header version 2) that the run
	// could not open: the salts are the node's secret, and no
	// [Config.WriteSetCommitment] was given.
	UncheckedWriteSets int `json:"uncheckedWriteSets,omitempty"`
}

// placed is a committed transaction with its place in the ledger.
type placed struct {
	tx     *replayTx
	block  uint64
	leaf   uint64
	txID   string
	time   time.Time
	header []byte
	sig    []byte
	record []byte
	// writeSetHash is the record's writeSetHash; committed says it is a
	// salted commitment (header version 2) rather than the plain digest.
	writeSetHash string
	committed    bool
}

// embeddedReceipt holds the fields of an embedded receipt the ceiling needs.
type embeddedReceipt struct {
	Kind        string `json:"kind"`
	BlockNumber uint64 `json:"blockNumber"`
	Embedded    *struct {
		Header    json.RawMessage `json:"header"`
		Signature string          `json:"signature"`
		Tx        json.RawMessage `json:"tx"`
		Proof     struct {
			LeafIndex uint64 `json:"leafIndex"`
		} `json:"proof"`
	} `json:"embedded"`
}

func (r *embeddedReceipt) place(tx *replayTx) (placed, error) {
	if r.Kind != "embedded" || r.Embedded == nil {
		return placed{}, fmt.Errorf("the ceiling needs the embedded ledger's receipts (got kind %q)", r.Kind)
	}
	sig, err := hex.DecodeString(r.Embedded.Signature)
	if err != nil {
		return placed{}, fmt.Errorf("receipt signature: %w", err)
	}
	var rec struct {
		TxID         string `json:"txId"`
		Timestamp    string `json:"timestamp"`
		WriteSetHash string `json:"writeSetHash"`
	}
	if err := json.Unmarshal(r.Embedded.Tx, &rec); err != nil {
		return placed{}, fmt.Errorf("receipt transaction record: %w", err)
	}
	ts, err := time.Parse(time.RFC3339Nano, rec.Timestamp)
	if err != nil {
		return placed{}, fmt.Errorf("receipt transaction time: %w", err)
	}
	var h struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(r.Embedded.Header, &h); err != nil {
		return placed{}, fmt.Errorf("receipt block header: %w", err)
	}
	return placed{tx: tx, block: r.BlockNumber, leaf: r.Embedded.Proof.LeafIndex, txID: rec.TxID, time: ts,
		header: r.Embedded.Header, sig: sig, record: r.Embedded.Tx, writeSetHash: rec.WriteSetHash, committed: h.Version >= 2}, nil
}

// locate finds where each committed transaction of the run went: from the
// receipt in a single write's answer, or, for bulk chunks, from the receipt
// of the chunk's first event (fetched now, untimed).
func locate(ctx context.Context, cl *client, all []committed) ([]placed, error) {
	var out []placed
	for _, cm := range all {
		if len(cm.replay) == 1 && !bytes.Contains(cm.body[:min(len(cm.body), 32)], []byte(`"results"`)) {
			var w struct {
				Receipt embeddedReceipt `json:"receipt"`
			}
			if err := json.Unmarshal(cm.body, &w); err != nil {
				return nil, err
			}
			p, err := w.Receipt.place(cm.replay[0])
			if err != nil {
				return nil, err
			}
			out = append(out, p)
			continue
		}
		var br contract.BulkTradeResult
		if err := json.Unmarshal(cm.body, &br); err != nil {
			return nil, err
		}
		// Chunks are consecutive in the answer; each starts a new txId.
		chunk, last := -1, ""
		for _, it := range br.Results {
			if it.TxID == last {
				continue
			}
			last = it.TxID
			chunk++
			if chunk >= len(cm.replay) {
				return nil, fmt.Errorf("bulk answer has more transactions than the %d chunks sent", len(cm.replay))
			}
			if it.Status != contract.BulkCommitted {
				return nil, fmt.Errorf("bulk trade %s: %s", it.TradeID, it.Status)
			}
			b, err := cl.mustDo(ctx, "GET", "/api/v1/events/"+url.PathEscape(it.EventID)+"/receipt", orgExchange, nil)
			if err != nil {
				return nil, err
			}
			var r embeddedReceipt
			if err := json.Unmarshal(b, &r); err != nil {
				return nil, err
			}
			p, err := r.place(cm.replay[chunk])
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].block != out[j].block {
			return out[i].block < out[j].block
		}
		return out[i].leaf < out[j].leaf
	})
	return out, nil
}

// Ceiling measures the raw store's rate for the committed transactions all,
// after replaying setup (the consortium and the scenario's set-up writes)
// into the same file untimed.
func Ceiling(ctx context.Context, c Config, cl *client, setup []committed, all []committed) (*CeilingResult, error) {
	txs, err := locate(ctx, cl, all)
	if err != nil {
		return nil, err
	}
	setupTxs, err := locate(ctx, cl, setup)
	if err != nil {
		return nil, err
	}
	if len(txs) == 0 {
		return nil, errors.New("no committed transactions to replay")
	}
	dir, err := os.MkdirTemp(c.CeilingDir, "tokentrail-ceiling-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	rp, err := embedded.NewReplay(filepath.Join(dir, "raw.db"))
	if err != nil {
		return nil, err
	}
	defer rp.Close()

	// Set-up, untimed: the development consortium, then the scenario's own,
	// written without their blocks.
	orgs := auth.DevConsortium()
	pre := []*replayTx{{fn: contract.FnBootstrap, org: orgs[0].MSPID,
		args: mustJSON(contract.BootstrapRequest{Name: orgs[0].Name, Region: orgs[0].Region})}}
	for _, o := range orgs[1:] {
		pre = append(pre, &replayTx{fn: contract.FnRegisterParticipant, org: orgs[0].MSPID,
			args: mustJSON(contract.RegisterParticipantRequest{MSPID: o.MSPID, Name: o.Name, Roles: o.Roles, Region: o.Region})})
	}
	t0 := time.Now().Add(-time.Hour)
	var prePlaced []placed
	for i, s := range pre {
		prePlaced = append(prePlaced, placed{tx: s, txID: fmt.Sprintf("setup-%d", i), time: t0.Add(time.Duration(i) * time.Millisecond)})
	}
	for _, p := range append(prePlaced, setupTxs...) {
		prep, err := rp.Prepare(embedded.ReplayBlock{Number: p.block, Txs: []embedded.ReplayTx{p.asReplay()}})
		if err != nil {
			return nil, err
		}
		if err := prep.Txs[0].Err; err != nil {
			return nil, fmt.Errorf("set-up %s: %w", p.tx.fn, err)
		}
		if _, err := rp.Write(prep); err != nil {
			return nil, err
		}
	}

	res := &CeilingResult{Kind: "embedded: bbolt, same blocks, fsync per block", Transactions: len(txs)}
	var timed time.Duration
	for i := 0; i < len(txs); {
		j := i
		for j < len(txs) && txs[j].block == txs[i].block {
			j++
		}
		group := txs[i:j]
		rb := embedded.ReplayBlock{Number: group[0].block, Header: group[0].header, Signature: group[0].sig}
		for _, p := range group {
			rb.Txs = append(rb.Txs, p.asReplay())
		}
		prep, err := rp.Prepare(rb)
		if err != nil {
			return nil, err
		}
		for k, rt := range prep.Txs {
			p := group[k]
			if rt.Err != nil {
				res.Failures++
				continue
			}
			res.Events += int64(rt.Events)
			recorded := "sha256:" + hex.EncodeToString(rt.WriteSet[:])
			if p.committed {
				recorded = ""
				if c.WriteSetCommitment != nil {
					recorded = c.WriteSetCommitment(p.txID, rt.WriteSet)
				}
			}
			switch {
			case recorded == "":
				res.UncheckedWriteSets++
			case recorded == p.writeSetHash:
				res.ExactWriteSets++
			case p.tx.transient[contract.TransientSalts] != nil:
				res.SaltedWriteSets++
			}
		}
		d, err := rp.Write(prep)
		timed += d
		if err != nil {
			return nil, err
		}
		res.Blocks++
		i = j
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	res.TxPerBlock = float64(res.Transactions) / float64(res.Blocks)
	res.RawSeconds = timed.Seconds()
	res.RawEventsPerS = float64(res.Events) / timed.Seconds()
	return res, nil
}

// asReplay is p as the embedded ledger's replay takes it.
func (p placed) asReplay() embedded.ReplayTx {
	return embedded.ReplayTx{TxID: p.txID, Time: p.time, Creator: p.tx.org, Function: p.tx.fn,
		Args: p.tx.args, Transient: p.tx.transient, Record: p.record}
}
