package fabric

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/tokentrail/tokentrail/chaincode/contract"
	"github.com/tokentrail/tokentrail/chaincode/contract/contracttest"
)

// world is the committed state of a channel as one peer sees it. Private
// values are kept for every collection, standing in for the hashes every peer
// holds; notHeld marks the collections this peer is not a member of, whose
// values it cannot read.
type world struct {
	state   map[string][]byte
	private map[string]map[string][]byte
	notHeld map[string]bool
}

func newWorld() *world {
	return &world{state: map[string][]byte{}, private: map[string]map[string][]byte{}, notHeld: map[string]bool{}}
}

type collKey struct{ coll, key string }

// fakeStub is one transaction's chaincode stub over a world. Like the peer's
// simulator it reads committed state only, never the transaction's own
// writes, and stages writes for commit. Methods the adapter does not use are
// left to the embedded nil interface: calling one panics, which shows at once
// that the adapter grew a dependency the fake does not model.
type fakeStub struct {
	shim.ChaincodeStubInterface

	w         *world
	args      [][]byte
	txID      string
	ts        *timestamppb.Timestamp
	creator   []byte
	transient map[string][]byte

	writes     map[string][]byte  // nil: delete
	privWrites map[collKey][]byte // nil: purge
	event      *peer.ChaincodeEvent
	openIters  int
	privErr    error // when set, every private read fails with it
	batches    int   // write batches started and not yet finished
}

func (s *fakeStub) GetArgs() [][]byte { return s.args }

func (s *fakeStub) GetStringArgs() []string {
	out := make([]string, len(s.args))
	for i, a := range s.args {
		out[i] = string(a)
	}
	return out
}

func (s *fakeStub) GetFunctionAndParameters() (string, []string) {
	a := s.GetStringArgs()
	if len(a) == 0 {
		return "", nil
	}
	return a[0], a[1:]
}

func (s *fakeStub) GetTxID() string                                 { return s.txID }
func (s *fakeStub) GetChannelID() string                            { return "tokentrail" }
func (s *fakeStub) GetCreator() ([]byte, error)                     { return s.creator, nil }
func (s *fakeStub) GetTxTimestamp() (*timestamppb.Timestamp, error) { return s.ts, nil }
func (s *fakeStub) GetTransient() (map[string][]byte, error)        { return s.transient, nil }

// checkKey applies the rules the shim and the peer apply to simple keys.
func checkKey(key string) error {
	switch {
	case key == "":
		return errors.New("key must not be an empty string")
	case key[0] == 0:
		return fmt.Errorf("first character of the key [%s] contains a null character which is not allowed", key)
	case !utf8.ValidString(key):
		return fmt.Errorf("invalid key. All keys should be valid UTF-8 strings: %q", key)
	}
	return nil
}

func (s *fakeStub) GetState(key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	return s.w.state[key], nil
}

