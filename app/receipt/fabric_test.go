package receipt

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// The tests build a small Fabric network in memory — CAs, node and user
// certificates with NodeOU roles — and blocks whose every layer is encoded
// and signed the way Fabric 2.5 encodes and signs it.

const (
	testChannel   = "tokentrail"
	testChaincode = "tokentrail"
)

type testOrg struct {
	msp  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

type testSigner struct {
	msp        string
	key        *ecdsa.PrivateKey
	serialized []byte // msp.SerializedIdentity
}

var testSerial int64

func newTestOrg(t testing.TB, mspID string) *testOrg {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	testSerial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(testSerial),
		Subject:               pkix.Name{CommonName: "ca." + strings.ToLower(mspID), Organization: []string{mspID}},
		NotBefore:             time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2035, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testOrg{msp: mspID, cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// signer issues a certificate with the given NodeOU role. The validity
// window is in the past, so the test also shows expired certificates still
// verify what they signed while valid.
func (o *testOrg) signer(t testing.TB, name, role string) *testSigner {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	testSerial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(testSerial),
		Subject:      pkix.Name{CommonName: name, OrganizationalUnit: []string{role}},
		NotBefore:    time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, o.cert, &key.PublicKey, o.key)
	if err != nil {
		t.Fatal(err)
	}
	sid := mustMarshal(t, &msp.SerializedIdentity{Mspid: o.msp, IdBytes: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})})
	return &testSigner{msp: o.msp, key: key, serialized: sid}
}

