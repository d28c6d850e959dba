package receipt

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"
)

// node is a signing key with its trust anchor, standing in for an embedded
// ledger's node.
type node struct {
	key    *ecdsa.PrivateKey
	anchor []byte
	signer string
}

func newNode(t testing.TB) *node {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	fp, err := KeyFingerprint(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return &node{key: k, anchor: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), signer: fp}
}

// receipt builds a signed block of n transactions, transaction i holding i%3
// events, and returns the receipt of transaction index.
func (nd *node) receipt(t testing.TB, n, index int) []byte {
	t.Helper()
	return nd.receiptOf(t, nd.block(t, n), index)
}

// receiptOf returns the receipt of transaction index of b.
func (nd *node) receiptOf(t testing.TB, b signedBlock, index int) []byte {
	t.Helper()
	r, err := NewEmbedded(b.header, b.signature, b.records, index, b.events[index], b.salts[index], nd.signer)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// signedBlock is a block as a node stores it, with each transaction's events
// and their salts (none in a version-1 block).
type signedBlock struct {
	header, signature []byte
	records           [][]byte
	events            [][]json.RawMessage
	salts             [][][]byte
}

// testSalt stands in for a node's secret salt of an item of transaction i.
func testSalt(i int, item string) []byte {
	s := sha256.Sum256(fmt.Appendf(nil, "test salt %d %s", i, item))
	return s[:]
}

// block builds a signed block of n transactions of the current header
// version, transaction i holding i%3+1 events.
func (nd *node) block(t testing.TB, n int) signedBlock {
	t.Helper()
	return nd.blockOfVersion(t, n, HeaderVersion)
}

// blockOfVersion builds a signed block of n transactions of header version
// version: with salted commitments (version 2) or plain digests (version 1).
func (nd *node) blockOfVersion(t testing.TB, n, version int) signedBlock {
	t.Helper()
	commit := func(i int, item string, content []byte) string {
		if version == HeaderVersionUnsalted {
			return Digest(content)
		}
		return Commit(testSalt(i, item), content)
	}
	var records [][]byte
	var events [][]json.RawMessage
	var salts [][][]byte
	for i := 0; i < n; i++ {
		txID := fmt.Sprintf("%064x", i+1)
		rec := TxRecord{TxID: txID, Timestamp: "2026-03-01T09:00:00.00" + fmt.Sprint(i%10) + "Z", Creator: "ExchangeMSP",
			Function: "RecordTrades", ArgsHash: commit(i, "args", []byte("args")), WriteSetHash: commit(i, "writes", []byte("writes")),
			Events: []EventDigest{}}
		var evs []json.RawMessage
		var evSalts [][]byte
		for j := 0; j < i%3+1; j++ {
			ev := fmt.Appendf(nil, `{"eventId":"ev-%d-%d","type":"TRADED","batchIds":["b-%d"],"batchId":"b-%d","seq":%d,"actor":"ExchangeMSP","txId":"%s","timestamp":"%s"}`,
				i, j, i, i, j+1, txID, rec.Timestamp)
			evs = append(evs, ev)
			item := fmt.Sprintf("event %d", j)
			rec.Events = append(rec.Events, EventDigest{EventID: fmt.Sprintf("ev-%d-%d", i, j), Digest: commit(i, item, ev)})
			if version != HeaderVersionUnsalted {
				evSalts = append(evSalts, testSalt(i, item))
			}
		}
		rec.EventName = "tokentrail"
		rec.PayloadHash = commit(i, "payload", []byte("payload"))
		b, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		records = append(records, b)
		events = append(events, evs)
		salts = append(salts, evSalts)
	}
	leaves := make([]Hash, n)
	for i, r := range records {
		leaves[i] = LeafHash(r)
	}
	h := Header{Version: version, Number: 42, PrevHash: strings.Repeat("ab", 32),
		TxRoot: HexHash(MerkleRoot(leaves)), TxCount: n, Time: "2026-03-01T09:00:00.009Z"}
	hb, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	hash := HeaderHash(hb)
	sig, err := ecdsa.SignASN1(rand.Reader, nd.key, hash[:])
	if err != nil {
		t.Fatal(err)
	}
	return signedBlock{header: hb, signature: sig, records: records, events: events, salts: salts}
}

func wantFailure(t *testing.T, doc, anchor []byte, check Check) {
	t.Helper()
	_, err := Verify(doc, anchor)
	var ve *Error
	if !errors.As(err, &ve) {
		t.Fatalf("want a %s failure, got %v", check, err)
	}
	if ve.Check != check {
		t.Fatalf("want a %s failure, got %s: %v", check, ve.Check, err)
	}
	if !strings.Contains(err.Error(), string(check)) {
		t.Errorf("error does not name the check: %v", err)
	}
}

func TestVerifyValid(t *testing.T) {
	nd := newNode(t)
	for _, n := range []int{1, 2, 3, 5, 8, 13} {
		for i := 0; i < n; i++ {
			doc := nd.receipt(t, n, i)
			p, err := Verify(doc, nd.anchor)
			if err != nil {
				t.Fatalf("block of %d, tx %d: %v\n%s", n, i, err, doc)
			}
			if p.TxID != fmt.Sprintf("%064x", i+1) || p.BlockNumber != 42 || len(p.Events) != i%3+1 ||
				p.Signer != nd.signer || p.Kind != KindEmbedded || p.Function != "RecordTrades" {
				t.Errorf("proof = %+v", p)
			}
			if p.Events[0].EventID != fmt.Sprintf("ev-%d-0", i) || p.Events[0].Type != "TRADED" {
				t.Errorf("proved events = %+v", p.Events)
			}
		}
	}
	// Insignificant whitespace (a pretty-printed copy) does not matter.
	doc := nd.receipt(t, 3, 1)
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, doc, "", "  "); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(pretty.Bytes(), nd.anchor); err != nil {
		t.Errorf("indented receipt: %v", err)
	}
}

