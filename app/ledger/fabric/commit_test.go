package fabric

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-gateway/pkg/identity"
	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

	"github.com/tokentrail/tokentrail/app/ledger"
	"github.com/tokentrail/tokentrail/app/receipt"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// The write's state machine, tested offline: every gateway peer is an
// in-process Fabric Gateway service on an in-memory listener, and the
// ledger's gateways reach it through client.WithClientConnection, as they
// reach a real peer. Each test scripts what the peers answer and checks the
// exact sequence of calls they saw.

// rpc is one call a fake peer received.
type rpc struct {
	peer string // peer0, peer1, ...
	n    int    // the how-manyth call of this method, on any peer, from 1
	tx   string // tx1, tx2, ... in the order the transaction IDs appeared
}

// fakeGateway is the state shared by the fake peers: what they saw, and the
// script of what they answer. A nil script function answers success (a
// VALID status for CommitStatus).
type fakeGateway struct {
	t  *testing.T
	mu sync.Mutex

	calls     []string
	counts    map[string]int
	names     map[string]string // transaction ID → tx1, tx2, ...
	ids       map[string]string // tx1, ... → transaction ID
	proposals map[string][]byte // transaction ID → the first signed proposal endorsed
	envelopes map[string][]byte // transaction ID → the first signed envelope submitted
	creators  map[string][]byte // transaction ID → its creator, from the proposal
	valid     map[string]bool   // transaction IDs reported VALID

	endorse func(c rpc) error
	submit  func(c rpc) error
	status  func(ctx context.Context, c rpc) (peer.TxValidationCode, error)
}

func (f *fakeGateway) record(peerName, method, txID string) rpc {
	f.mu.Lock()
	defer f.mu.Unlock()
	name, ok := f.names[txID]
	if !ok {
		name = fmt.Sprintf("tx%d", len(f.names)+1)
		f.names[txID] = name
		f.ids[name] = txID
	}
	f.counts[method]++
	f.calls = append(f.calls, peerName+" "+method+" "+name)
	return rpc{peer: peerName, n: f.counts[method], tx: name}
}

// saw returns the calls so far, one "peer method tx" string each.
func (f *fakeGateway) saw() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeGateway) id(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ids[name]
}

func (f *fakeGateway) reportedValid(txID string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.valid[txID]
}

// sameAs keeps the first value seen per transaction ID and reports whether
// v is byte for byte that value.
func (f *fakeGateway) sameAs(seen map[string][]byte, txID string, v []byte) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	first, ok := seen[txID]
	if !ok {
		seen[txID] = v
		return true
	}
	return bytes.Equal(first, v)
}

type fakePeer struct {
	gateway.UnimplementedGatewayServer // ChaincodeEvents: not used by writes
	name                               string
	f                                  *fakeGateway
}

// resultOf is what the fake chaincode returns for a transaction.
func resultOf(name string) []byte { return []byte("result of " + name) }

func (p *fakePeer) Endorse(ctx context.Context, req *gateway.EndorseRequest) (*gateway.EndorseResponse, error) {
	f := p.f
	signed := req.GetProposedTransaction()
	var prop peer.Proposal
	var hdr common.Header
	var chdr common.ChannelHeader
	var shdr common.SignatureHeader
	if err := proto.Unmarshal(signed.GetProposalBytes(), &prop); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "proposal: %v", err)
	}
	if err := proto.Unmarshal(prop.GetHeader(), &hdr); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "header: %v", err)
	}
	if err := proto.Unmarshal(hdr.GetChannelHeader(), &chdr); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "channel header: %v", err)
	}
	if err := proto.Unmarshal(hdr.GetSignatureHeader(), &shdr); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "signature header: %v", err)
	}
	if chdr.GetTxId() != req.GetTransactionId() || len(signed.GetSignature()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "unsigned proposal or transaction ID mismatch")
	}
	c := f.record(p.name, "Endorse", req.GetTransactionId())
	raw, _ := proto.Marshal(signed)
	if !f.sameAs(f.proposals, req.GetTransactionId(), raw) {
		f.t.Errorf("%s: %s endorsed with a proposal other than its first", p.name, c.tx)
	}
	f.sameAs(f.creators, req.GetTransactionId(), shdr.GetCreator())
	if f.endorse != nil {
		if err := f.endorse(c); err != nil {
			return nil, err
		}
	}
	// The smallest prepared transaction the client reads its result from.
	ext, _ := proto.Marshal(&peer.ChaincodeAction{Response: &peer.Response{Status: 200, Payload: resultOf(c.tx)}})
	prp, _ := proto.Marshal(&peer.ProposalResponsePayload{Extension: ext})
	cap, _ := proto.Marshal(&peer.ChaincodeActionPayload{Action: &peer.ChaincodeEndorsedAction{ProposalResponsePayload: prp}})
	data, _ := proto.Marshal(&peer.Transaction{Actions: []*peer.TransactionAction{{Header: hdr.GetSignatureHeader(), Payload: cap}}})
	payload, _ := proto.Marshal(&common.Payload{Header: &hdr, Data: data})
	return &gateway.EndorseResponse{PreparedTransaction: &common.Envelope{Payload: payload}}, nil
}