// sign signs as Fabric's software BCCSP does: ECDSA over SHA-256, low S.
func (s *testSigner) sign(t testing.TB, msg []byte) []byte {
	t.Helper()
	digest := sha256.Sum256(msg)
	sig, err := ecdsa.SignASN1(rand.Reader, s.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(sig, &rs); err != nil {
		t.Fatal(err)
	}
	n := s.key.Curve.Params().N
	if rs.S.Cmp(new(big.Int).Rsh(n, 1)) > 0 {
		rs.S.Sub(n, rs.S)
	}
	out, err := asn1.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustUnmarshal(t testing.TB, b []byte, m proto.Message) {
	t.Helper()
	if err := proto.Unmarshal(b, m); err != nil {
		t.Fatal(err)
	}
}

type testNet struct {
	orgs    map[string]*testOrg
	orderer *testSigner
	client  *testSigner
	peers   []*testSigner
	anchor  []byte
}

func newTestNet(t testing.TB) *testNet {
	t.Helper()
	n := &testNet{orgs: map[string]*testOrg{}}
	for _, id := range []string{"OrdererMSP", "RegulatorMSP", "ProviderMSP", "ExchangeMSP", "ProcessorMSP"} {
		n.orgs[id] = newTestOrg(t, id)
	}
	n.orderer = n.orgs["OrdererMSP"].signer(t, "orderer1.orderer.tokentrail.test", "orderer")
	n.client = n.orgs["ProcessorMSP"].signer(t, "User1@processor.tokentrail.test", "client")
	for _, id := range []string{"RegulatorMSP", "ProviderMSP", "ExchangeMSP"} {
		n.peers = append(n.peers, n.orgs[id].signer(t, "peer0."+strings.ToLower(id), "peer"))
	}
	roots := map[string][][]byte{}
	for id, o := range n.orgs {
		roots[id] = [][]byte{o.pem}
	}
	var err error
	if n.anchor, err = FabricTrustAnchor(roots); err != nil {
		t.Fatal(err)
	}
	return n
}

// testTx describes one endorser transaction to build.
type testTx struct {
	creator   *testSigner
	endorsers []*testSigner
	function  string
	eventName string
	// events makes the chaincode event payload from the transaction ID.
	events func(txID string) []byte
	txTime time.Time
	// status is the chaincode response status (0: 200); eventChaincode
	// overrides the chaincode the event names.
	status         int32
	eventChaincode string
	// request is the contract request (args[1]); empty: {"batchId":"b1"}.
	request []byte
}

// envelope builds and signs an endorser transaction envelope as a Fabric
// gateway client and endorsing peers would, and returns it with its ID.
func (n *testNet) envelope(t testing.TB, tx testTx) ([]byte, string) {
	t.Helper()
	nonce := make([]byte, 24)
	if _, err := rand.Read(nonce); err != nil {
		t.Fatal(err)
	}
	txID := fabricTxID(nonce, tx.creator.serialized)
	shdr := mustMarshal(t, &common.SignatureHeader{Creator: tx.creator.serialized, Nonce: nonce})
	ccID := &peer.ChaincodeID{Name: testChaincode}
	chdr := mustMarshal(t, &common.ChannelHeader{
		Type:      int32(common.HeaderType_ENDORSER_TRANSACTION),
		Timestamp: timestamppb.New(tx.txTime),
		ChannelId: testChannel,
		TxId:      txID,
		Extension: mustMarshal(t, &peer.ChaincodeHeaderExtension{ChaincodeId: ccID}),
	})
	request := tx.request
	if request == nil {
		request = []byte(`{"batchId":"b1"}`)
	}
	cis := mustMarshal(t, &peer.ChaincodeInvocationSpec{ChaincodeSpec: &peer.ChaincodeSpec{
		Type:        peer.ChaincodeSpec_GOLANG,
		ChaincodeId: ccID,
		Input:       &peer.ChaincodeInput{Args: [][]byte{[]byte(tx.function), request}},
	}})
	// The transient map never reaches the transaction.
	cpp := mustMarshal(t, &peer.ChaincodeProposalPayload{Input: cis})
	ph := sha256.New()
	ph.Write(chdr)
	ph.Write(shdr)
	ph.Write(cpp)
	status, eventCC := tx.status, tx.eventChaincode
	if status == 0 {
		status = 200
	}
	if eventCC == "" {
		eventCC = testChaincode
	}
	action := &peer.ChaincodeAction{
		Results:     []byte("read-write set"),
		Response:    &peer.Response{Status: status, Payload: []byte(`{}`)},
		ChaincodeId: &peer.ChaincodeID{Name: testChaincode, Version: "1.0"},
	}
	if tx.eventName != "" {
		action.Events = mustMarshal(t, &peer.ChaincodeEvent{ChaincodeId: eventCC, TxId: txID, EventName: tx.eventName, Payload: tx.events(txID)})
	}
	prp := mustMarshal(t, &peer.ProposalResponsePayload{ProposalHash: ph.Sum(nil), Extension: mustMarshal(t, action)})
	var ends []*peer.Endorsement
	for _, e := range tx.endorsers {
		ends = append(ends, &peer.Endorsement{Endorser: e.serialized, Signature: e.sign(t, append(append([]byte{}, prp...), e.serialized...))})
	}
	cap := mustMarshal(t, &peer.ChaincodeActionPayload{
		ChaincodeProposalPayload: cpp,
		Action:                   &peer.ChaincodeEndorsedAction{ProposalResponsePayload: prp, Endorsements: ends},
	})
	data := mustMarshal(t, &peer.Transaction{Actions: []*peer.TransactionAction{{Header: shdr, Payload: cap}}})
	payload := mustMarshal(t, &common.Payload{Header: &common.Header{ChannelHeader: chdr, SignatureHeader: shdr}, Data: data})
	env := mustMarshal(t, &common.Envelope{Payload: payload, Signature: tx.creator.sign(t, payload)})
	return env, txID
}

// ordererSignatures returns the SIGNATURES metadata entry an orderer writes
// for a header (orderer/common/multichannel BlockWriter).
func (n *testNet) ordererSignatures(t testing.TB, header []byte) []byte {
	t.Helper()
	value := mustMarshal(t, &common.OrdererBlockMetadata{
		LastConfig:        &common.LastConfig{Index: 0},
		ConsenterMetadata: mustMarshal(t, &common.Metadata{Value: []byte("raft")}),
	})
	nonce := make([]byte, 24)
	if _, err := rand.Read(nonce); err != nil {
		t.Fatal(err)
	}
	shdr := mustMarshal(t, &common.SignatureHeader{Creator: n.orderer.serialized, Nonce: nonce})
	msg := append(append(append([]byte{}, value...), shdr...), header...)
	return mustMarshal(t, &common.Metadata{Value: value, Signatures: []*common.MetadataSignature{{SignatureHeader: shdr, Signature: n.orderer.sign(t, msg)}}})
}

// block assembles a committed block as a peer serves it: header, data,
// orderer signatures and the peer's validation flags.
func (n *testNet) block(t testing.TB, number uint64, prev []byte, data [][]byte, flags []byte) []byte {
	t.Helper()
	dh := fabricDataHash(data)
	h := &common.BlockHeader{Number: number, PreviousHash: prev, DataHash: dh[:]}
	return mustMarshal(t, &common.Block{
		Header: h,
		Data:   &common.BlockData{Data: data},
		Metadata: &common.BlockMetadata{Metadata: [][]byte{
			n.ordererSignatures(t, fabricHeaderBytes(number, prev, dh[:])),
			{},
			flags,
			{},
			[]byte("commit hash"),
		}},
	})
}

// twoEvents is a tokentrail event payload with two events of one transaction.
func twoEvents(txID string) []byte {
	b, err := json.Marshal(contract.WriteEvent{Events: []contract.Event{
		{EventID: txID + "-0", Type: "PROCESSED", BatchIDs: []string{"b1", "b2"}, BatchID: "b1", Seq: 3, Actor: "ProcessorMSP", TxID: txID, Timestamp: "2025-03-01T10:00:00.123456789Z"},
		{EventID: txID + "-1", Type: "COLLECTED", BatchIDs: []string{"b2"}, BatchID: "b2", Seq: 1, Actor: "ProcessorMSP", TxID: txID, Timestamp: "2025-03-01T10:00:00.123456789Z"},
	}})
	if err != nil {
		panic(err)
	}
	return b
}

func noEvents(string) []byte { return []byte(`{"events":[]}`) }

var (
	testTxTime   = time.Date(2025, 3, 1, 10, 0, 0, 123456789, time.UTC)
	testPrevHash = sha256.Sum256([]byte("block 6"))
)

// fixture is a committed block of three transactions and the receipt of the
// middle one, which two organisations endorsed.
type fixture struct {
	net   *testNet
	txID  string
	block []byte
	r     *Receipt
	json  []byte
}

func (n *testNet) tx(endorsers []*testSigner) testTx {
	return testTx{creator: n.client, endorsers: endorsers, function: contract.FnProcess,
		eventName: contract.EventName, events: twoEvents, txTime: testTxTime}
}

func newFixture(t testing.TB, n *testNet, tx testTx, flag byte) *fixture {
	t.Helper()
	f := &fixture{net: n}
	env, txID := n.envelope(t, tx)
	before, _ := n.envelope(t, testTx{creator: n.client, endorsers: n.peers[1:], function: contract.FnCollect,
		eventName: contract.EventName, events: noEvents, txTime: testTxTime.Add(-time.Second)})
	after, _ := n.envelope(t, testTx{creator: n.client, endorsers: n.peers, function: contract.FnAudit,
		eventName: contract.EventName, events: noEvents, txTime: testTxTime.Add(time.Second)})
	f.txID = txID
	f.block = n.block(t, 7, testPrevHash[:], [][]byte{before, env, after}, []byte{0, flag, 0})
	return f
}

func (f *fixture) build(t testing.TB) *fixture {
	t.Helper()
	var err error
	if f.r, err = BuildFabric(testChannel, f.block, f.txID); err != nil {
		t.Fatal(err)
	}
	if f.json, err = f.r.Marshal(); err != nil {
		t.Fatal(err)
	}
	return f
}

// clone returns a deep copy of the fixture's receipt.
func (f *fixture) clone(t testing.TB) *Receipt {
	t.Helper()
	r, err := decodeCanonical(f.json)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func marshalReceipt(t testing.TB, r *Receipt) []byte {
	t.Helper()
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// reseal recomputes the data hash and block hash of a receipt whose data
// was changed and has the orderer sign the new header, as a colluding
// orderer would: what is left to catch the change is the checks inside the
// transaction.
func (f *fixture) reseal(t testing.TB, r *Receipt) {
	t.Helper()
	ev := r.Fabric
	prev, err := parseHexHash(ev.PrevHash)
	if err != nil {
		t.Fatal(err)
	}
	dh := fabricDataHash(ev.Data)
	header := fabricHeaderBytes(r.BlockNumber, prev[:], dh[:])
	bh := sha256.Sum256(header)
	ev.DataHash, ev.BlockHash = HexHash(dh), HexHash(bh)
	ev.Signatures = f.net.ordererSignatures(t, header)
}

// editTx lets edit change the receipt's transaction envelope and re-encodes
// it; a non-nil signer then signs the changed payload.
func (f *fixture) editTx(t testing.TB, r *Receipt, edit func(env *common.Envelope, p *common.Payload, cap *peer.ChaincodeActionPayload), signer *testSigner) {
	t.Helper()
	var env common.Envelope
	mustUnmarshal(t, r.Fabric.Data[r.Fabric.TxIndex], &env)
	var p common.Payload
	mustUnmarshal(t, env.Payload, &p)
	var tx peer.Transaction
	mustUnmarshal(t, p.Data, &tx)
	var cap peer.ChaincodeActionPayload
	mustUnmarshal(t, tx.Actions[0].Payload, &cap)
	edit(&env, &p, &cap)
	tx.Actions[0].Payload = mustMarshal(t, &cap)
	p.Data = mustMarshal(t, &tx)
	env.Payload = mustMarshal(t, &p)
	if signer != nil {
		env.Signature = signer.sign(t, env.Payload)
	}
	r.Fabric.Data[r.Fabric.TxIndex] = mustMarshal(t, &env)
}

func wantCheck(t testing.TB, err error, want Check) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not a *receipt.Error (want check %s)", err, want)
	}
	if e.Check != want {
		t.Fatalf("failed check %s (%v), want %s", e.Check, err, want)
	}
}

func TestFabricReceiptVerifies(t *testing.T) {
	n := newTestNet(t)
	f := newFixture(t, n, n.tx(n.peers[:2]), 0).build(t)
	if ValidationCodeValid != peer.TxValidationCode_VALID.String() {
		t.Fatalf("ValidationCodeValid is %q, Fabric's name is %q", ValidationCodeValid, peer.TxValidationCode_VALID.String())
	}
	if f.r.Kind != KindFabric || f.r.TxID != f.txID || f.r.BlockNumber != 7 || f.r.Fabric.TxIndex != 1 || f.r.Fabric.ValidationCode != ValidationCodeValid {
		t.Fatalf("receipt envelope: %+v", f.r)
	}
	p, err := Verify(f.json, n.anchor)
	if err != nil {
		t.Fatal(err)
	}
	orderer, _ := KeyFingerprint(&n.orderer.key.PublicKey)
	header := fabricHeaderBytes(7, testPrevHash[:], mustHex(t, f.r.Fabric.DataHash))
	wantHash := sha256.Sum256(header)
	wantEvents, err := splitWriteEvent(twoEvents(f.txID))
	if err != nil || len(wantEvents) != 2 {
		t.Fatalf("test payload: %d events, %v", len(wantEvents), err)
	}
	ts := "2025-03-01T10:00:00.123456789Z"
	switch {
	case p.Kind != KindFabric || p.TxID != f.txID || p.BlockNumber != 7:
		t.Errorf("proof names %s %s %d", p.Kind, p.TxID, p.BlockNumber)
	case p.BlockHash != HexHash(wantHash) || p.PrevHash != HexHash(testPrevHash):
		t.Errorf("proof hashes %s %s", p.BlockHash, p.PrevHash)
	case p.Timestamp != ts || p.BlockTime != ts:
		t.Errorf("proof times %s %s, want %s", p.Timestamp, p.BlockTime, ts)
	case p.Creator != "ProcessorMSP" || p.Function != contract.FnProcess:
		t.Errorf("proof creator %s function %s", p.Creator, p.Function)
	case p.Signer != orderer:
		t.Errorf("proof signer %s, want the orderer's %s", p.Signer, orderer)
	case strings.Join(p.Endorsers, ",") != "ProviderMSP,RegulatorMSP":
		t.Errorf("proof endorsers %v", p.Endorsers)
	case len(p.Events) != 2 || len(f.r.Events) != 2:
		t.Fatalf("proof has %d events, receipt %d", len(p.Events), len(f.r.Events))
	}
	for i, e := range p.Events {
		if !bytes.Equal(f.r.Events[i], wantEvents[i]) {
			t.Errorf("receipt event %d is %s, want the payload's %s", i, f.r.Events[i], wantEvents[i])
		}
		if e.EventID != fmt.Sprintf("%s-%d", f.txID, i) || e.Digest != Digest(wantEvents[i]) {
			t.Errorf("proved event %d: %+v", i, e)
		}
	}
	if p.Events[0].Type != "PROCESSED" || strings.Join(p.Events[0].BatchIDs, ",") != "b1,b2" {
		t.Errorf("proved event 0: %+v", p.Events[0])
	}

	// The same through VerifyFabric, pinning the chaincode.
	if _, err := VerifyFabric(f.json, n.anchor, FabricOptions{Chaincode: testChaincode}); err != nil {
		t.Fatal(err)
	}
	_, err = VerifyFabric(f.json, n.anchor, FabricOptions{Chaincode: "other"})
	wantCheck(t, err, CheckBinding)
	// Three endorsing organisations were asked for, two endorsed.
	_, err = VerifyFabric(f.json, n.anchor, FabricOptions{MinEndorsingOrgs: 3})
	wantCheck(t, err, CheckEndorsement)
}

// otherHexDigit changes the first digit of a hex string.
func otherHexDigit(s string) string {
	if s[0] == 'f' {
		return "e" + s[1:]
	}
	return "f" + s[1:]
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := parseHex(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFabricReceiptTampered(t *testing.T) {
	n := newTestNet(t)
	f := newFixture(t, n, n.tx(n.peers[:2]), 0).build(t)
	other := newFixture(t, n, n.tx(n.peers[:2]), 0).build(t)
	client2 := n.orgs["ExchangeMSP"].signer(t, "User1@exchange", "client")

	flipSig := func(sig []byte) {
		// A byte inside the DER integers, so the result still parses.
		sig[len(sig)-3] ^= 0x01
	}
	cases := []struct {
		name   string
		edit   func(r *Receipt)
		reseal bool
		want   Check
	}{
		{"event byte", func(r *Receipt) {
			r.Events[0] = bytes.Replace(r.Events[0], []byte("PROCESSED"), []byte("PROCESSEE"), 1)
		}, false, CheckEventDigest},
		{"event dropped", func(r *Receipt) { r.Events = r.Events[:1] }, false, CheckEventDigest},
		{"events swapped", func(r *Receipt) { r.Events[0], r.Events[1] = r.Events[1], r.Events[0] }, false, CheckEventDigest},
		{"byte of this transaction", func(r *Receipt) { r.Fabric.Data[1][40] ^= 0x01 }, false, CheckDataHash},
		{"byte of another transaction", func(r *Receipt) { r.Fabric.Data[2][100] ^= 0x01 }, false, CheckDataHash},
		{"data entry dropped", func(r *Receipt) { r.Fabric.Data = r.Fabric.Data[:2] }, false, CheckDataHash},
		{"data hash recomputed", func(r *Receipt) {
			r.Fabric.Data[2][100] ^= 0x01
			r.Fabric.DataHash = HexHash(fabricDataHash(r.Fabric.Data))
		}, false, CheckHeader},
		{"block number", func(r *Receipt) { r.BlockNumber++ }, false, CheckHeader},
		{"previous hash", func(r *Receipt) { r.Fabric.PrevHash = otherHexDigit(r.Fabric.PrevHash) }, false, CheckHeader},
		{"block hash", func(r *Receipt) { r.Fabric.BlockHash = otherHexDigit(r.Fabric.BlockHash) }, false, CheckHeader},
		{"block number with block hash recomputed", func(r *Receipt) {
			r.BlockNumber++
			h := sha256.Sum256(fabricHeaderBytes(r.BlockNumber, mustHex(t, r.Fabric.PrevHash), mustHex(t, r.Fabric.DataHash)))
			r.Fabric.BlockHash = HexHash(h)
		}, false, CheckSignature},
		{"orderer signature byte", func(r *Receipt) {
			var md common.Metadata
			mustUnmarshal(t, r.Fabric.Signatures, &md)
			flipSig(md.Signatures[0].Signature)
			r.Fabric.Signatures = mustMarshal(t, &md)
		}, false, CheckSignature},
		{"orderer signature high-S twin", func(r *Receipt) {
			var md common.Metadata
			mustUnmarshal(t, r.Fabric.Signatures, &md)
			var rs struct{ R, S *big.Int }
			if _, err := asn1.Unmarshal(md.Signatures[0].Signature, &rs); err != nil {
				t.Fatal(err)
			}
			rs.S.Sub(elliptic.P256().Params().N, rs.S)
			md.Signatures[0].Signature, _ = asn1.Marshal(rs)
			r.Fabric.Signatures = mustMarshal(t, &md)
		}, false, CheckSignature},
		{"orderer signature metadata value", func(r *Receipt) {
			var md common.Metadata
			mustUnmarshal(t, r.Fabric.Signatures, &md)
			md.Value = append(md.Value, 0)
			r.Fabric.Signatures = mustMarshal(t, &md)
		}, false, CheckSignature},
		{"second, bad orderer signature", func(r *Receipt) {
			var md common.Metadata
			mustUnmarshal(t, r.Fabric.Signatures, &md)
			bad := proto.Clone(md.Signatures[0]).(*common.MetadataSignature)
			flipSig(bad.Signature)
			md.Signatures = append(md.Signatures, bad)
			r.Fabric.Signatures = mustMarshal(t, &md)
		}, false, CheckSignature},
		{"orderer signature duplicated", func(r *Receipt) {
			var md common.Metadata
			mustUnmarshal(t, r.Fabric.Signatures, &md)
			md.Signatures = append(md.Signatures, md.Signatures[0])
			r.Fabric.Signatures = mustMarshal(t, &md)
		}, false, CheckSignature},
		{"orderer signatures with an unknown field", func(r *Receipt) {
			r.Fabric.Signatures = append(bytes.Clone(r.Fabric.Signatures), 0x2a, 0x01, 0x00)
		}, false, CheckSignature},
		{"orderer signatures with a long-form length", func(r *Receipt) {
			// Field 1 (value), its one-byte length re-encoded in two bytes.
			sig := r.Fabric.Signatures
			if sig[0] != 0x0a || sig[1] >= 0x80 {
				t.Fatalf("unexpected encoding % x", sig[:2])
			}
			r.Fabric.Signatures = append([]byte{0x0a, sig[1] | 0x80, 0x00}, sig[2:]...)
		}, false, CheckSignature},
		{"orderer signature with an identifier header", func(r *Receipt) {
			var md common.Metadata
			mustUnmarshal(t, r.Fabric.Signatures, &md)
			md.Signatures[0].IdentifierHeader = mustMarshal(t, &common.IdentifierHeader{Identifier: 1})
			r.Fabric.Signatures = mustMarshal(t, &md)
		}, false, CheckSignature},
		{"no orderer signature", func(r *Receipt) {
			r.Fabric.Signatures = mustMarshal(t, &common.Metadata{Value: []byte("x")})
		}, false, CheckSignature},
		{"orderer signatures of another block", func(r *Receipt) { r.Fabric.Signatures = other.r.Fabric.Signatures }, false, CheckSignature},
		{"creator signature", func(r *Receipt) {
			f.editTx(t, r, func(env *common.Envelope, _ *common.Payload, _ *peer.ChaincodeActionPayload) { flipSig(env.Signature) }, nil)
		}, true, CheckCreator},
		{"creator changed", func(r *Receipt) {
			f.editTx(t, r, func(env *common.Envelope, p *common.Payload, _ *peer.ChaincodeActionPayload) {
				var sh common.SignatureHeader
				mustUnmarshal(t, p.Header.SignatureHeader, &sh)
				sh.Creator = n.peers[0].serialized
				p.Header.SignatureHeader = mustMarshal(t, &sh)
			}, nil)
		}, true, CheckCreator},
		{"creator replaced by another client who signs", func(r *Receipt) {
			f.editTx(t, r, func(env *common.Envelope, p *common.Payload, _ *peer.ChaincodeActionPayload) {
				var sh common.SignatureHeader
				mustUnmarshal(t, p.Header.SignatureHeader, &sh)
				sh.Creator = client2.serialized
				p.Header.SignatureHeader = mustMarshal(t, &sh)
			}, client2)
		}, true, CheckCreator},
		{"endorsement signature", func(r *Receipt) {
			f.editTx(t, r, func(_ *common.Envelope, _ *common.Payload, cap *peer.ChaincodeActionPayload) {
				flipSig(cap.Action.Endorsements[1].Signature)
			}, n.client)
		}, true, CheckEndorsement},
		{"endorsement dropped", func(r *Receipt) {
			f.editTx(t, r, func(_ *common.Envelope, _ *common.Payload, cap *peer.ChaincodeActionPayload) {
				cap.Action.Endorsements = cap.Action.Endorsements[:1]
			}, n.client)
		}, true, CheckEndorsement},
		{"endorsement duplicated", func(r *Receipt) {
			f.editTx(t, r, func(_ *common.Envelope, _ *common.Payload, cap *peer.ChaincodeActionPayload) {
				cap.Action.Endorsements[1] = cap.Action.Endorsements[0]
			}, n.client)
		}, true, CheckEndorsement},
		{"endorsed result of another transaction", func(r *Receipt) {
			var otherEnv common.Envelope
			mustUnmarshal(t, other.r.Fabric.Data[1], &otherEnv)
			var op common.Payload
			mustUnmarshal(t, otherEnv.Payload, &op)
			var otx peer.Transaction
			mustUnmarshal(t, op.Data, &otx)
			var ocap peer.ChaincodeActionPayload
			mustUnmarshal(t, otx.Actions[0].Payload, &ocap)
			f.editTx(t, r, func(_ *common.Envelope, _ *common.Payload, cap *peer.ChaincodeActionPayload) {
				cap.Action = ocap.Action
			}, n.client)
		}, true, CheckEndorsement},
		{"chaincode arguments changed after endorsement", func(r *Receipt) {
			f.editTx(t, r, func(_ *common.Envelope, _ *common.Payload, cap *peer.ChaincodeActionPayload) {
				cap.ChaincodeProposalPayload = append(cap.ChaincodeProposalPayload, 0x0a, 0x00)
			}, n.client)
		}, true, CheckEndorsement},
		{"validation code", func(r *Receipt) { r.Fabric.ValidationCode = peer.TxValidationCode_MVCC_READ_CONFLICT.String() }, false, CheckValidation},
		{"validation code spelled differently", func(r *Receipt) { r.Fabric.ValidationCode = "valid" }, false, CheckValidation},
		{"transaction ID", func(r *Receipt) { r.TxID = other.txID }, false, CheckBinding},
		{"transaction index", func(r *Receipt) { r.Fabric.TxIndex = 0 }, false, CheckBinding},
		{"transaction index out of range", func(r *Receipt) { r.Fabric.TxIndex = 3 }, false, CheckFormat},
		{"channel", func(r *Receipt) { r.Fabric.Channel = "other" }, false, CheckBinding},
		{"chaincode", func(r *Receipt) { r.Fabric.Chaincode = "other" }, false, CheckBinding},
		{"no evidence", func(r *Receipt) { r.Fabric = nil }, false, CheckFormat},
		{"kind", func(r *Receipt) { r.Kind = KindEmbedded }, false, CheckFormat},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := f.clone(t)
			c.edit(r)
			if c.reseal {
				f.reseal(t, r)
			}
			_, err := Verify(marshalReceipt(t, r), n.anchor)
			wantCheck(t, err, c.want)
		})
	}
}

// TestFabricReceiptActionHeader: the endorsed proposal must be the
// transaction's own, header included. A transaction action whose header is
// another signature header of the same creator is refused even before the
// proposal hash is compared.
func TestFabricReceiptActionHeader(t *testing.T) {
	n := newTestNet(t)
	f := newFixture(t, n, n.tx(n.peers[:2]), 0).build(t)
	r := f.clone(t)
	var env common.Envelope
	mustUnmarshal(t, r.Fabric.Data[1], &env)
	var p common.Payload
	mustUnmarshal(t, env.Payload, &p)
	var tx peer.Transaction
	mustUnmarshal(t, p.Data, &tx)
	var sh common.SignatureHeader
	mustUnmarshal(t, tx.Actions[0].Header, &sh)
	sh.Nonce = append(sh.Nonce, 1)
	tx.Actions[0].Header = mustMarshal(t, &sh)
	p.Data = mustMarshal(t, &tx)
	env.Payload = mustMarshal(t, &p)
	env.Signature = n.client.sign(t, env.Payload)
	r.Fabric.Data[1] = mustMarshal(t, &env)
	f.reseal(t, r)
	_, err := Verify(marshalReceipt(t, r), n.anchor)
	wantCheck(t, err, CheckEndorsement)
	if !strings.Contains(err.Error(), "signature header is not the transaction's") {
		t.Fatalf("failed for another reason: %v", err)
	}
}

// TestFabricReceiptChaincode: the chaincode a receipt names must be the one
// the endorsers executed, not only the one the event names.
func TestFabricReceiptChaincode(t *testing.T) {
	n := newTestNet(t)
	tx := n.tx(n.peers[:2])
	tx.eventChaincode = "other"
	f := newFixture(t, n, tx, 0).build(t)
	f.r.Fabric.Chaincode = "other"
	_, err := Verify(marshalReceipt(t, f.r), n.anchor)
	wantCheck(t, err, CheckBinding)
	if !strings.Contains(err.Error(), "endorsed for") {
		t.Fatalf("failed for another reason: %v", err)
	}
}

func TestFabricReceiptRolesAndOrganisations(t *testing.T) {
	n := newTestNet(t)
	client2 := n.orgs["ExchangeMSP"].signer(t, "User1@exchange", "client")
	admin := n.orgs["RegulatorMSP"].signer(t, "Admin@regulator", "admin")
	secondPeer := n.orgs["RegulatorMSP"].signer(t, "peer1.regulator", "peer")
	// A CA certificate with a peer OU, issued by the organisation's root:
	// it chains and has the role, but a CA may not act as an identity.
	caPeer := n.orgs["ExchangeMSP"].signer(t, "ca-peer.exchange", "peer")
	caPeer.serialized = caIdentity(t, n.orgs["ExchangeMSP"], caPeer)
	with := func(edit func(*testTx)) testTx {
		tx := n.tx(n.peers[:2])
		edit(&tx)
		return tx
	}
	cases := []struct {
		name string
		tx   testTx
		want Check // "" means it verifies
	}{
		{"an admin may submit", func() testTx { tx := n.tx(n.peers[:2]); tx.creator = admin; return tx }(), ""},
		{"three endorsing organisations", n.tx(n.peers), ""},
		{"one endorsing organisation", n.tx(n.peers[:1]), CheckEndorsement},
		{"two peers of one organisation", n.tx([]*testSigner{n.peers[0], secondPeer}), CheckEndorsement},
		{"a client endorsed", n.tx([]*testSigner{n.peers[0], client2}), CheckEndorsement},
		{"an orderer endorsed", n.tx([]*testSigner{n.peers[0], n.orderer}), CheckEndorsement},
		{"a peer submitted", func() testTx { tx := n.tx(n.peers[:2]); tx.creator = n.peers[2]; return tx }(), CheckCreator},
		{"a CA certificate endorsed", n.tx([]*testSigner{n.peers[0], caPeer}), CheckEndorsement},
		{"the chaincode answered with an error", with(func(tx *testTx) { tx.status = 500 }), CheckEndorsement},
		{"the events name another transaction", with(func(tx *testTx) {
			tx.events = func(string) []byte { return twoEvents("another-transaction") }
		}), CheckBinding},
		{"the event names another chaincode", with(func(tx *testTx) { tx.eventChaincode = "other" }), CheckBinding},
		{"no event", func() testTx { tx := n.tx(n.peers[:2]); tx.eventName = ""; return tx }(), CheckEventDigest},
		{"another event name", func() testTx { tx := n.tx(n.peers[:2]); tx.eventName = "other"; return tx }(), CheckEventDigest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, n, c.tx, 0)
			r, err := BuildFabric(testChannel, f.block, f.txID)
			if c.want == CheckEventDigest {
				// BuildFabric refuses it; build the receipt by hand to
				// show the verifier refuses it too.
				if err == nil {
					t.Fatal("BuildFabric accepted a transaction without the tokentrail event")
				}
				var b common.Block
				mustUnmarshal(t, f.block, &b)
				// It carries the events the transaction would have had.
				events, err := splitWriteEvent(twoEvents(f.txID))
				if err != nil {
					t.Fatal(err)
				}
				r = &Receipt{Kind: KindFabric, TxID: f.txID, BlockNumber: 7, Events: events,
					Fabric: &Fabric{Channel: testChannel, Chaincode: testChaincode, PrevHash: HexHash(testPrevHash),
						DataHash: HexHash(fabricDataHash(b.Data.Data)), TxIndex: 1, ValidationCode: ValidationCodeValid,
						Signatures: b.Metadata.Metadata[0], Data: b.Data.Data}}
				h := sha256.Sum256(fabricHeaderBytes(7, testPrevHash[:], b.Header.DataHash))
				r.Fabric.BlockHash = HexHash(h)
			} else if err != nil {
				t.Fatal(err)
			}
			p, err := Verify(marshalReceipt(t, r), n.anchor)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if p.Creator != c.tx.creator.msp {
					t.Errorf("proof creator %s, want %s", p.Creator, c.tx.creator.msp)
				}
				return
			}
			wantCheck(t, err, c.want)
		})
	}
}

