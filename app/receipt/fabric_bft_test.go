package receipt

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
)

// Receipts of blocks ordered by SmartBFT: four orderer organisations with
// one consenter each, consenter IDs 1 to 4 in the channel configuration's
// consenter mapping (config block 3), and blocks signed the way Fabric 3's
// BFT chain signs them (an identifier header in place of a signature
// header, over last-config metadata || identifier header || header).

const testConfigBlock = 3

var bftOrdererMSPs = []string{"RegulatorOrdererMSP", "ProviderOrdererMSP", "ExchangeOrdererMSP", "AuditorOrdererMSP"}

type bftConsenter struct {
	id     uint32
	signer *testSigner
	cert   []byte // PEM
}

type bftNet struct {
	*testNet
	consenters []bftConsenter // index i is consenter i+1
}

func newBFTNet(t testing.TB) *bftNet {
	t.Helper()
	n := &bftNet{testNet: newTestNet(t)}
	for i, id := range bftOrdererMSPs {
		o := newTestOrg(t, id)
		n.orgs[id] = o
		s := o.signer(t, "orderer0."+strings.ToLower(id), roleOrderer)
		n.consenters = append(n.consenters, bftConsenter{id: uint32(i + 1), signer: s, cert: certOf(t, s)})
	}
	n.anchor = n.anchorWith(t, FabricOrdering{Consensus: OrderingBFT, MSPIDs: bftOrdererMSPs})
	return n
}