func (p *fakePeer) Submit(ctx context.Context, req *gateway.SubmitRequest) (*gateway.SubmitResponse, error) {
	f := p.f
	env := req.GetPreparedTransaction()
	if len(env.GetSignature()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "prepared transaction must be signed")
	}
	c := f.record(p.name, "Submit", req.GetTransactionId())
	raw, _ := proto.Marshal(env)
	if !f.sameAs(f.envelopes, req.GetTransactionId(), raw) {
		f.t.Errorf("%s: %s submitted with an envelope other than its first", p.name, c.tx)
	}
	if f.submit != nil {
		if err := f.submit(c); err != nil {
			return nil, err
		}
	}
	return &gateway.SubmitResponse{}, nil
}

func (p *fakePeer) CommitStatus(ctx context.Context, signed *gateway.SignedCommitStatusRequest) (*gateway.CommitStatusResponse, error) {
	f := p.f
	var req gateway.CommitStatusRequest
	if err := proto.Unmarshal(signed.GetRequest(), &req); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "invalid status request: %v", err)
	}
	c := f.record(p.name, "CommitStatus", req.GetTransactionId())
	f.mu.Lock()
	creator := f.creators[req.GetTransactionId()]
	f.mu.Unlock()
	if len(signed.GetSignature()) == 0 || !bytes.Equal(req.GetIdentity(), creator) || req.GetChannelId() != "tokentrail" {
		f.t.Errorf("%s: status request for %s unsigned, or not asked as the transaction's creator on its channel", p.name, c.tx)
		return nil, status.Error(codes.PermissionDenied, "not the creator")
	}
	code := peer.TxValidationCode_VALID
	if f.status != nil {
		var err error
		if code, err = f.status(ctx, c); err != nil {
			return nil, err
		}
	}
	if code == peer.TxValidationCode_VALID {
		f.mu.Lock()
		f.valid[req.GetTransactionId()] = true
		f.mu.Unlock()
	}
	return &gateway.CommitStatusResponse{Result: code, BlockNumber: 7}, nil
}

func (p *fakePeer) Evaluate(ctx context.Context, req *gateway.EvaluateRequest) (*gateway.EvaluateResponse, error) {
	p.f.record(p.name, "Evaluate", req.GetTransactionId())
	return &gateway.EvaluateResponse{Result: &peer.Response{Status: 200, Payload: []byte("evaluated")}}, nil
}

// testSigner is a self-signed identity of AuditorMSP.
func testSigner(t *testing.T) signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "User1@auditor"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	id, err := identity.NewX509Identity("AuditorMSP", cert)
	if err != nil {
		t.Fatal(err)
	}
	sign, err := identity.NewPrivateKeySign(key)
	if err != nil {
		t.Fatal(err)
	}
	return signer{id: id, sign: sign}
}