func TestFabricReceiptTrustAnchor(t *testing.T) {
	n := newTestNet(t)
	f := newFixture(t, n, n.tx(n.peers[:2]), 0).build(t)

	// Another network with organisations of the same names.
	elsewhere := newTestNet(t)
	_, err := Verify(f.json, elsewhere.anchor)
	wantCheck(t, err, CheckTrustAnchor)

	// The anchor without the orderer organisation, or without an endorser's.
	without := func(drop string) []byte {
		roots := map[string][][]byte{}
		for id, o := range n.orgs {
			if id != drop {
				roots[id] = [][]byte{o.pem}
			}
		}
		a, err := FabricTrustAnchor(roots)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	for _, drop := range []string{"OrdererMSP", "ProcessorMSP", "ProviderMSP"} {
		_, err := Verify(f.json, without(drop))
		wantCheck(t, err, CheckTrustAnchor)
	}
	// An organisation's root filed under another MSP ID.
	swapped := map[string][][]byte{}
	for id, o := range n.orgs {
		swapped[id] = [][]byte{o.pem}
	}
	swapped["RegulatorMSP"], swapped["ProviderMSP"] = swapped["ProviderMSP"], swapped["RegulatorMSP"]
	a, err := FabricTrustAnchor(swapped)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Verify(f.json, a)
	wantCheck(t, err, CheckTrustAnchor)

	unlabelled := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: n.orgs["OrdererMSP"].cert.Raw})
	key, _ := x509.MarshalPKIXPublicKey(&n.orderer.key.PublicKey)
	for name, anchor := range map[string][]byte{
		"empty":          nil,
		"not PEM":        []byte("hello"),
		"unlabelled":     unlabelled,
		"a public key":   pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: key}),
		"extra header":   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Headers: map[string]string{"MSP-ID": "OrdererMSP", "Role": "x"}, Bytes: n.orgs["OrdererMSP"].cert.Raw}),
		"a leaf, not CA": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Headers: map[string]string{"MSP-ID": "OrdererMSP"}, Bytes: leafDER(t, n.orderer)}),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Verify(f.json, anchor)
			wantCheck(t, err, CheckTrustAnchor)
		})
	}
}