// TestEmbeddedBlockReceipts builds the receipt of every transaction of a
// block from one EmbeddedBlock: each verifies and is, byte for byte, the
// receipt written out field by field with the path of InclusionProof.
func TestEmbeddedBlockReceipts(t *testing.T) {
	nd := newNode(t)
	for _, n := range []int{1, 2, 3, 7, 25} {
		b := nd.block(t, n)
		leaves := make([]Hash, n)
		for i, r := range b.records {
			leaves[i] = LeafHash(r)
		}
		eb, err := NewEmbeddedBlock(b.header, b.signature, b.records, nd.signer)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			r, err := eb.Receipt(i, b.events[i], b.salts[i])
			if err != nil {
				t.Fatal(err)
			}
			doc, err := r.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Verify(doc, nd.anchor); err != nil {
				t.Fatalf("block of %d, tx %d: %v", n, i, err)
			}
			hashes := []string{}
			for _, h := range InclusionProof(leaves, i) {
				hashes = append(hashes, HexHash(h))
			}
			hash := HeaderHash(b.header)
			var hexSalts []string
			for _, s := range b.salts[i] {
				hexSalts = append(hexSalts, hex.EncodeToString(s))
			}
			w := &Receipt{Kind: KindEmbedded, TxID: fmt.Sprintf("%064x", i+1), BlockNumber: 42, Events: b.events[i],
				Embedded: &Embedded{Header: b.header, BlockHash: HexHash(hash), Signer: nd.signer,
					Signature: hex.EncodeToString(b.signature), Tx: b.records[i], EventSalts: hexSalts,
					Proof: MerkleProof{LeafIndex: uint64(i), TreeSize: uint64(n), Hashes: hashes}}}
			if want, _ := w.Marshal(); !bytes.Equal(doc, want) {
				t.Fatalf("block of %d, tx %d:\n%s\nwant\n%s", n, i, doc, want)
			}
		}
		if _, err := eb.Receipt(n, nil, nil); err == nil {
			t.Errorf("block of %d: receipt of transaction %d built", n, n)
		}
	}
}

