package embedded

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tokentrail/tokentrail/app/receipt"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

const orgOtherConsumer = "OtherConsumerMSP"

// guessResult is what the guessing attack recovered through each digest it
// tried: the other trade's token count, or -1.
type guessResult map[string]int64

// runGuessAttack records a bulk transaction of two trades on a ledger
// writing blocks of header version version: t-1, bought by the consumer, and
// t-2 (another batch, bought by another consumer, 3737 tokens). The consumer
// holds the receipt of its own trade, filtered as the API gives it: its own
// event in clear with its salt, the other as the record's digest. It knows
// every field of the other trade but its token count, so it builds the other
// event, the request and the event payload exactly for each count from 1 to
// 10 000; and, stronger still, it is handed the exact write set of the
// transaction (public and private). It tries each candidate against every
// digest the receipt exposes, plain and with the salt it was given.
func runGuessAttack(t *testing.T, version int) guessResult {
	t.Helper()
	l := openTest(t, Config{TxIDs: counterTxIDs(fmt.Sprintf("guess-v%d", version)), headerVersion: version})
	var captured []appliedTx
	l.onBlock = func(_ uint64, _ []byte, txs []appliedTx) { captured = append(captured, txs...) }
	setupConsortium(t, l)
	submit(t, l, orgRegulator, contract.FnRegisterParticipant,
		contract.RegisterParticipantRequest{MSPID: orgOtherConsumer, Name: "Other consumer", Roles: []string{"consumer"}, Region: "CN"}, nil)
	submit(t, l, orgProvider, contract.FnCollect, collectReq("b-1", 1), nil)
	submit(t, l, orgProvider, contract.FnCollect, collectReq("b-2", 2), nil)
	mine := tradeReq("t-1", "b-1")
	other := tradeReq("t-2", "b-2")
	other.Buyer, other.Tokens = orgOtherConsumer, 3737
	req := contract.BulkTradeRequest{Trades: []contract.TradeRequest{mine, other}}
	args := mustJSON(t, req)
	res, err := l.Submit(context.Background(), orgExchange, contract.FnTradeBulk, args, termsJSON(t, 10, 11))
	if err != nil {
		t.Fatal(err)
	}

	// The consumer's receipt: its own event only.
	full, err := l.Receipt(context.Background(), res.TxID)
	if err != nil {
		t.Fatal(err)
	}
	var r receipt.Receipt
	if err := json.Unmarshal(full, &r); err != nil {
		t.Fatal(err)
	}
	var rec receipt.TxRecord
	if err := json.Unmarshal(r.Embedded.Tx, &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.Events) != 2 {
		t.Fatalf("bulk transaction committed to %d events, want 2", len(rec.Events))
	}
	own := rec.Events[0].EventID
	w, err := r.Withhold(func(id string) bool { return id == own })
	if err != nil {
		t.Fatal(err)
	}
	doc, err := w.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p, err := receipt.Verify(doc, []byte(l.anchorPEM))
	if err != nil || len(p.Events) != 1 || p.Withheld != 1 {
		t.Fatalf("the consumer's receipt: %v, %+v", err, p)
	}
	if version == receipt.HeaderVersion && (len(w.Embedded.EventSalts) != 1 || bytes.Contains(doc, []byte(hex.EncodeToString(l.salts.salt(res.TxID, saltEvent, 1))))) {
		t.Fatalf("the consumer's receipt carries salts %v: want its own event's only", w.Embedded.EventSalts)
	}

	// Everything the receipt exposes that commits to content.
	targets := map[string]string{rec.ArgsHash: "argsHash", rec.WriteSetHash: "writeSetHash", rec.PayloadHash: "payloadHash"}
	for _, e := range rec.Events {
		targets[e.Digest] = "event digest"
	}
	for _, h := range w.Embedded.Proof.Hashes {
		targets["sha256:"+h] = "merkle path"
	}
	var given [][]byte // the salts the receipt hands out
	for _, s := range w.Embedded.EventSalts {
		b, _ := hex.DecodeString(s)
		given = append(given, b)
	}
	found := guessResult{"argsHash": -1, "writeSetHash": -1, "payloadHash": -1, "event digest": -1}
	try := func(tokens int64, content []byte) {
		cands := []string{receipt.Digest(content)}
		for _, s := range given {
			cands = append(cands, receipt.Commit(s, content))
		}
		for _, c := range cands {
			if what, ok := targets[c]; ok && found[what] < 0 {
				found[what] = tokens
			}
		}
	}

	// The exact bytes the attacker reconstructs: the payload and its events
	// as the contract encoded them, with the other trade's count varied.
	var payload []byte
	if err := l.Blocks(res.Block, func(b BlockView) bool {
		for _, tx := range b.Txs {
			if tx.TxID == res.TxID {
				payload = tx.Payload
			}
		}
		return false
	}); err != nil || payload == nil {
		t.Fatalf("payload of the bulk transaction: %v", err)
	}
	events, err := payloadEvents(payload)
	if err != nil {
		t.Fatal(err)
	}
	tokensField := []byte(`"tokens":3737`)
	if !bytes.Contains(events[1], tokensField) || !bytes.Contains(args, tokensField) || bytes.Count(payload, tokensField) != 1 {
		t.Fatalf("the other trade's count is not where the attack expects it:\n%s\n%s", events[1], args)
	}
	for n := int64(1); n <= 10_000; n++ {
		guess := fmt.Appendf(nil, `"tokens":%d`, n)
		try(n, bytes.Replace(events[1], tokensField, guess, 1))
		try(n, bytes.Replace(args, tokensField, guess, 1))
		try(n, bytes.Replace(payload, tokensField, guess, 1))
	}
	// The write set, handed over exactly (public writes, private values
	// with the app's salts): a guess that is right in every byte.
	for _, c := range captured {
		if c.txID == res.TxID {
			h := exactWriteSetHash(c.puts, c.privPuts)
			if what, ok := targets[h]; ok {
				found[what] = 3737
			}
			d, _ := hex.DecodeString(strings.TrimPrefix(h, "sha256:"))
			for _, s := range given {
				if what, ok := targets[receipt.Commit(s, d)]; ok {
					found[what] = 3737
				}
			}
		}
	}
	return found
}