// caIdentity returns s's serialized identity with its certificate re-issued
// by org as a CA certificate.
func caIdentity(t testing.TB, org *testOrg, s *testSigner) []byte {
	t.Helper()
	testSerial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(testSerial),
		Subject:               pkix.Name{CommonName: "ca-peer", OrganizationalUnit: []string{"peer"}},
		NotBefore:             time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, org.cert, &s.key.PublicKey, org.key)
	if err != nil {
		t.Fatal(err)
	}
	return mustMarshal(t, &msp.SerializedIdentity{Mspid: org.msp, IdBytes: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})})
}

func leafDER(t testing.TB, s *testSigner) []byte {
	t.Helper()
	var sid msp.SerializedIdentity
	mustUnmarshal(t, s.serialized, &sid)
	b, _ := pem.Decode(sid.IdBytes)
	return b.Bytes
}

func TestFabricTrustAnchorFormat(t *testing.T) {
	n := newTestNet(t)
	reg, ord := n.orgs["RegulatorMSP"], n.orgs["OrdererMSP"]
	second := newTestOrg(t, "RegulatorMSP")
	// A cacerts directory of two files, one of them holding both roots; the
	// order of files and of certificates does not matter.
	a1, err := FabricTrustAnchor(map[string][][]byte{
		"RegulatorMSP": {append(append([]byte{}, reg.pem...), second.pem...), second.pem},
		"OrdererMSP":   {ord.pem},
	})
	if err != nil {
		t.Fatal(err)
	}
	a2, err := FabricTrustAnchor(map[string][][]byte{
		"OrdererMSP":   {ord.pem},
		"RegulatorMSP": {second.pem, reg.pem},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a1, a2) {
		t.Fatalf("trust anchor is not canonical:\n%s\n%s", a1, a2)
	}
	if c := strings.Count(string(a1), "BEGIN CERTIFICATE"); c != 3 {
		t.Fatalf("anchor holds %d certificates, want 3", c)
	}
	if !strings.HasPrefix(string(a1), "-----BEGIN CERTIFICATE-----\nMSP-ID: OrdererMSP\n\n") {
		t.Fatalf("anchor does not start with the labelled OrdererMSP root:\n%s", a1)
	}
	roots, err := ParseFabricTrustAnchor(a1)
	if err != nil {
		t.Fatal(err)
	}
	if len(roots["OrdererMSP"]) != 1 || len(roots["RegulatorMSP"]) != 2 || len(roots) != 2 {
		t.Fatalf("parsed roots: %v", roots)
	}
	// Comments around the blocks are allowed.
	if _, err := ParseFabricTrustAnchor(append([]byte("# tokentrail channel roots\n"), a1...)); err != nil {
		t.Fatal(err)
	}

	for name, in := range map[string]map[string][][]byte{
		"nothing":        {},
		"empty MSP ID":   {"": {ord.pem}},
		"not PEM":        {"OrdererMSP": {[]byte("not a certificate")}},
		"empty file":     {"OrdererMSP": {nil}},
		"a private key":  {"OrdererMSP": {pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})}},
		"a leaf":         {"OrdererMSP": {pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER(t, n.orderer)})}},
		"trailing noise": {"OrdererMSP": {append(append([]byte{}, ord.pem...), "junk"...)}},
	} {
		if a, err := FabricTrustAnchor(in); err == nil {
			t.Errorf("%s: FabricTrustAnchor accepted it:\n%s", name, a)
		}
	}
}

