package embedded

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/tokentrail/tokentrail/app/receipt"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// attackWriteSetHash is the write-set hash as an attacker computes it from
// the documented encoding (see txState.apply): public writes in key order,
// then private writes with their values' SHA-256.
func attackWriteSetHash(puts map[string][]byte, priv map[string][]byte) string {
	h := sha256.New()
	lp := func(b []byte) {
		h.Write(binary.AppendUvarint(nil, uint64(len(b))))
		h.Write(b)
	}
	keys := make([]string, 0, len(puts))
	for k := range puts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		h.Write([]byte{'P'})
		lp([]byte(k))
		h.Write([]byte{'S'})
		lp(puts[k])
	}
	keys = keys[:0]
	for k := range priv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		h.Write([]byte{'C'})
		lp([]byte(contract.TermsCollection))
		lp([]byte(k))
		h.Write([]byte{'S'})
		sum := sha256.Sum256(priv[k])
		h.Write(sum[:])
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// v1PricePoint and v1Terms are the unsalted shapes format version 1 stored:
// everything in them but the price is public.
type v1PricePoint struct {
	Sector    string  `json:"sector"`
	Modality  string  `json:"modality"`
	Currency  string  `json:"currency"`
	UnitPrice float64 `json:"unitPrice"`
	Tokens    int64   `json:"tokens"`
	Quality   float64 `json:"quality"`
	Time      string  `json:"time"`
}

// The buyer's enumeration attack on the embedded ledger: it holds the
// receipt of its own trade, knows every public write of the transaction and
// every part of the private values but the price, and hashes candidate
// prices cent by cent against every hash the receipt carries. Against
// unsalted values (format version 1) it recovers the price; against salted
// ones nothing confirms, the true price included.
func TestEnumerationAttackOnWriteSetHash(t *testing.T) {
	l := openTest(t, Config{TxIDs: counterTxIDs("enum")})
	var captured []appliedTx
	l.onBlock = func(_ uint64, _ []byte, txs []appliedTx) { captured = append(captured, txs...) }
	setupConsortium(t, l)
	submit(t, l, orgProvider, contract.FnCollect, collectReq("b", 1), nil)
	terms := contract.Terms{UnitPrice: 12.34, Currency: "CNY", PriceUnit: "1M tokens"} // no settlementRef
	tb := mustJSON(t, terms)
	res := submit(t, l, orgExchange, contract.FnTrade, tradeReq("t-1", "b"),
		map[string][]byte{contract.TransientTerms: tb, contract.TransientSalts: randomSalts(1)})

	raw, err := l.Receipt(context.Background(), res.TxID)
	if err != nil {
		t.Fatal(err)
	}
	var r receipt.Receipt
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	var rec receipt.TxRecord
	if err := json.Unmarshal(r.Embedded.Tx, &rec); err != nil {
		t.Fatal(err)
	}
	visible := map[string]bool{rec.WriteSetHash: true, rec.ArgsHash: true, rec.PayloadHash: true}
	for _, e := range rec.Events {
		visible[e.Digest] = true
	}

	// What the buyer knows: the transaction's public writes (it reads the
	// batch, its trade and event), the private keys (built from the trade ID
	// and the event), and every field of the private values but the price.
	var tx *appliedTx
	for i := range captured {
		if captured[i].txID == res.TxID {
			tx = &captured[i]
		}
	}
	if tx == nil {
		t.Fatal("trade transaction not captured")
	}
	ev := res.Event
	termsKey := "terms/" + orgExchange + "/t-1"
	priceKey := ""
	for k := range tx.privPuts[contract.TermsCollection] {
		// The trade's transaction holds one trade: its price point is the
		// one entry of the transaction's price chunk.
		if strings.HasPrefix(k, "price/") && strings.HasSuffix(k, "/"+ev.EventID+"/chunk") {
			priceKey = k
		}
	}
	if priceKey == "" || tx.privPuts[contract.TermsCollection][termsKey] == nil {
		t.Fatalf("private keys not as documented: %v", tx.privPuts)
	}
	// The reconstruction is faithful: with the true stored values (which the
	// buyer does not have) and the node's secret salt of the write set
	// (which it does not have either) it yields the receipt's hash.
	got := attackWriteSetHash(tx.puts, tx.privPuts[contract.TermsCollection])
	digest, _ := hex.DecodeString(strings.TrimPrefix(got, "sha256:"))
	if c := receipt.Commit(l.salts.salt(res.TxID, saltWriteSet, 0), digest); c != rec.WriteSetHash {
		t.Fatalf("the attacker's write-set digest %s, committed with the node's salt, gives %s, not the receipt's %s: the attack is not faithful",
			got, c, rec.WriteSetHash)
	}
	candidates := func(cents int) map[string][]byte {
		tm := terms
		tm.UnitPrice = float64(cents) / 100
		pp := v1PricePoint{Sector: "healthcare", Modality: "text", Currency: "CNY", UnitPrice: tm.UnitPrice, Tokens: 1000,
			Quality: 90, Time: ev.Timestamp}
		chunk := append(append([]byte(`{"format":3,"points":[`), mustJSON(t, pp)...), "]}"...)
		return map[string][]byte{termsKey: mustJSON(t, tm), priceKey: chunk}
	}
	enumerate := func(target map[string]bool) int {
		for cents := 0; cents <= 20_000; cents++ {
			c := candidates(cents)
			if target[attackWriteSetHash(tx.puts, c)] {
				return cents
			}
			for _, v := range c {
				if target[receipt.Digest(v)] {
					return cents
				}
			}
		}
		return -1
	}

	// Control: had the ledger stored unsalted values, as format version 1
	// did, the receipt's write-set hash would give the price away.
	unsalted := attackWriteSetHash(tx.puts, candidates(1234))
	if got := enumerate(map[string]bool{unsalted: true}); got != 1234 {
		t.Fatalf("the attack fails even against unsalted values (found %d): it proves nothing", got)
	}
	// The ledger's salted values: nothing the buyer sees confirms a price.
	if got := enumerate(visible); got >= 0 {
		t.Fatalf("the buyer confirmed the price %d cents from its receipt", got)
	}
}