// TestGuessingAttackOnBulkReceipt: a consumer holding the receipt of its own
// trade in a bulk transaction tries to confirm a guess of the other trade
// against every digest its receipt exposes. Against version-1 blocks (plain
// digests) it recovers the token count through each of them; against
// version-2 blocks (salted commitments) through none, though the true count
// is among its guesses.
func TestGuessingAttackOnBulkReceipt(t *testing.T) {
	old := runGuessAttack(t, receipt.HeaderVersionUnsalted)
	for _, what := range []string{"argsHash", "payloadHash", "event digest", "writeSetHash"} {
		if old[what] != 3737 {
			t.Errorf("control: against version-1 blocks the attack does not recover the count through %s (%d): it proves nothing", what, old[what])
		}
	}
	now := runGuessAttack(t, receipt.HeaderVersion)
	for what, n := range now {
		if n >= 0 {
			t.Errorf("the consumer confirmed the other trade's count %d through %s", n, what)
		}
	}
}

// Two transactions with identical content (the same request, the same
// events but for their IDs) commit to unrelated digests, and no digest of
// either appears in the other.
func TestIdenticalContentUnrelatedDigests(t *testing.T) {
	l := openTest(t, Config{TxIDs: counterTxIDs("ident")})
	setupConsortium(t, l)
	var recs []receipt.TxRecord
	// The very same request twice: an audit of the same batch.
	submit(t, l, orgProvider, contract.FnCollect, collectReq("b", 1), nil)
	req := mustJSON(t, contract.AuditRequest{BatchID: "b", Scope: "retention", Verdict: "compliant"})
	var ids []string
	for i := 0; i < 2; i++ {
		res, err := l.Submit(context.Background(), orgAuditor, contract.FnAudit, req, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.TxID)
	}
	for _, r := range committedTxs(t, l) {
		if r.TxID == ids[0] || r.TxID == ids[1] {
			recs = append(recs, r)
		}
	}
	if len(recs) != 2 {
		t.Fatalf("found %d of the two transactions", len(recs))
	}
	digests := func(r receipt.TxRecord) []string {
		out := []string{r.ArgsHash, r.WriteSetHash, r.PayloadHash}
		for _, e := range r.Events {
			out = append(out, e.Digest)
		}
		return out
	}
	a, b := digests(recs[0]), digests(recs[1])
	if len(a) != len(b) || len(a) < 4 {
		t.Fatalf("records %+v and %+v", recs[0], recs[1])
	}
	seen := map[string]bool{}
	for _, d := range append(a, b...) {
		if seen[d] {
			t.Errorf("digest %s appears twice across two transactions of identical content", d)
		}
		seen[d] = true
	}
	// The plain digests of the two requests are equal: the commitments
	// differ only because of their salts.
	if receipt.Digest(req) == recs[0].ArgsHash {
		t.Error("argsHash is the plain digest of the request")
	}
}