func TestBuildFabricRefuses(t *testing.T) {
	n := newTestNet(t)
	f := newFixture(t, n, n.tx(n.peers[:2]), byte(peer.TxValidationCode_MVCC_READ_CONFLICT))
	if _, err := BuildFabric(testChannel, f.block, f.txID); err == nil || !strings.Contains(err.Error(), "MVCC_READ_CONFLICT") {
		t.Errorf("invalid transaction: %v", err)
	}
	f = newFixture(t, n, n.tx(n.peers[:2]), 0)
	if _, err := BuildFabric(testChannel, f.block, "f00d"); err == nil || !strings.Contains(err.Error(), "not in block") {
		t.Errorf("missing transaction: %v", err)
	}
	if _, err := BuildFabric("other", f.block, f.txID); err == nil {
		t.Error("BuildFabric accepted a transaction of another channel")
	}
	if _, err := BuildFabric(testChannel, []byte("not a block"), f.txID); err == nil {
		t.Error("BuildFabric accepted garbage")
	}
	var b common.Block
	mustUnmarshal(t, f.block, &b)
	b.Metadata.Metadata = b.Metadata.Metadata[:1]
	if _, err := BuildFabric(testChannel, mustMarshal(t, &b), f.txID); err == nil {
		t.Error("BuildFabric accepted a block without validation flags")
	}
	mustUnmarshal(t, f.block, &b)
	b.Data.Data[0][10] ^= 1
	if _, err := BuildFabric(testChannel, mustMarshal(t, &b), f.txID); err == nil {
		t.Error("BuildFabric accepted a block whose data does not match its header")
	}

	// A transaction ID that occurs twice: the valid occurrence is taken.
	f = newFixture(t, n, n.tx(n.peers[:2]), 0)
	mustUnmarshal(t, f.block, &b)
	data := [][]byte{b.Data.Data[1], b.Data.Data[0], b.Data.Data[1]}
	block := n.block(t, 7, testPrevHash[:], data, []byte{byte(peer.TxValidationCode_BAD_PAYLOAD), 0, 0})
	// The first is marked invalid; the duplicate is the one a peer would
	// have marked DUPLICATE_TXID, but here the flags say it is valid.
	r, err := BuildFabric(testChannel, block, f.txID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Fabric.TxIndex != 2 {
		t.Errorf("receipt is for data entry %d, want the valid one, 2", r.Fabric.TxIndex)
	}
	if _, err := Verify(marshalReceipt(t, r), n.anchor); err != nil {
		t.Fatal(err)
	}
}

// TestFabricReceiptEveryByte changes bytes of the canonical receipt and
// requires each changed receipt to fail: every byte of its JSON structure,
// hashes and fields in two ways (0x01 and 0x20, which also changes letter
// case), every byte of the events in one, and every 7th byte of the base64
// of the orderer signatures and the data entries.
func TestFabricReceiptEveryByte(t *testing.T) {
	n := newTestNet(t)
	f := newFixture(t, n, n.tx(n.peers[:2]), 0).build(t)
	if _, err := Verify(f.json, n.anchor); err != nil {
		t.Fatal(err)
	}
	doc := bytes.Clone(f.json)
	eventsStart, eventsEnd := bytes.Index(doc, []byte(`"events":[`)), bytes.Index(doc, []byte(`],"fabric":`))
	blobStart := bytes.Index(doc, []byte(`"signatures":"`)) + len(`"signatures":"`)
	blobEnd := len(doc) - len(`"]}}`)
	if eventsStart < 0 || eventsEnd < eventsStart || blobStart < eventsEnd || !bytes.HasSuffix(doc, []byte(`"]}}`)) {
		t.Fatalf("the receipt is not laid out as the test expects: %.300s", doc)
	}
	step := 7
	if testing.Short() {
		step = 31
	}
	// The positions to change and how, dealt into two parts that run in
	// parallel.
	type change struct {
		at   int
		mask byte
	}
	var changes []change
	for i := range doc {
		switch {
		case i > eventsStart && i < eventsEnd:
			changes = append(changes, change{i, 0x01})
		case i >= blobStart && i < blobEnd:
			if i%step == 0 {
				changes = append(changes, change{i, 0x01})
			}
		default:
			changes = append(changes, change{i, 0x01}, change{i, 0x20})
		}
	}
	parts := make([][]change, 2)
	for i, c := range changes {
		parts[i%2] = append(parts[i%2], c)
	}
	for part, cs := range parts {
		t.Run(fmt.Sprint("part", part), func(t *testing.T) {
			t.Parallel()
			doc := bytes.Clone(f.json)
			failedBy := map[Check]int{}
			for _, c := range cs {
				doc[c.at] ^= c.mask
				_, err := Verify(doc, n.anchor)
				if err == nil {
					t.Fatalf("receipt with byte %d changed from %q to %q verifies (context %q)",
						c.at, f.json[c.at], doc[c.at], f.json[max(0, c.at-20):min(len(doc), c.at+20)])
				}
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("byte %d: error %v is not a *receipt.Error", c.at, err)
				}
				failedBy[e.Check]++
				doc[c.at] ^= c.mask
			}
			t.Logf("%d changed receipts all fail: %v", len(cs), failedBy)
		})
	}
}