// GetMultipleStates reads like GetState, key by key, as the shim does when
// the peer offers no batched reads.
func (s *fakeStub) GetMultipleStates(keys ...string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		v, err := s.GetState(k)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// The fake stages every write until commit, so a write batch is only
// counted: the adapter must open and close each one it starts.
func (s *fakeStub) StartWriteBatch() { s.batches++ }

func (s *fakeStub) FinishWriteBatch() error {
	if s.batches == 0 {
		return errors.New("FinishWriteBatch without StartWriteBatch")
	}
	s.batches--
	return nil
}

func (s *fakeStub) PutState(key string, value []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if len(value) == 0 {
		// The contract promises never to write an empty value; on Fabric one
		// would read back as absent.
		return fmt.Errorf("empty value for key %q", key)
	}
	s.writes[key] = append([]byte(nil), value...)
	return nil
}

func (s *fakeStub) DelState(key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	s.writes[key] = nil
	return nil
}

func (s *fakeStub) GetStateByRange(start, end string) (shim.StateQueryIteratorInterface, error) {
	return s.rangeOver(s.w.state, start, end)
}

func (s *fakeStub) rangeOver(kv map[string][]byte, start, end string) (shim.StateQueryIteratorInterface, error) {
	if start == "" {
		start = "\x01" // the shim's substitute for an open start
	}
	for _, k := range []string{start, end} {
		if k != "" && k[0] == 0 {
			return nil, fmt.Errorf("first character of the key [%s] contains a null character which is not allowed", k)
		}
	}
	var items []*queryresult.KV
	for k, v := range kv {
		if k >= start && (end == "" || k < end) {
			items = append(items, &queryresult.KV{Namespace: "tokentrail", Key: k, Value: v})
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Key < items[j].Key })
	s.openIters++
	return &fakeIter{s: s, items: items}, nil
}

// fakeIter is a range iterator that counts itself open until closed.
type fakeIter struct {
	s      *fakeStub
	items  []*queryresult.KV
	closed bool
}

func (it *fakeIter) HasNext() bool { return !it.closed && len(it.items) > 0 }

func (it *fakeIter) Next() (*queryresult.KV, error) {
	if it.closed {
		return nil, errors.New("iterator is closed")
	}
	if len(it.items) == 0 {
		return nil, errors.New("no more keys")
	}
	kv := it.items[0]
	it.items = it.items[1:]
	return kv, nil
}

func (it *fakeIter) Close() error {
	if !it.closed {
		it.closed = true
		it.s.openIters--
	}
	return nil
}

func checkCollection(coll string) error {
	if coll == "" {
		return errors.New("collection must not be an empty string")
	}
	return nil
}

// GetPrivateData answers like a peer: on a peer outside the collection, a
// key that exists (its hash is on the ledger) is an error, an absent key is
// nil.
func (s *fakeStub) GetPrivateData(coll, key string) ([]byte, error) {
	if err := checkCollection(coll); err != nil {
		return nil, err
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if s.privErr != nil {
		return nil, s.privErr
	}
	v, ok := s.w.private[coll][key]
	if ok && s.w.notHeld[coll] {
		return nil, fmt.Errorf("GET_STATE failed: transaction ID: %s: private data matching public hash version is not available. Public hash version = {BlockNum: 3, TxNum: 0}, Private data version = <nil>", s.txID)
	}
	return v, nil
}

func (s *fakeStub) PutPrivateData(coll, key string, value []byte) error {
	if err := checkCollection(coll); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	if len(value) == 0 {
		return fmt.Errorf("empty private value for key %q", key)
	}
	s.privWrites[collKey{coll, key}] = append([]byte(nil), value...)
	return nil
}

func (s *fakeStub) PurgePrivateData(coll, key string) error {
	if err := checkCollection(coll); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	s.privWrites[collKey{coll, key}] = nil
	return nil
}

func (s *fakeStub) GetPrivateDataByRange(coll, start, end string) (shim.StateQueryIteratorInterface, error) {
	if err := checkCollection(coll); err != nil {
		return nil, err
	}
	if s.privErr != nil {
		return nil, s.privErr
	}
	if s.w.notHeld[coll] {
		return s.rangeOver(nil, start, end) // a non-member's private store is empty
	}
	return s.rangeOver(s.w.private[coll], start, end)
}

func (s *fakeStub) SetEvent(name string, payload []byte) error {
	if name == "" {
		return errors.New("event name can not be empty string")
	}
	s.event = &peer.ChaincodeEvent{EventName: name, Payload: append([]byte(nil), payload...), TxId: s.txID}
	return nil
}

func (s *fakeStub) wrote() bool { return len(s.writes) > 0 || len(s.privWrites) > 0 || s.event != nil }

// commit applies the staged writes to the world, as a valid transaction in a
// block would.
func (s *fakeStub) commit() {
	if s.batches != 0 {
		panic("fake stub: a write batch was started and never finished")
	}
	for k, v := range s.writes {
		if v == nil {
			delete(s.w.state, k)
		} else {
			s.w.state[k] = v
		}
	}
	for ck, v := range s.privWrites {
		m := s.w.private[ck.coll]
		if m == nil {
			m = map[string][]byte{}
			s.w.private[ck.coll] = m
		}
		if v == nil {
			delete(m, ck.key)
		} else {
			m[ck.key] = v
		}
	}
}

// identities makes serialized X.509 identities, as a client's signed
// proposal carries them, so cid reads the MSP ID the way it does on a peer.
type identities struct {
	certPEM []byte
	mu      sync.Mutex
	byOrg   map[string][]byte
}

func newIdentities(t testing.TB) *identities {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "user1", Organization: []string{"tokentrail-test"}},
		NotBefore:    time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &identities{certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), byOrg: map[string][]byte{}}
}