// flip changes the character at offset off within the first occurrence of
// marker (after the marker) to another character of the same class, so the
// document stays well-formed JSON.
func flip(t *testing.T, doc []byte, marker string, off int) []byte {
	t.Helper()
	i := bytes.Index(doc, []byte(marker))
	if i < 0 {
		t.Fatalf("%q not in receipt", marker)
	}
	out := bytes.Clone(doc)
	p := i + len(marker) + off
	switch c := out[p]; {
	case c == '0':
		out[p] = '1'
	case c >= '1' && c <= '9', c >= 'a' && c <= 'f':
		out[p] = '0'
	default:
		t.Fatalf("no hex character at %d of %q: %q", off, marker, c)
	}
	return out
}

func TestTamperedReceiptsFailTheRightCheck(t *testing.T) {
	nd := newNode(t)
	other := newNode(t)
	doc := nd.receipt(t, 5, 2) // three events, an audit path of three hashes
	if _, err := Verify(doc, nd.anchor); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		doc   []byte
		check Check
	}{
		{"event digest", flip(t, doc, `"digest":"sha256:`, 7), CheckEventDigest},
		{"second event digest", flipNth(t, doc, `"digest":"sha256:`, 1, 0), CheckEventDigest},
		{"event content", bytes.Replace(doc, []byte(`"seq":2`), []byte(`"seq":3`), 1), CheckEventDigest},
		{"events swapped", editEvents(t, doc, func(e []json.RawMessage) []json.RawMessage { return []json.RawMessage{e[1], e[0], e[2]} }), CheckEventDigest},
		{"event repeated", editEvents(t, doc, func(e []json.RawMessage) []json.RawMessage { return []json.RawMessage{e[0], e[0]} }), CheckEventDigest},
		{"event of another transaction", editEvents(t, doc, func(e []json.RawMessage) []json.RawMessage {
			return []json.RawMessage{bytes.Replace(e[0], []byte(`"eventId":"`), []byte(`"eventId":"x`), 1)}
		}), CheckEventDigest},
		{"one event too many", editEvents(t, doc, func(e []json.RawMessage) []json.RawMessage { return append(e, e[2]) }), CheckEventDigest},
		{"merkle path", flip(t, doc, `"hashes":["`, 10), CheckMerklePath},
		{"third merkle hash", flipNth(t, doc, `"hashes":["`, 0, 64+3+64+3+10), CheckMerklePath},
		{"leaf index", bytes.Replace(doc, []byte(`"leafIndex":2`), []byte(`"leafIndex":3`), 1), CheckMerklePath},
		{"tree size", bytes.Replace(doc, []byte(`"treeSize":5`), []byte(`"treeSize":6`), 1), CheckMerklePath},
		{"tx record", bytes.Replace(doc, []byte(`"creator":"ExchangeMSP"`), []byte(`"creator":"ExchangeMSQ"`), 1), CheckMerklePath},
		{"header tx root", flip(t, doc, `"txRoot":"`, 5), CheckHeader},
		{"header time", bytes.Replace(doc, []byte(`"time":"2026-03-01T09:00:00.009Z"`), []byte(`"time":"2026-03-01T09:00:00.008Z"`), 1), CheckHeader},
		{"header number", bytes.Replace(doc, []byte(`"number":42`), []byte(`"number":43`), 1), CheckHeader},
		{"header prev hash", flip(t, doc, `"prevHash":"`, 0), CheckHeader},
		{"block hash", flip(t, doc, `"blockHash":"`, 3), CheckHeader},
		{"signature", flip(t, doc, `"signature":"`, 20), CheckSignature},
		{"signature end", flip(t, doc, `","tx":{`, -len(`","tx":{`)-1), CheckSignature},
		{"signer", flip(t, doc, `"signer":"sha256:`, 4), CheckTrustAnchor},
		{"envelope tx ID", flip(t, doc, `"txId":"`, 63), CheckBinding},
		{"envelope block number", bytes.Replace(doc, []byte(`"blockNumber":42`), []byte(`"blockNumber":41`), 1), CheckBinding},
		{"field name case", bytes.Replace(doc, []byte(`"txId":`), []byte(`"txID":`), 1), CheckFormat},
		{"unknown field", bytes.Replace(doc, []byte(`{"kind":`), []byte(`{"extra":1,"kind":`), 1), CheckFormat},
		{"unknown kind", bytes.Replace(doc, []byte(`"kind":"embedded"`), []byte(`"kind":"embedder"`), 1), CheckFormat},
		{"not JSON", doc[:len(doc)-1], CheckFormat},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if bytes.Equal(c.doc, doc) {
				t.Fatal("the case changes nothing")
			}
			wantFailure(t, c.doc, nd.anchor, c.check)
		})
	}
	t.Run("different trust anchor", func(t *testing.T) {
		wantFailure(t, doc, other.anchor, CheckTrustAnchor)
	})
	t.Run("no key in trust anchor", func(t *testing.T) {
		wantFailure(t, doc, []byte("not a PEM file"), CheckTrustAnchor)
	})
	t.Run("upper-case hex", func(t *testing.T) {
		i := bytes.Index(doc, []byte(`"signature":"`)) + len(`"signature":"`)
		for ; ; i++ {
			if doc[i] >= 'a' && doc[i] <= 'f' {
				break
			}
		}
		up := bytes.Clone(doc)
		up[i] -= 'a' - 'A' // the same bytes, spelled differently
		wantFailure(t, up, nd.anchor, CheckSignature)
	})
	t.Run("a signature by another key", func(t *testing.T) {
		forged := other.receipt(t, 5, 2)
		// Claim the trusted key signed it.
		forged = bytes.Replace(forged, []byte(other.signer), []byte(nd.signer), 1)
		wantFailure(t, forged, nd.anchor, CheckSignature)
	})
}