// fakeLedger is a Ledger whose AuditorMSP route goes through n fake peers,
// peer0 first. Commit status waits last 300 ms, a write at most deadline.
func fakeLedger(t *testing.T, n int, deadline time.Duration) (*Ledger, *fakeGateway) {
	t.Helper()
	f := &fakeGateway{t: t, counts: map[string]int{}, names: map[string]string{}, ids: map[string]string{},
		proposals: map[string][]byte{}, envelopes: map[string][]byte{}, creators: map[string][]byte{}, valid: map[string]bool{}}
	l := &Ledger{cfg: Config{Channel: "tokentrail", Chaincode: "tokentrail",
		CommitTimeout: Duration(300 * time.Millisecond), SubmitDeadline: Duration(deadline)},
		log: slog.New(slog.DiscardHandler), routes: map[string][]*orgGateway{}, privatePeers: map[string]bool{},
		isQuery: contract.New().IsQuery, touches: map[string]bool{}, readsPrivate: map[string]bool{},
		commitPause: 10 * time.Millisecond}
	s := testSigner(t)
	for i := range n {
		name := fmt.Sprintf("peer%d", i)
		lis := bufconn.Listen(1 << 20)
		srv := grpc.NewServer()
		gateway.RegisterGatewayServer(srv, &fakePeer{name: name, f: f})
		go srv.Serve(lis)
		conn, err := grpc.NewClient("passthrough:///"+name, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(); srv.Stop() })
		og, err := l.connect(s, name, conn)
		if err != nil {
			t.Fatal(err)
		}
		l.routes["AuditorMSP"] = append(l.routes["AuditorMSP"], og)
	}
	// No peer followed for heights: a write waits for no block stream.
	l.heights = newHeights(l)
	l.blocks = newBlockCache[*receipt.FabricBlock]()
	t.Cleanup(func() { l.Close() })
	return l, f
}

// write submits one assessment as AuditorMSP.
func fakeWrite(l *Ledger) (ledger.Result, error) {
	return l.Submit(context.Background(), "AuditorMSP", contract.FnAssess, []byte(`{"batchId":"b1"}`), nil)
}

// checkAcked fails unless res is the result of the fake's transaction name,
// reported VALID by a fake peer.
func checkAcked(t *testing.T, f *fakeGateway, res ledger.Result, name string) {
	t.Helper()
	if res.TxID == "" || res.TxID != f.id(name) {
		t.Fatalf("acknowledged transaction %q, want %s (%q)", res.TxID, name, f.id(name))
	}
	if !f.reportedValid(res.TxID) {
		t.Fatalf("%s acknowledged without a VALID status", name)
	}
	if string(res.Payload) != string(resultOf(name)) || res.Block != 7 {
		t.Fatalf("result %q in block %d, want %q in block 7", res.Payload, res.Block, resultOf(name))
	}
}