func (ids *identities) creator(t testing.TB, mspID string) []byte {
	t.Helper()
	ids.mu.Lock()
	defer ids.mu.Unlock()
	if b, ok := ids.byOrg[mspID]; ok {
		return b
	}
	b, err := proto.Marshal(&msp.SerializedIdentity{Mspid: mspID, IdBytes: ids.certPEM})
	if err != nil {
		t.Fatal(err)
	}
	ids.byOrg[mspID] = b
	return b
}

// chaincodeLedger is a [contracttest.Ledger] that drives the real chaincode
// (contractapi's dispatch, reflection and serialization) with fake stubs
// over one world, and commits a transaction only when the chaincode
// answered OK, as endorsement followed by commit would.
type chaincodeLedger struct {
	t     testing.TB
	cc    shim.Chaincode
	clock *contracttest.Clock
	ids   *identities
	c     *contract.Contract

	mu     sync.Mutex
	w      *world
	n      int
	events []*peer.ChaincodeEvent
}

func newChaincodeLedger(t testing.TB, cc shim.Chaincode, ids *identities, clock *contracttest.Clock) *chaincodeLedger {
	return &chaincodeLedger{t: t, cc: cc, clock: clock, ids: ids, c: contract.New(), w: newWorld()}
}

func (l *chaincodeLedger) newStub(org string, args [][]byte, transient map[string][]byte) *fakeStub {
	l.n++
	id := sha256.Sum256([]byte(fmt.Sprintf("fabric-tx-%d", l.n)))
	if transient == nil {
		transient = map[string][]byte{}
	}
	return &fakeStub{
		w: l.w, args: args, txID: hex.EncodeToString(id[:]), ts: timestamppb.New(l.clock.Now()),
		creator: l.ids.creator(l.t, org), transient: transient,
		writes: map[string][]byte{}, privWrites: map[collKey][]byte{},
	}
}

// call invokes the chaincode and turns an error response back into an
// error, decoding a contract error when the message carries one.
func (l *chaincodeLedger) call(stub *fakeStub) ([]byte, error) {
	resp := l.cc.Invoke(stub)
	if stub.openIters != 0 {
		return nil, fmt.Errorf("%d range iterators left open", stub.openIters)
	}
	if resp.GetStatus() != shim.OK {
		if ce, ok := contract.DecodeError(resp.GetMessage()); ok {
			return nil, ce
		}
		return nil, fmt.Errorf("chaincode status %d: %s", resp.GetStatus(), resp.GetMessage())
	}
	return resp.GetPayload(), nil
}

func (l *chaincodeLedger) Submit(org, fn string, args []byte, transient map[string][]byte) ([]byte, error) {
	if l.c.IsQuery(fn) {
		return nil, fmt.Errorf("%s is a query", fn)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	stub := l.newStub(org, [][]byte{[]byte(fn), args}, transient)
	out, err := l.call(stub)
	if err != nil {
		return nil, err
	}
	stub.commit()
	if stub.event != nil {
		l.events = append(l.events, stub.event)
	}
	return out, nil
}

func (l *chaincodeLedger) Evaluate(org, fn string, args []byte) ([]byte, error) {
	if !l.c.IsQuery(fn) {
		return nil, fmt.Errorf("%s is not a query", fn)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	stub := l.newStub(org, [][]byte{[]byte(fn), args}, nil)
	out, err := l.call(stub)
	if err == nil && stub.wrote() {
		// Fabric would discard these writes; a query making them is a bug.
		return nil, fmt.Errorf("query %s wrote to the ledger", fn)
	}
	return out, err
}

// raw invokes the chaincode with arbitrary arguments and no commit, for
// tests of the dispatch itself.
func (l *chaincodeLedger) raw(org string, args ...string) *peer.Response {
	l.mu.Lock()
	defer l.mu.Unlock()
	bs := make([][]byte, len(args))
	for i, a := range args {
		bs[i] = []byte(a)
	}
	return l.cc.Invoke(l.newStub(org, bs, nil))
}