// Two trades with identical terms commit to unrelated private hashes.
func TestIdenticalTermsUnrelatedHashes(t *testing.T) {
	l := openTest(t, Config{TxIDs: counterTxIDs("same")})
	var captured []appliedTx
	l.onBlock = func(_ uint64, _ []byte, txs []appliedTx) { captured = append(captured, txs...) }
	setupConsortium(t, l)
	submit(t, l, orgProvider, contract.FnCollect, collectReq("b", 1), nil)
	tm := contract.Terms{UnitPrice: 5, Currency: "CNY", PriceUnit: "1M tokens"}
	var ids []string
	for _, id := range []string{"t-1", "t-2"} {
		res := submit(t, l, orgExchange, contract.FnTrade, tradeReq(id, "b"), termsJSON(t, tm.UnitPrice))
		ids = append(ids, res.TxID)
	}
	hashes := map[[32]byte]string{}
	n := 0
	for _, c := range captured {
		if c.txID != ids[0] && c.txID != ids[1] {
			continue
		}
		for k, v := range c.privPuts[contract.TermsCollection] {
			n++
			sum := sha256.Sum256(v)
			if prev, ok := hashes[sum]; ok {
				t.Fatalf("%s and %s hash alike", prev, k)
			}
			hashes[sum] = k
		}
	}
	if n != 4 {
		t.Fatalf("want 2 terms and 2 price points, got %d private values", n)
	}
}

// A file written by format version 1 is migrated on opening: its unsalted
// terms still read as they were and replays compare with them. A file of a
// newer version is refused with both versions named.
func TestFormatMigrationFromV1(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, Config{Dir: dir, TxIDs: counterTxIDs("v1"), headerVersion: receipt.HeaderVersionUnsalted})
	setupConsortium(t, l)
	submit(t, l, orgProvider, contract.FnCollect, collectReq("b", 1), nil)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Make the file what version 1 wrote: no meta/format in the state (so
	// the trade below is stored as version 1 stored it, a key per trade),
	// then format byte 1 and unsalted terms.
	db, err := bolt.Open(filepath.Join(dir, DBFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketState).Delete([]byte("meta/format"))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	l = openTest(t, Config{Dir: dir, TxIDs: counterTxIDs("v1b"), headerVersion: receipt.HeaderVersionUnsalted})
	tm := contract.Terms{UnitPrice: 7.5, Currency: "CNY", PriceUnit: "1M tokens", SettlementRef: "s"}
	submit(t, l, orgExchange, contract.FnTrade, tradeReq("t-1", "b"), termsJSON(t, tm.UnitPrice))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = bolt.Open(filepath.Join(dir, DBFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketMeta).Put(metaFormat, []byte{1}); err != nil {
			return err
		}
		return tx.Bucket(bucketPrivate).Bucket([]byte(contract.TermsCollection)).Put([]byte("terms/"+orgExchange+"/t-1"), mustJSON(t, tm))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	l = openTest(t, Config{Dir: dir, TxIDs: counterTxIDs("v2")})
	out, err := l.Evaluate(context.Background(), orgRegulator, contract.FnListTrades, []byte(`{"batchId":"b"}`))
	if err != nil {
		t.Fatal(err)
	}
	var page contract.Page[contract.Trade]
	if err := json.Unmarshal(out, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].Terms == nil || *page.Items[0].Terms != tm {
		t.Fatalf("version-1 terms after migration: %s", out)
	}
	again := submit(t, l, orgExchange, contract.FnTrade, tradeReq("t-1", "b"), termsJSON(t, tm.UnitPrice))
	if !again.Replayed {
		t.Fatal("a replay of a version-1 trade is not recognised")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = bolt.Open(filepath.Join(dir, DBFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	var f []byte
	db.View(func(tx *bolt.Tx) error { f = append(f, tx.Bucket(bucketMeta).Get(metaFormat)...); return nil })
	if len(f) != 1 || f[0] != formatVersion {
		t.Fatalf("format after migration: %v, want %d", f, formatVersion)
	}
	// A newer file is refused.
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(metaFormat, []byte{formatVersion + 1}) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(Config{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("version %d", formatVersion+1)) || !strings.Contains(err.Error(), fmt.Sprintf("version %d", formatVersion)) {
		t.Fatalf("opening a version-%d file: %v", formatVersion+1, err)
	}
}