// Blocks written before the upgrade (header version 1, plain digests) stay
// verifiable: the chain verifies on opening, across the change of version,
// and their receipts verify the version-1 way, with no salts; the new
// blocks' receipts carry salts. A version-1 block after a version-2 one is
// a broken chain.
func TestVersion1BlocksStayVerifiable(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	l := openTest(t, Config{Dir: dir, TxIDs: counterTxIDs("before"), headerVersion: receipt.HeaderVersionUnsalted})
	setupConsortium(t, l)
	oldTx := submit(t, l, orgProvider, contract.FnCollect, collectReq("b-1", 1), nil)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l = openTest(t, Config{Dir: dir, TxIDs: counterTxIDs("after"), FullVerify: true})
	newTx := submit(t, l, orgProvider, contract.FnCollect, collectReq("b-2", 2), nil)
	anchor := []byte(l.anchorPEM)
	for _, c := range []struct {
		txID    string
		version int
		salts   int
	}{{oldTx.TxID, receipt.HeaderVersionUnsalted, 0}, {newTx.TxID, receipt.HeaderVersion, 1}} {
		doc, err := l.Receipt(ctx, c.txID)
		if err != nil {
			t.Fatal(err)
		}
		p, err := receipt.Verify(doc, anchor)
		if err != nil {
			t.Fatalf("receipt of a header-version-%d block: %v", c.version, err)
		}
		var r receipt.Receipt
		json.Unmarshal(doc, &r)
		var h receipt.Header
		json.Unmarshal(r.Embedded.Header, &h)
		if h.Version != c.version || len(r.Embedded.EventSalts) != c.salts || len(p.Events) != 1 {
			t.Fatalf("receipt of %s: header version %d, %d salts, %d events; want %d, %d, 1", c.txID, h.Version, len(r.Embedded.EventSalts), len(p.Events), c.version, c.salts)
		}
		// Every byte of the old receipt still matters.
		if c.version == receipt.HeaderVersionUnsalted {
			bad := bytes.Replace(doc, []byte(`"seq":1`), []byte(`"seq":2`), 1)
			if bytes.Equal(bad, doc) {
				t.Fatal("no seq in the old receipt")
			}
			if _, err := receipt.Verify(bad, anchor); err == nil {
				t.Fatal("a changed event of a version-1 receipt verifies")
			}
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// The whole chain verifies again from the first block.
	l = openTest(t, Config{Dir: dir, FullVerify: true})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// A version-1 block after a version-2 one: the chain is broken.
	l = openTest(t, Config{Dir: dir, TxIDs: counterTxIDs("downgrade"), headerVersion: receipt.HeaderVersionUnsalted})
	submit(t, l, orgProvider, contract.FnCollect, collectReq("b-3", 3), nil)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Config{Dir: dir, FullVerify: true})
	var ce *ChainError
	if !errors.As(err, &ce) || ce.Check != CheckHeader || !strings.Contains(err.Error(), "version 1 follows a block of version 2") {
		t.Fatalf("a version-1 block after version-2 ones: %v", err)
	}
}

// A receipt from a newer build's block (header version 3) is refused with a
// message naming both versions.
func TestNewerHeaderVersionRefused(t *testing.T) {
	l := openTest(t, Config{TxIDs: counterTxIDs("newer"), headerVersion: receipt.HeaderVersion + 1})
	setupConsortium(t, l)
	res, err := l.Submit(context.Background(), orgProvider, contract.FnCollect, mustJSON(t, collectReq("b", 1)), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The ledger itself cannot build the receipt of a version it does not
	// know; one made by hand from the block is refused by the verifier.
	if _, err := l.Receipt(context.Background(), res.TxID); err == nil || !strings.Contains(err.Error(), "version 3") {
		t.Fatalf("receipt of a version-3 block: %v", err)
	}
	dir := l.cfg.Dir
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = Open(Config{Dir: dir, FullVerify: true})
	if err == nil || !strings.Contains(err.Error(), "header version 3 is newer than this build's version 2") {
		t.Fatalf("opening a chain with a version-3 block: %v", err)
	}
}

// exactWriteSetHash is the plain digest of a write set in the encoding
// txState.apply documents, deletes and every collection included.
func exactWriteSetHash(puts map[string][]byte, priv map[string]map[string][]byte) string {
	h := sha256.New()
	lp := func(b []byte) {
		h.Write(binary.AppendUvarint(nil, uint64(len(b))))
		h.Write(b)
	}
	for _, k := range sortedKeys(puts) {
		h.Write([]byte{'P'})
		lp([]byte(k))
		if v := puts[k]; v == nil {
			h.Write([]byte{'D'})
		} else {
			h.Write([]byte{'S'})
			lp(v)
		}
	}
	for _, c := range sortedKeys(priv) {
		for _, k := range sortedKeys(priv[c]) {
			h.Write([]byte{'C'})
			lp([]byte(c))
			lp([]byte(k))
			if v := priv[c][k]; v == nil {
				h.Write([]byte{'D'})
			} else {
				h.Write([]byte{'S'})
				sum := sha256.Sum256(v)
				h.Write(sum[:])
			}
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