func (n *bftNet) anchorWith(t testing.TB, ord FabricOrdering) []byte {
	t.Helper()
	roots := map[string][][]byte{}
	for id, o := range n.orgs {
		roots[id] = [][]byte{o.pem}
	}
	a, err := FabricTrustAnchorOrdering(roots, ord)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func certOf(t testing.TB, s *testSigner) []byte {
	t.Helper()
	var sid msp.SerializedIdentity
	mustUnmarshal(t, s.serialized, &sid)
	return sid.IdBytes
}

// configBlock is the channel's config block with the consenter mapping.
func (n *bftNet) configBlock(t testing.TB, number uint64, mapping []bftConsenter) []byte {
	t.Helper()
	var cs []*common.Consenter
	for _, c := range mapping {
		cs = append(cs, &common.Consenter{Id: c.id, Host: "orderer", Port: 7050, MspId: c.signer.msp, Identity: c.cert})
	}
	cfg := &common.ConfigEnvelope{Config: &common.Config{ChannelGroup: &common.ConfigGroup{Groups: map[string]*common.ConfigGroup{
		"Orderer": {Values: map[string]*common.ConfigValue{"Orderers": {Value: mustMarshal(t, &common.Orderers{ConsenterMapping: cs})}}},
	}}}}
	payload := mustMarshal(t, &common.Payload{
		Header: &common.Header{ChannelHeader: mustMarshal(t, &common.ChannelHeader{Type: int32(common.HeaderType_CONFIG), ChannelId: testChannel})},
		Data:   mustMarshal(t, cfg),
	})
	return mustMarshal(t, &common.Block{
		Header: &common.BlockHeader{Number: number},
		Data:   &common.BlockData{Data: [][]byte{mustMarshal(t, &common.Envelope{Payload: payload})}},
	})
}

// bftSignatures is the SIGNATURES entry a BFT chain writes when the given
// consenters signed the header (orderer/consensus/smartbft Deliver).
func bftSignatures(t testing.TB, header []byte, signers []bftConsenter) []byte {
	t.Helper()
	value := mustMarshal(t, &common.OrdererBlockMetadata{
		LastConfig:        &common.LastConfig{Index: testConfigBlock},
		ConsenterMetadata: []byte("view 0 sequence 7"),
	})
	var sigs []*common.MetadataSignature
	for _, c := range signers {
		nonce := make([]byte, 24)
		if _, err := rand.Read(nonce); err != nil {
			t.Fatal(err)
		}
		ih := mustMarshal(t, &common.IdentifierHeader{Identifier: c.id, Nonce: nonce})
		msg := append(append(append([]byte{}, value...), ih...), header...)
		sigs = append(sigs, &common.MetadataSignature{IdentifierHeader: ih, Signature: c.signer.sign(t, msg)})
	}
	return mustMarshal(t, &common.Metadata{Value: value, Signatures: sigs})
}

// bftBlock is block 7 of three transactions, the middle one the receipt's,
// signed by the given consenters.
func (n *bftNet) bftBlock(t testing.TB, signers []bftConsenter) (block []byte, txID string) {
	t.Helper()
	f := newFixture(t, n.testNet, n.tx(n.peers[:2]), 0)
	var b common.Block
	mustUnmarshal(t, f.block, &b)
	h := b.Header
	b.Metadata.Metadata[common.BlockMetadataIndex_SIGNATURES] = bftSignatures(t, fabricHeaderBytes(h.Number, h.PreviousHash, h.DataHash), signers)
	return mustMarshal(t, &b), f.txID
}

// bftReceipt builds the receipt from the block and the config block, as
// the ledger does.
func (n *bftNet) bftReceipt(t testing.TB, block []byte, txID string, mapping []bftConsenter) *Receipt {
	t.Helper()
	b, err := ParseFabricBlock(block)
	if err != nil {
		t.Fatal(err)
	}
	cfg, needed := b.ConsentersFrom()
	if !needed || cfg != testConfigBlock {
		t.Fatalf("block needs consenters %v from config block %d, want %d", needed, cfg, testConfigBlock)
	}
	if err := b.WithConsenters(n.configBlock(t, cfg, mapping)); err != nil {
		t.Fatal(err)
	}
	r, err := b.Receipt(testChannel, txID)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// resign replaces the receipt's signatures with those of signers over its
// header, and its consenters with theirs, as a set of colluding consenters
// would sign.
func resign(t testing.TB, r *Receipt, signers []bftConsenter) {
	t.Helper()
	ev := r.Fabric
	prev, dh := mustHex(t, ev.PrevHash), mustHex(t, ev.DataHash)
	ev.Signatures = bftSignatures(t, fabricHeaderBytes(r.BlockNumber, prev, dh), signers)
	ev.Consenters = nil
	for _, c := range signers {
		ev.Consenters = append(ev.Consenters, FabricConsenter{ID: c.id, MSPID: c.signer.msp, Identity: c.cert})
	}
}

// wantFail requires err to fail check c with a detail containing detail.
func wantFail(t testing.TB, err error, c Check, detail string) {
	t.Helper()
	wantCheck(t, err, c)
	if !strings.Contains(err.Error(), detail) {
		t.Fatalf("error %q does not say %q", err, detail)
	}
}

func TestFabricBFTReceiptVerifies(t *testing.T) {
	n := newBFTNet(t)
	for _, signers := range [][]bftConsenter{n.consenters[:3], n.consenters, {n.consenters[3], n.consenters[0], n.consenters[2]}} {
		block, txID := n.bftBlock(t, signers)
		r := n.bftReceipt(t, block, txID, n.consenters)
		if r.Fabric.Version != FabricFormatVersion || len(r.Fabric.Consenters) != len(signers) {
			t.Fatalf("receipt version %d with %d consenters, want %d with %d", r.Fabric.Version, len(r.Fabric.Consenters), FabricFormatVersion, len(signers))
		}
		for i, c := range r.Fabric.Consenters {
			if i > 0 && c.ID <= r.Fabric.Consenters[i-1].ID {
				t.Fatalf("consenters not ordered by ID: %+v", r.Fabric.Consenters)
			}
		}
		doc := marshalReceipt(t, r)
		if !strings.HasPrefix(string(doc), `{"kind":"fabric"`) || !strings.Contains(string(doc), `"fabric":{"version":2,`) {
			t.Fatalf("receipt does not state its version: %.120s", doc)
		}
		p, err := Verify(doc, n.anchor)
		if err != nil {
			t.Fatal(err)
		}
		first, _ := KeyFingerprint(&signers[0].signer.key.PublicKey)
		if p.Signer != first || p.TxID != txID || p.BlockNumber != 7 {
			t.Errorf("proof signer %s tx %s block %d", p.Signer, p.TxID, p.BlockNumber)
		}
	}
}

func TestBFTQuorum(t *testing.T) {
	for n, want := range map[int]int{1: 1, 2: 2, 3: 2, 4: 3, 5: 4, 6: 4, 7: 5, 10: 7} {
		if got := BFTQuorum(n); got != want {
			t.Errorf("BFTQuorum(%d) = %d, want %d", n, got, want)
		}
	}
}

// TestFabricBFTReceiptRefused: each attack on a BFT receipt fails, naming
// its check.
func TestFabricBFTReceiptRefused(t *testing.T) {
	n := newBFTNet(t)
	block, txID := n.bftBlock(t, n.consenters[:3])
	good := marshalReceipt(t, n.bftReceipt(t, block, txID, n.consenters))
	if _, err := Verify(good, n.anchor); err != nil {
		t.Fatal(err)
	}
	clone := func() *Receipt {
		r, err := decodeCanonical(good)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	verify := func(r *Receipt) error {
		_, err := Verify(marshalReceipt(t, r), n.anchor)
		return err
	}
	md := func(r *Receipt) *common.Metadata {
		var m common.Metadata
		mustUnmarshal(t, r.Fabric.Signatures, &m)
		return &m
	}

	t.Run("too few distinct consenters", func(t *testing.T) {
		r := clone()
		resign(t, r, n.consenters[:2])
		wantFail(t, verify(r), CheckQuorum, "signed by 2 distinct orderer organisation(s)")
		// Built the ordinary way too: two signatures are not a quorum of four.
		b2, tx2 := n.bftBlock(t, n.consenters[1:3])
		_, err := Verify(marshalReceipt(t, n.bftReceipt(t, b2, tx2, n.consenters)), n.anchor)
		wantFail(t, err, CheckQuorum, "quorum of the trust anchor's 4 orderer organisations is 3")
	})
	t.Run("one organisation posing as three consenters", func(t *testing.T) {
		// The regulator's CA issues two more orderer certificates and the
		// regulator writes a consenter mapping of its own: still one vote.
		reg := n.orgs["RegulatorOrdererMSP"]
		fake := []bftConsenter{n.consenters[0]}
		for i := uint32(2); i <= 3; i++ {
			s := reg.signer(t, "fake.orderer", roleOrderer)
			fake = append(fake, bftConsenter{id: i, signer: s, cert: certOf(t, s)})
		}
		r := clone()
		resign(t, r, fake)
		wantFail(t, verify(r), CheckQuorum, "signed by 1 distinct orderer organisation(s) [RegulatorOrdererMSP]")
	})
	t.Run("consenter certificate not issued by the anchor", func(t *testing.T) {
		rogue := newTestOrg(t, "ExchangeOrdererMSP")
		s := rogue.signer(t, "orderer0.exchangeorderermsp", roleOrderer)
		signers := []bftConsenter{n.consenters[0], n.consenters[1], {id: 3, signer: s, cert: certOf(t, s)}}
		r := clone()
		resign(t, r, signers)
		wantFail(t, verify(r), CheckTrustAnchor, "does not chain to a root of ExchangeOrdererMSP")
	})
	t.Run("consenter of an organisation the anchor does not name as orderer", func(t *testing.T) {
		// A peer organisation's CA can issue itself an orderer certificate.
		s := n.orgs["ProcessorMSP"].signer(t, "orderer.processor", roleOrderer)
		signers := []bftConsenter{n.consenters[0], n.consenters[1], {id: 5, signer: s, cert: certOf(t, s)}}
		r := clone()
		resign(t, r, signers)
		wantFail(t, verify(r), CheckSignature, "does not name as an orderer organisation")
	})
	t.Run("consenter certificate of a peer", func(t *testing.T) {
		s := n.orgs["AuditorOrdererMSP"].signer(t, "peer.auditor", rolePeer)
		signers := []bftConsenter{n.consenters[0], n.consenters[1], {id: 4, signer: s, cert: certOf(t, s)}}
		r := clone()
		resign(t, r, signers)
		wantFail(t, verify(r), CheckSignature, "has none of the roles [orderer]")
	})
	t.Run("duplicated signer", func(t *testing.T) {
		r := clone()
		m := md(r)
		m.Signatures = append(m.Signatures, m.Signatures[0])
		r.Fabric.Signatures = mustMarshal(t, m)
		wantFail(t, verify(r), CheckSignature, "a second signature by consenter 1")
		// The same signer again under a fresh nonce, still consenter 1.
		r = clone()
		resign(t, r, []bftConsenter{n.consenters[0], n.consenters[1], n.consenters[0]})
		r.Fabric.Consenters = r.Fabric.Consenters[:2]
		wantFail(t, verify(r), CheckSignature, "a second signature by consenter 1")
		// The same key under a second consenter number.
		r = clone()
		twin := n.consenters[0]
		twin.id = 9
		resign(t, r, []bftConsenter{n.consenters[0], n.consenters[1], twin})
		wantFail(t, verify(r), CheckSignature, "a second signature by the same orderer")
	})
	t.Run("tampered header", func(t *testing.T) {
		r := clone()
		r.BlockNumber++
		wantFail(t, verify(r), CheckHeader, "hashes to")
		// The header rebuilt consistently: the signatures are over the old one.
		r = clone()
		prev := sha256.Sum256([]byte("another block 6"))
		r.Fabric.PrevHash = HexHash(prev)
		bh := sha256.Sum256(fabricHeaderBytes(r.BlockNumber, prev[:], mustHex(t, r.Fabric.DataHash)))
		r.Fabric.BlockHash = HexHash(bh)
		wantFail(t, verify(r), CheckSignature, "over block header")
	})
	t.Run("tampered identifier header", func(t *testing.T) {
		// Signature 0 (consenter 1) relabelled as consenter 4's.
		r := clone()
		m := md(r)
		var ih common.IdentifierHeader
		mustUnmarshal(t, m.Signatures[0].IdentifierHeader, &ih)
		ih.Identifier = 4
		m.Signatures[0].IdentifierHeader = mustMarshal(t, &ih)
		r.Fabric.Signatures = mustMarshal(t, m)
		r.Fabric.Consenters = append(r.Fabric.Consenters[1:], FabricConsenter{ID: 4, MSPID: n.consenters[3].signer.msp, Identity: n.consenters[3].cert})
		wantFail(t, verify(r), CheckSignature, "signature does not verify")
	})
	t.Run("tampered signed metadata", func(t *testing.T) {
		r := clone()
		m := md(r)
		m.Value = mustMarshal(t, &common.OrdererBlockMetadata{LastConfig: &common.LastConfig{Index: 1}})
		r.Fabric.Signatures = mustMarshal(t, m)
		wantFail(t, verify(r), CheckSignature, "signature does not verify")
	})
	t.Run("consenter ID not in the mapping", func(t *testing.T) {
		r := clone()
		r.Fabric.Consenters = r.Fabric.Consenters[1:]
		wantFail(t, verify(r), CheckSignature, "consenter 1 is not in the receipt's consenter mapping")
	})
	t.Run("consenter swapped for another's identity", func(t *testing.T) {
		r := clone()
		r.Fabric.Consenters[0].Identity = n.consenters[3].cert
		r.Fabric.Consenters[0].MSPID = n.consenters[3].signer.msp
		wantFail(t, verify(r), CheckSignature, "signature does not verify")
	})
	t.Run("consenter that did not sign", func(t *testing.T) {
		r := clone()
		c := n.consenters[3]
		r.Fabric.Consenters = append(r.Fabric.Consenters, FabricConsenter{ID: c.id, MSPID: c.signer.msp, Identity: c.cert})
		wantFail(t, verify(r), CheckFormat, "consenter 4 signed nothing")
	})
	t.Run("consenters out of order", func(t *testing.T) {
		r := clone()
		cs := r.Fabric.Consenters
		cs[0], cs[1] = cs[1], cs[0]
		wantFail(t, verify(r), CheckFormat, "not ordered by ID")
	})
	t.Run("one BFT orderer signing with its certificate", func(t *testing.T) {
		// A Raft-style signature header by one consenter: valid, but one vote.
		r := clone()
		r.Fabric.Version, r.Fabric.Consenters = 0, nil
		prev, dh := mustHex(t, r.Fabric.PrevHash), mustHex(t, r.Fabric.DataHash)
		one := &testNet{orderer: n.consenters[0].signer}
		r.Fabric.Signatures = one.ordererSignatures(t, fabricHeaderBytes(r.BlockNumber, prev, dh))
		wantFail(t, verify(r), CheckQuorum, "signed by 1 distinct orderer organisation(s)")
	})
	t.Run("signature with both headers", func(t *testing.T) {
		r := clone()
		m := md(r)
		m.Signatures[0].SignatureHeader = mustMarshal(t, &common.SignatureHeader{Creator: n.consenters[0].signer.serialized})
		r.Fabric.Signatures = mustMarshal(t, m)
		wantFail(t, verify(r), CheckSignature, "exactly one of a signature header and an identifier header")
	})
	t.Run("anchor without orderer organisations", func(t *testing.T) {
		legacy := n.anchorWith(t, FabricOrdering{})
		_, err := Verify(good, legacy)
		wantFail(t, err, CheckSignature, "the trust anchor names no BFT orderer organisations")
		_, err = Verify(good, n.anchorWith(t, FabricOrdering{Consensus: OrderingRaft, MSPIDs: bftOrdererMSPs}))
		wantFail(t, err, CheckSignature, "the trust anchor names no BFT orderer organisations")
	})
	t.Run("anchor naming more orderer organisations", func(t *testing.T) {
		// Seven orderer organisations need five signatures.
		more := append(append([]string{}, bftOrdererMSPs...), "RegulatorMSP", "ProviderMSP", "ExchangeMSP")
		_, err := Verify(good, n.anchorWith(t, FabricOrdering{Consensus: OrderingBFT, MSPIDs: more}))
		wantFail(t, err, CheckQuorum, "orderer organisations is 5")
	})
	t.Run("versions", func(t *testing.T) {
		r := clone()
		r.Fabric.Version = FabricFormatVersion + 1
		wantFail(t, verify(r), CheckFormat, "format version 3; this verifier reads versions 1 to 2")
		r.Fabric.Version = 1
		wantFail(t, verify(r), CheckFormat, "written without a version field")
		r.Fabric.Version = -1
		wantFail(t, verify(r), CheckFormat, "is not a version")
		r.Fabric.Version = 0
		wantFail(t, verify(r), CheckFormat, "format version 1 carries consenters")
		r = clone()
		r.Fabric.Consenters = nil
		wantFail(t, verify(r), CheckFormat, "carries no consenters")
	})
}

// TestFabricRaftReceiptUnderOrderingAnchor: a Raft receipt of the previous
// format verifies against an anchor naming its orderer organisation as Raft,
// and against one naming none; an orderer certificate issued by another
// organisation does not, once the anchor says who orders.
func TestFabricRaftReceiptUnderOrderingAnchor(t *testing.T) {
	n := newBFTNet(t)
	raft := n.anchorWith(t, FabricOrdering{Consensus: OrderingRaft, MSPIDs: []string{"OrdererMSP"}})
	f := newFixture(t, n.testNet, n.tx(n.peers[:2]), 0).build(t)
	if f.r.Fabric.Version != 0 || strings.Contains(string(f.json), `"version"`) || strings.Contains(string(f.json), `"consenters"`) {
		t.Fatalf("a Raft receipt is not of format version 1: %.200s", f.json)
	}
	for _, a := range [][]byte{raft, n.anchorWith(t, FabricOrdering{})} {
		if _, err := Verify(f.json, a); err != nil {
			t.Fatal(err)
		}
	}
	n.orderer = n.orgs["RegulatorMSP"].signer(t, "orderer.regulator", roleOrderer)
	f = newFixture(t, n.testNet, n.tx(n.peers[:2]), 0).build(t)
	_, err := Verify(f.json, raft)
	wantFail(t, err, CheckSignature, "RegulatorMSP, which the trust anchor does not name as an orderer organisation")
	// A BFT anchor: one Raft-style signature is no quorum.
	_, err = Verify(f.json, n.anchor)
	wantCheck(t, err, CheckSignature)
}

func TestBuildFabricBFT(t *testing.T) {
	n := newBFTNet(t)
	block, txID := n.bftBlock(t, n.consenters[:3])
	if _, err := BuildFabric(testChannel, block, txID); err == nil || !strings.Contains(err.Error(), "config block 3") {
		t.Errorf("a BFT block without its consenters: %v", err)
	}
	b, err := ParseFabricBlock(block)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WithConsenters(n.configBlock(t, 2, n.consenters)); err == nil || !strings.Contains(err.Error(), "needs config block 3, got block 2") {
		t.Errorf("another config block: %v", err)
	}
	if err := b.WithConsenters(n.configBlock(t, testConfigBlock, n.consenters[1:])); err == nil || !strings.Contains(err.Error(), "consenter 1") {
		t.Errorf("a mapping without a signer: %v", err)
	}
	if err := b.WithConsenters(block); err == nil || !strings.Contains(err.Error(), "a config block has one") {
		t.Errorf("a data block as config block: %v", err)
	}
	// A Raft block needs no consenters and refuses them.
	f := newFixture(t, n.testNet, n.tx(n.peers[:2]), 0)
	rb, err := ParseFabricBlock(f.block)
	if err != nil {
		t.Fatal(err)
	}
	if _, needed := rb.ConsentersFrom(); needed {
		t.Error("a Raft block asks for consenters")
	}
	if err := rb.WithConsenters(n.configBlock(t, testConfigBlock, n.consenters)); err == nil {
		t.Error("a Raft block took consenters")
	}
}

func TestFabricTrustAnchorOrdering(t *testing.T) {
	n := newBFTNet(t)
	roots, ord, err := ParseFabricTrustAnchorOrdering(n.anchor)
	if err != nil {
		t.Fatal(err)
	}
	if ord.Consensus != OrderingBFT || strings.Join(ord.MSPIDs, ",") != "AuditorOrdererMSP,ExchangeOrdererMSP,ProviderOrdererMSP,RegulatorOrdererMSP" || len(roots) != len(n.orgs) {
		t.Fatalf("ordering %+v, %d organisations", ord, len(roots))
	}
	if !strings.Contains(string(n.anchor), "MSP-ID: AuditorOrdererMSP\nOrderer: BFT\n") {
		t.Errorf("anchor does not mark the orderer organisations:\n%.300s", n.anchor)
	}
	// Unmarked anchors still read, with no ordering.
	if _, ord, err := ParseFabricTrustAnchorOrdering(n.anchorWith(t, FabricOrdering{})); err != nil || ord.Consensus != "" || ord.MSPIDs != nil {
		t.Errorf("unmarked anchor: %+v %v", ord, err)
	}
	roots2 := map[string][][]byte{"A": {n.orgs["OrdererMSP"].pem}}
	for _, o := range []FabricOrdering{{Consensus: "Kafka", MSPIDs: []string{"A"}}, {Consensus: OrderingBFT}, {Consensus: OrderingBFT, MSPIDs: []string{"B"}}} {
		if _, err := FabricTrustAnchorOrdering(roots2, o); err == nil {
			t.Errorf("ordering %+v accepted", o)
		}
	}
	edit := func(from, to string) []byte { return []byte(strings.Replace(string(n.anchor), from, to, 1)) }
	for name, a := range map[string][]byte{
		"unknown consensus":      edit("Orderer: BFT", "Orderer: PBFT"),
		"mixed consensus":        edit("Orderer: BFT", "Orderer: Raft"),
		"unknown header":         edit("Orderer: BFT", "Operator: BFT"),
		"one root marked, other": append(append([]byte{}, n.anchor...), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Headers: map[string]string{"MSP-ID": "AuditorOrdererMSP"}, Bytes: n.orgs["OrdererMSP"].cert.Raw})...),
	} {
		if _, _, err := ParseFabricTrustAnchorOrdering(a); err == nil {
			t.Errorf("%s: anchor accepted", name)
		}
	}
}