func flipNth(t *testing.T, doc []byte, marker string, nth, off int) []byte {
	t.Helper()
	start := 0
	for k := 0; k < nth; k++ {
		i := bytes.Index(doc[start:], []byte(marker))
		if i < 0 {
			t.Fatalf("only %d of %q", k, marker)
		}
		start += i + len(marker)
	}
	out := flip(t, doc[start:], marker, off)
	return append(bytes.Clone(doc[:start]), out...)
}

// removeLastEvent drops the last event from the receipt's events array.
func editEvents(t *testing.T, doc []byte, edit func([]json.RawMessage) []json.RawMessage) []byte {
	t.Helper()
	var r Receipt
	if err := json.Unmarshal(doc, &r); err != nil {
		t.Fatal(err)
	}
	r.Events = edit(r.Events)
	out, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A receipt that withholds events verifies, proves the events it carries
// and counts the others; each withheld event is still bound by its digest.
func TestWithheldEventsVerify(t *testing.T) {
	nd := newNode(t)
	doc := nd.receipt(t, 5, 2) // three events
	var r Receipt
	if err := json.Unmarshal(doc, &r); err != nil {
		t.Fatal(err)
	}
	ids, err := r.EventIDs()
	if err != nil || len(ids) != 3 {
		t.Fatalf("ids %v, %v", ids, err)
	}
	for _, keep := range [][]int{{}, {0}, {1}, {2}, {0, 2}, {1, 2}, {0, 1, 2}} {
		w, err := r.Withhold(func(id string) bool {
			for _, k := range keep {
				if ids[k] == id {
					return true
				}
			}
			return false
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := w.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		p, err := Verify(out, nd.anchor)
		if err != nil {
			t.Fatalf("keeping %v: %v", keep, err)
		}
		if len(p.Events) != len(keep) || p.Withheld != 3-len(keep) {
			t.Fatalf("keeping %v: proved %d, withheld %d", keep, len(p.Events), p.Withheld)
		}
		for i, k := range keep {
			if p.Events[i].EventID != ids[k] {
				t.Fatalf("keeping %v: proved %s at %d", keep, p.Events[i].EventID, i)
			}
		}
		if len(keep) < 3 && !strings.Contains(p.Summary(), "withheld") {
			t.Fatalf("summary does not say events were withheld: %s", p.Summary())
		}
		for _, k := range keep {
			// A carried event that changes fails, withheld ones or not.
			bad := bytes.Replace(out, []byte(ids[k]+`","type"`), []byte(ids[k]+`","type "`), 1)
			if bytes.Equal(bad, out) {
				continue
			}
			if _, err := Verify(bad, nd.anchor); err == nil {
				t.Fatalf("keeping %v: a changed event %d verifies", keep, k)
			}
		}
	}
}

// TestEveryByteMatters changes every byte of a receipt in three ways; no
// changed receipt may verify.
func TestEveryByteMatters(t *testing.T) {
	nd := newNode(t)
	doc := nd.receipt(t, 3, 1)
	checks := map[Check]int{}
	for i := range doc {
		for _, mask := range []byte{0x01, 0x20, 0x80} {
			bad := bytes.Clone(doc)
			bad[i] ^= mask
			_, err := Verify(bad, nd.anchor)
			var ve *Error
			if !errors.As(err, &ve) {
				t.Fatalf("byte %d ^ %#x (%q → %q): verified, or failed without naming a check: %v",
					i, mask, doc[i], bad[i], err)
			}
			checks[ve.Check]++
		}
	}
	t.Logf("%d bytes × 3 changes fail with: %v", len(doc), checks)
}

func TestTrustAnchorCertificate(t *testing.T) {
	nd := newNode(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "node"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &nd.key.PublicKey, nd.key)
	if err != nil {
		t.Fatal(err)
	}
	anchor := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if _, err := Verify(nd.receipt(t, 2, 0), anchor); err != nil {
		t.Errorf("certificate of the node key as trust anchor: %v", err)
	}
}

// BenchmarkEmbeddedReceipts builds and encodes the receipts of every
// transaction of a block of 25 (one op): from one EmbeddedBlock, and with
// NewEmbedded for each, which rebuilds the block's tree every time.
func BenchmarkEmbeddedReceipts(b *testing.B) {
	const n = 25
	nd := newNode(b)
	blk := nd.block(b, n)
	b.Run("block", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			eb, err := NewEmbeddedBlock(blk.header, blk.signature, blk.records, nd.signer)
			if err != nil {
				b.Fatal(err)
			}
			for i := 0; i < n; i++ {
				r, err := eb.Receipt(i, blk.events[i], blk.salts[i])
				if err != nil {
					b.Fatal(err)
				}
				if _, err := r.Marshal(); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("each", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for i := 0; i < n; i++ {
				r, err := NewEmbedded(blk.header, blk.signature, blk.records, i, blk.events[i], blk.salts[i], nd.signer)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := r.Marshal(); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// Receipts of version-1 blocks (plain digests, no salts) verify the old way,
// every byte of them still matters, and salts may not be added to them.
func TestVersion1ReceiptsVerify(t *testing.T) {
	nd := newNode(t)
	b := nd.blockOfVersion(t, 5, HeaderVersionUnsalted)
	doc := nd.receiptOf(t, b, 2)
	if bytes.Contains(doc, []byte(`"eventSalts"`)) {
		t.Fatalf("a version-1 receipt carries salts: %s", doc)
	}
	p, err := Verify(doc, nd.anchor)
	if err != nil || len(p.Events) != 3 {
		t.Fatalf("version-1 receipt: %v, %+v", err, p)
	}
	for i := range doc {
		bad := bytes.Clone(doc)
		bad[i] ^= 0x01
		if _, err := Verify(bad, nd.anchor); err == nil {
			t.Fatalf("byte %d changed: a version-1 receipt still verifies", i)
		}
	}
	var r Receipt
	if err := json.Unmarshal(doc, &r); err != nil {
		t.Fatal(err)
	}
	r.Embedded.EventSalts = []string{hex.EncodeToString(testSalt(2, "event 0")), hex.EncodeToString(testSalt(2, "event 1")), hex.EncodeToString(testSalt(2, "event 2"))}
	salted, _ := r.Marshal()
	wantFailure(t, salted, nd.anchor, CheckFormat)
	// A version-1 block takes no salts when its receipt is built.
	if _, err := NewEmbedded(b.header, b.signature, b.records, 2, b.events[2], [][]byte{testSalt(0, "x")}, nd.signer); err == nil {
		t.Fatal("a version-1 receipt built with salts")
	}
}

// The salts of a version-2 receipt: each one binds its event; a missing,
// extra, changed or swapped salt fails, and so does a receipt whose header
// claims version 1 (it no longer hashes to the signed block hash).
func TestEventSalts(t *testing.T) {
	nd := newNode(t)
	doc := nd.receipt(t, 5, 2) // three events, three salts
	var r Receipt
	if err := json.Unmarshal(doc, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Embedded.EventSalts) != 3 {
		t.Fatalf("salts %v", r.Embedded.EventSalts)
	}
	edit := func(f func(s []string) []string) []byte {
		cp := r
		ev := *r.Embedded
		ev.EventSalts = f(append([]string(nil), r.Embedded.EventSalts...))
		cp.Embedded = &ev
		out, err := cp.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for name, bad := range map[string][]byte{
		"salt changed":  flip(t, doc, `"eventSalts":["`, 10),
		"salts swapped": edit(func(s []string) []string { s[0], s[1] = s[1], s[0]; return s }),
		"salt missing":  edit(func(s []string) []string { return s[:2] }),
		"salt extra":    edit(func(s []string) []string { return append(s, s[0]) }),
		"salt short":    edit(func(s []string) []string { s[0] = s[0][:62]; return s }),
		"no salts":      edit(func(s []string) []string { return nil }),
	} {
		t.Run(name, func(t *testing.T) { wantFailure(t, bad, nd.anchor, CheckEventDigest) })
	}
	t.Run("header says version 1", func(t *testing.T) {
		bad := bytes.Replace(doc, []byte(`"version":2`), []byte(`"version":1`), 1)
		if _, err := Verify(bad, nd.anchor); err == nil {
			t.Fatal("verifies")
		}
	})
	// Withholding an event drops its salt and no other.
	w, err := r.Withhold(func(id string) bool { return id == "ev-2-1" })
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Embedded.EventSalts) != 1 || w.Embedded.EventSalts[0] != r.Embedded.EventSalts[1] || len(r.Embedded.EventSalts) != 3 {
		t.Fatalf("withheld copy's salts %v (original's %v)", w.Embedded.EventSalts, r.Embedded.EventSalts)
	}
}

// A receipt of a block of a header version newer than this verifier's is
// refused with a message naming both versions.
func TestNewerHeaderVersionRefused(t *testing.T) {
	nd := newNode(t)
	b := nd.blockOfVersion(t, 2, HeaderVersion+1)
	if _, err := NewEmbedded(b.header, b.signature, b.records, 0, b.events[0], b.salts[0], nd.signer); err == nil {
		t.Fatal("receipt of a version-3 block built")
	}
	var hexSalts []string
	for _, s := range b.salts[0] {
		hexSalts = append(hexSalts, hex.EncodeToString(s))
	}
	hash := HeaderHash(b.header)
	r := &Receipt{Kind: KindEmbedded, TxID: fmt.Sprintf("%064x", 1), BlockNumber: 42, Events: b.events[0],
		Embedded: &Embedded{Header: b.header, BlockHash: HexHash(hash), Signer: nd.signer,
			Signature: hex.EncodeToString(b.signature), Tx: b.records[0], EventSalts: hexSalts,
			Proof: MerkleProof{LeafIndex: 0, TreeSize: 2, Hashes: []string{HexHash(LeafHash(b.records[1]))}}}}
	doc, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	wantFailure(t, doc, nd.anchor, CheckHeader)
	_, err = Verify(doc, nd.anchor)
	if !strings.Contains(err.Error(), "version 3 is newer than this verifier's version 2") {
		t.Fatalf("error does not name both versions: %v", err)
	}
}