func checkCalls(t *testing.T, f *fakeGateway, want ...string) {
	t.Helper()
	got := f.saw()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("calls:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// waitOut blocks a commit status request until the client gives up on it,
// as a peer does while the transaction is not (yet) in a block.
func waitOut(ctx context.Context) (peer.TxValidationCode, error) {
	<-ctx.Done()
	return 0, status.FromContextError(ctx.Err()).Err()
}

func TestWriteCommitsFirstTime(t *testing.T) {
	l, f := fakeLedger(t, 2, 5*time.Second)
	res, err := fakeWrite(l)
	if err != nil {
		t.Fatal(err)
	}
	checkAcked(t, f, res, "tx1")
	checkCalls(t, f, "peer0 Endorse tx1", "peer0 Submit tx1", "peer0 CommitStatus tx1")
}

// An endorsement that fails on the organisation's own peer for a reason
// another peer may not have goes to the next peer with the same signed
// proposal (the fake checks the bytes); the transaction is then submitted
// through the gateway that endorsed it.
func TestWriteEndorseFailsOver(t *testing.T) {
	for _, code := range []codes.Code{codes.Unavailable, codes.Aborted, codes.FailedPrecondition, codes.DeadlineExceeded} {
		t.Run(code.String(), func(t *testing.T) {
			l, f := fakeLedger(t, 2, 5*time.Second)
			f.endorse = func(c rpc) error {
				if c.peer == "peer0" {
					return status.Error(code, "peer0 cannot endorse now")
				}
				return nil
			}
			res, err := fakeWrite(l)
			if err != nil {
				t.Fatal(err)
			}
			checkAcked(t, f, res, "tx1")
			checkCalls(t, f, "peer0 Endorse tx1", "peer1 Endorse tx1", "peer1 Submit tx1", "peer1 CommitStatus tx1")
		})
	}
}

// The contract's own refusal is an answer: no other peer is asked, nothing
// is submitted, and the caller gets the contract's error.
func TestWriteContractRefusalIsFinal(t *testing.T) {
	l, f := fakeLedger(t, 2, 5*time.Second)
	f.endorse = func(c rpc) error {
		msg := contract.EncodeError(&contract.Error{Kind: contract.KindRule, Rule: contract.RuleQualityGate, Detail: "score below the gate"})
		st, _ := status.New(codes.Aborted, "failed to endorse transaction").WithDetails(&gateway.ErrorDetail{Address: "peer0:7051", MspId: "AuditorMSP", Message: "chaincode response 500, " + msg})
		return st.Err()
	}
	_, err := fakeWrite(l)
	var ce *contract.Error
	if !errors.As(err, &ce) || ce.Rule != contract.RuleQualityGate {
		t.Fatalf("error %v, want the contract's %s", err, contract.RuleQualityGate)
	}
	checkCalls(t, f, "peer0 Endorse tx1")
}

// A submission that times out is repeated with the very same envelope (one
// transaction ID), through the same gateway; one whose gateway is
// unreachable is repeated through the next.
func TestWriteResubmitsSameEnvelope(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		l, f := fakeLedger(t, 2, 5*time.Second)
		f.submit = func(c rpc) error {
			if c.n == 1 {
				return status.Error(codes.DeadlineExceeded, "submit timeout expired while broadcasting to ordering service")
			}
			return nil
		}
		res, err := fakeWrite(l)
		if err != nil {
			t.Fatal(err)
		}
		checkAcked(t, f, res, "tx1")
		checkCalls(t, f, "peer0 Endorse tx1", "peer0 Submit tx1", "peer0 Submit tx1", "peer0 CommitStatus tx1")
		if n := l.stats.resubmissions.Load(); n != 1 {
			t.Errorf("%d resubmissions, want 1", n)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		l, f := fakeLedger(t, 2, 5*time.Second)
		f.submit = func(c rpc) error {
			if c.peer == "peer0" {
				return status.Error(codes.Unavailable, "no orderer nodes available")
			}
			return nil
		}
		res, err := fakeWrite(l)
		if err != nil {
			t.Fatal(err)
		}
		checkAcked(t, f, res, "tx1")
		checkCalls(t, f, "peer0 Endorse tx1", "peer0 Submit tx1", "peer1 Submit tx1", "peer1 CommitStatus tx1")
	})
}

// A transaction endorsed through the second peer, whose submission there
// finds the peer gone, moves on to the third, not back to the first.
func TestWriteSubmitMovesOnFromEndorsingPeer(t *testing.T) {
	l, f := fakeLedger(t, 3, 5*time.Second)
	f.endorse = func(c rpc) error {
		if c.peer == "peer0" {
			return status.Error(codes.Unavailable, "down")
		}
		return nil
	}
	f.submit = func(c rpc) error {
		if c.peer == "peer1" {
			return status.Error(codes.Unavailable, "peer1 went away")
		}
		return nil
	}
	res, err := fakeWrite(l)
	if err != nil {
		t.Fatal(err)
	}
	checkAcked(t, f, res, "tx1")
	checkCalls(t, f, "peer0 Endorse tx1", "peer1 Endorse tx1", "peer1 Submit tx1", "peer2 Submit tx1", "peer2 CommitStatus tx1")
}

// No status in time: the envelope may have been lost by the orderers, so the
// same envelope is submitted again and its status asked again. A gateway
// lost while waiting: the next one is asked, without resubmitting. A
// duplicate: asked again.
func TestWriteStatusAskedAgain(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		l, f := fakeLedger(t, 2, 5*time.Second)
		f.status = func(ctx context.Context, c rpc) (peer.TxValidationCode, error) {
			if c.n == 1 {
				return waitOut(ctx)
			}
			return peer.TxValidationCode_VALID, nil
		}
		res, err := fakeWrite(l)
		if err != nil {
			t.Fatal(err)
		}
		checkAcked(t, f, res, "tx1")
		checkCalls(t, f, "peer0 Endorse tx1", "peer0 Submit tx1", "peer0 CommitStatus tx1", "peer0 Submit tx1", "peer0 CommitStatus tx1")
	})
	t.Run("gateway lost", func(t *testing.T) {
		l, f := fakeLedger(t, 2, 5*time.Second)
		f.status = func(ctx context.Context, c rpc) (peer.TxValidationCode, error) {
			if c.peer == "peer0" {
				return 0, status.Error(codes.Unavailable, "peer going down")
			}
			return peer.TxValidationCode_VALID, nil
		}
		res, err := fakeWrite(l)
		if err != nil {
			t.Fatal(err)
		}
		checkAcked(t, f, res, "tx1")
		checkCalls(t, f, "peer0 Endorse tx1", "peer0 Submit tx1", "peer0 CommitStatus tx1", "peer1 CommitStatus tx1")
		if n := l.stats.statusRequeries.Load(); n != 1 {
			t.Errorf("%d status requeries, want 1", n)
		}
	})
	t.Run("duplicate", func(t *testing.T) {
		l, f := fakeLedger(t, 2, 5*time.Second)
		f.status = func(ctx context.Context, c rpc) (peer.TxValidationCode, error) {
			if c.n == 1 {
				return peer.TxValidationCode_DUPLICATE_TXID, nil
			}
			return peer.TxValidationCode_VALID, nil
		}
		res, err := fakeWrite(l)
		if err != nil {
			t.Fatal(err)
		}
		checkAcked(t, f, res, "tx1")
		checkCalls(t, f, "peer0 Endorse tx1", "peer0 Submit tx1", "peer0 CommitStatus tx1", "peer0 CommitStatus tx1")
	})
}