// TestFabricBlockReceipts: one decoded block gives every transaction the
// receipt BuildFabric gives it from the block's bytes, and those verify.
// threeTxBlock is a committed block numbered number of three valid
// tokentrail transactions, and their IDs.
func threeTxBlock(t *testing.T, n *testNet, number uint64) ([]byte, []string) {
	t.Helper()
	var envs [][]byte
	var ids []string
	for i, fn := range []string{contract.FnCollect, contract.FnProcess, contract.FnAudit} {
		env, id := n.envelope(t, testTx{creator: n.client, endorsers: n.peers[:2], function: fn,
			eventName: contract.EventName, events: twoEvents, txTime: testTxTime.Add(time.Duration(i) * time.Second)})
		envs, ids = append(envs, env), append(ids, id)
	}
	return n.block(t, number, testPrevHash[:], envs, []byte{0, 0, 0}), ids
}

func TestFabricBlockReceipts(t *testing.T) {
	n := newTestNet(t)
	raw, ids := threeTxBlock(t, n, 9)
	b, err := ParseFabricBlock(raw)
	if err != nil {
		t.Fatal(err)
	}
	if b.Number() != 9 {
		t.Fatalf("block number %d, want 9", b.Number())
	}
	for _, id := range ids {
		fromBlock, err := b.Receipt(testChannel, id)
		if err != nil {
			t.Fatal(err)
		}
		fromBytes, err := BuildFabric(testChannel, raw, id)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := fromBlock.Marshal()
		want, _ := fromBytes.Marshal()
		if !bytes.Equal(got, want) {
			t.Fatalf("tx %s: receipt from the decoded block differs from BuildFabric's", id)
		}
		if _, err := VerifyFabric(got, n.anchor, FabricOptions{Chaincode: testChaincode}); err != nil {
			t.Fatalf("tx %s: %v", id, err)
		}
	}
	if _, err := b.Receipt(testChannel, "f00d"); err == nil || !strings.Contains(err.Error(), "not in block") {
		t.Errorf("missing transaction: %v", err)
	}
}