// alreadyProcessed is the gateway's answer when BFT orderers refuse a
// transaction they have ordered before.
func alreadyProcessed() error {
	st, _ := status.New(codes.Unavailable, "insufficient number of orderers could successfully process transaction to satisfy quorum requirement").
		WithDetails(&gateway.ErrorDetail{Address: "orderer0:7050", MspId: "RegulatorOrdererMSP",
			Message: "received unsuccessful response from orderer: status=SERVICE_UNAVAILABLE, info=failed to submit request: request already processed"})
	return st.Err()
}

// BFT orderers refuse a copy of a transaction they have ordered: its status
// is read instead of submitting again, also when no submission of this call
// was accepted (the request is then built from the envelope's creator, which
// the fake checks).
func TestWriteAlreadyOrdered(t *testing.T) {
	t.Run("after a lost status", func(t *testing.T) {
		l, f := fakeLedger(t, 2, 5*time.Second)
		f.submit = func(c rpc) error {
			if c.n > 1 {
				return alreadyProcessed()
			}
			return nil
		}
		f.status = func(ctx context.Context, c rpc) (peer.TxValidationCode, error) {
			if c.n == 1 {
				return waitOut(ctx)
			}
			return peer.TxValidationCode_VALID, nil
		}
		res, err := fakeWrite(l)
		if err != nil {
			t.Fatal(err)
		}
		checkAcked(t, f, res, "tx1")
		checkCalls(t, f, "peer0 Endorse tx1", "peer0 Submit tx1", "peer0 CommitStatus tx1", "peer0 Submit tx1", "peer0 CommitStatus tx1")
	})
	t.Run("first submission", func(t *testing.T) {
		l, f := fakeLedger(t, 2, 5*time.Second)
		route := l.routes["AuditorMSP"]
		tx, gw, err := l.endorse(context.Background(), route, contract.FnAssess, []client.ProposalOption{client.WithBytesArguments([]byte("{}"))})
		if err != nil {
			t.Fatal(err)
		}
		f.submit = func(rpc) error { return alreadyProcessed() }
		st, err := l.commit(context.Background(), route, gw, tx)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Successful || st.TransactionID != f.id("tx1") || !f.reportedValid(st.TransactionID) {
			t.Fatalf("status %+v", st)
		}
		checkCalls(t, f, "peer0 Endorse tx1", "peer0 Submit tx1", "peer0 CommitStatus tx1")
	})
}

// A transaction committed invalid for a read conflict can never become
// valid: it is endorsed afresh, with a new ID, up to maxEndorsements times.
func TestWriteReendorsesAfterReadConflict(t *testing.T) {
	t.Run("then valid", func(t *testing.T) {
		l, f := fakeLedger(t, 2, 5*time.Second)
		f.status = func(ctx context.Context, c rpc) (peer.TxValidationCode, error) {
			if c.tx == "tx1" {
				return peer.TxValidationCode_MVCC_READ_CONFLICT, nil
			}
			return peer.TxValidationCode_VALID, nil
		}
		res, err := fakeWrite(l)
		if err != nil {
			t.Fatal(err)
		}
		checkAcked(t, f, res, "tx2")
		checkCalls(t, f, "peer0 Endorse tx1", "peer0 Submit tx1", "peer0 CommitStatus tx1",
			"peer0 Endorse tx2", "peer0 Submit tx2", "peer0 CommitStatus tx2")
		if f.id("tx1") == f.id("tx2") {
			t.Fatal("the new endorsement kept the transaction ID")
		}
		if n := l.stats.reendorsements.Load(); n != 1 {
			t.Errorf("%d re-endorsements, want 1", n)
		}
	})
	t.Run("always conflicting", func(t *testing.T) {
		l, f := fakeLedger(t, 1, 5*time.Second)
		f.status = func(ctx context.Context, c rpc) (peer.TxValidationCode, error) {
			return peer.TxValidationCode_PHANTOM_READ_CONFLICT, nil
		}
		_, err := fakeWrite(l)
		var ie *InvalidTxError
		if !errors.As(err, &ie) || ie.Code != peer.TxValidationCode_PHANTOM_READ_CONFLICT || ie.TransactionID != f.id("tx5") {
			t.Fatalf("error %v, want tx5 invalid for PHANTOM_READ_CONFLICT", err)
		}
		var want []string
		for i := 1; i <= maxEndorsements; i++ {
			want = append(want, fmt.Sprintf("peer0 Endorse tx%d", i), fmt.Sprintf("peer0 Submit tx%d", i), fmt.Sprintf("peer0 CommitStatus tx%d", i))
		}
		checkCalls(t, f, want...)
	})
}