// TestFabricReceiptSplicedEncoding: a receipt built from a block is encoded
// with the block's data entries encoded once (marshalSpliced); its bytes are
// those of encoding it field by field, and a receipt whose data entries were
// replaced afterwards is encoded from what it holds, not from the block.
func TestFabricReceiptSplicedEncoding(t *testing.T) {
	n := newTestNet(t)
	raw, ids := threeTxBlock(t, n, 11)
	b, err := ParseFabricBlock(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		r, err := b.Receipt(testChannel, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Fabric.encoded == nil || !r.Fabric.encoded.of(r.Fabric.Data) {
			t.Fatal("a receipt built from a block does not use the block's encoding")
		}
		spliced, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		all, err := r.marshalAll()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(spliced, all) {
			t.Fatalf("tx %s: spliced encoding differs from the field-by-field one", id)
		}
		// With consenters (BFT evidence, version 2) the tail is the same.
		r.Fabric.Version = FabricFormatVersion
		r.Fabric.Consenters = []FabricConsenter{{ID: 1, MSPID: "OrdererMSP", Identity: []byte("id")}}
		spliced, _ = r.Marshal()
		all, _ = r.marshalAll()
		if !bytes.Equal(spliced, all) {
			t.Fatalf("tx %s: spliced encoding with consenters differs", id)
		}
	}
	// Data replaced after building: encoded from the receipt's own entries.
	r, _ := b.Receipt(testChannel, ids[0])
	r.Fabric.Data = append([][]byte{}, r.Fabric.Data[:2]...)
	got, _ := r.Marshal()
	want, _ := r.marshalAll()
	if !bytes.Equal(got, want) {
		t.Fatal("a receipt with replaced data entries was encoded from the block's")
	}
}