// Any other invalid code ends the write with an error that names the
// transaction and the code, and nothing is tried again.
func TestWriteInvalidTx(t *testing.T) {
	l, f := fakeLedger(t, 2, 5*time.Second)
	f.status = func(ctx context.Context, c rpc) (peer.TxValidationCode, error) {
		return peer.TxValidationCode_ENDORSEMENT_POLICY_FAILURE, nil
	}
	_, err := fakeWrite(l)
	var ie *InvalidTxError
	if !errors.As(err, &ie) || ie.Code != peer.TxValidationCode_ENDORSEMENT_POLICY_FAILURE || ie.TransactionID != f.id("tx1") {
		t.Fatalf("error %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, f.id("tx1")) || !strings.Contains(msg, "ENDORSEMENT_POLICY_FAILURE") {
		t.Fatalf("message %q does not say which transaction and code", msg)
	}
	if errors.Is(err, ledger.ErrUnavailable) {
		t.Fatal("an invalid transaction reported as an outage")
	}
	checkCalls(t, f, "peer0 Endorse tx1", "peer0 Submit tx1", "peer0 CommitStatus tx1")
}

// A submission refused for good (an orderer's client error, a malformed
// request) ends the write at once when no copy was accepted; after an
// accepted copy, that copy's status decides.
func TestWriteSubmitRefused(t *testing.T) {
	forbidden := status.Error(codes.Aborted, "received unsuccessful response from orderer: status=FORBIDDEN, info=")
	t.Run("first", func(t *testing.T) {
		l, f := fakeLedger(t, 2, 5*time.Second)
		f.submit = func(rpc) error { return forbidden }
		start := time.Now()
		_, err := fakeWrite(l)
		if err == nil || errors.Is(err, ledger.ErrUnavailable) || !strings.Contains(err.Error(), f.id("tx1")) {
			t.Fatalf("error %v, want a refusal naming the transaction", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("a refusal took %v", d)
		}
		checkCalls(t, f, "peer0 Endorse tx1", "peer0 Submit tx1")
	})
	t.Run("after an accepted copy", func(t *testing.T) {
		l, f := fakeLedger(t, 2, 5*time.Second)
		f.submit = func(c rpc) error {
			if c.n > 1 {
				return forbidden
			}
			return nil
		}
		f.status = func(ctx context.Context, c rpc) (peer.TxValidationCode, error) {
			if c.n == 1 {
				return waitOut(ctx)
			}
			return peer.TxValidationCode_VALID, nil
		}
		res, err := fakeWrite(l)
		if err != nil {
			t.Fatal(err)
		}
		checkAcked(t, f, res, "tx1")
		checkCalls(t, f, "peer0 Endorse tx1", "peer0 Submit tx1", "peer0 CommitStatus tx1", "peer0 Submit tx1", "peer0 CommitStatus tx1")
	})
}

// When the write's deadline passes with its status unknown, the caller gets
// ledger.ErrUnavailable (503), within about the deadline, and nothing is
// acknowledged.
func TestWriteDeadlineUnavailable(t *testing.T) {
	cases := map[string]func(f *fakeGateway){
		"status never comes": func(f *fakeGateway) {
			f.status = func(ctx context.Context, c rpc) (peer.TxValidationCode, error) { return waitOut(ctx) }
		},
		"orderers unreachable": func(f *fakeGateway) {
			f.submit = func(rpc) error {
				return status.Error(codes.Unavailable, "no orderers could successfully process transaction")
			}
		},
		"no peer can endorse": func(f *fakeGateway) {
			f.endorse = func(rpc) error { return status.Error(codes.Unavailable, "connection refused") }
		},
	}
	for name, script := range cases {
		t.Run(name, func(t *testing.T) {
			l, f := fakeLedger(t, 2, time.Second)
			script(f)
			start := time.Now()
			res, err := fakeWrite(l)
			if !errors.Is(err, ledger.ErrUnavailable) {
				t.Fatalf("result %+v, error %v, want ErrUnavailable", res, err)
			}
			if d := time.Since(start); d < 900*time.Millisecond || d > 3*time.Second {
				t.Errorf("gave up after %v, deadline 1s", d)
			}
			for _, c := range f.saw() {
				if strings.Contains(c, "Endorse tx2") {
					t.Errorf("a write with an unknown status was endorsed afresh: %v", f.saw())
				}
			}
		})
	}
}

// Whatever the peers answer, and in whatever order, a write is acknowledged
// only with a transaction ID a peer reported VALID, with that transaction's
// own result; each transaction ID is endorsed with one proposal and
// submitted with one envelope (the fake checks both).
func TestWriteNeverAcknowledgedUnlessValid(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	var mu sync.Mutex
	pick := func(n int) int {
		mu.Lock()
		defer mu.Unlock()
		return rng.IntN(n)
	}
	acked, failed := 0, 0
	for run := range 40 {
		l, f := fakeLedger(t, 3, 400*time.Millisecond)
		l.cfg.CommitTimeout = Duration(40 * time.Millisecond)
		f.endorse = func(rpc) error {
			return []error{nil, nil, status.Error(codes.Unavailable, "down"), status.Error(codes.Aborted, "chaincode restarting")}[pick(4)]
		}
		f.submit = func(rpc) error {
			return []error{nil, nil, status.Error(codes.Unavailable, "down"), status.Error(codes.DeadlineExceeded, "slow"),
				alreadyProcessed(), status.Error(codes.Aborted, "status=BAD_REQUEST")}[pick(6)]
		}
		f.status = func(ctx context.Context, c rpc) (peer.TxValidationCode, error) {
			switch pick(7) {
			case 0:
				return waitOut(ctx)
			case 1:
				return 0, status.Error(codes.Unavailable, "down")
			case 2:
				return peer.TxValidationCode_DUPLICATE_TXID, nil
			case 3:
				return peer.TxValidationCode_MVCC_READ_CONFLICT, nil
			case 4:
				return peer.TxValidationCode_BAD_PAYLOAD, nil
			}
			return peer.TxValidationCode_VALID, nil
		}
		res, err := fakeWrite(l)
		if err != nil {
			failed++
			if res.TxID != "" {
				t.Errorf("run %d: an error with a transaction %s", run, res.TxID)
			}
			continue
		}
		acked++
		if !f.reportedValid(res.TxID) {
			t.Fatalf("run %d: %s acknowledged, never reported VALID; calls %v", run, res.TxID, f.saw())
		}
		f.mu.Lock()
		name := f.names[res.TxID]
		f.mu.Unlock()
		if string(res.Payload) != string(resultOf(name)) {
			t.Fatalf("run %d: payload %q of %s", run, res.Payload, name)
		}
	}
	if acked == 0 || failed == 0 {
		t.Fatalf("%d acknowledged, %d failed: the script does not exercise both", acked, failed)
	}
	t.Logf("%d acknowledged, %d failed", acked, failed)
}
