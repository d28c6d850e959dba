package fabric

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-gateway/pkg/hash"
	"github.com/hyperledger/fabric-gateway/pkg/identity"
	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// TestAlreadyOrdered: only the BFT orderers' refusal of a transaction they
// have ordered before counts, whether the gateway reports it in its message
// or in an orderer's error detail.
func TestAlreadyOrdered(t *testing.T) {
	detail := func(msg string) error {
		st, err := status.New(codes.Unavailable, "insufficient number of orderers could successfully process transaction to satisfy quorum requirement").
			WithDetails(&gateway.ErrorDetail{Address: "127.0.0.1:7050", MspId: "RegulatorOrdererMSP", Message: msg})
		if err != nil {
			t.Fatal(err)
		}
		return st.Err()
	}
	cases := map[error]bool{
		detail("failed to submit request: request already processed"):        true,
		status.Error(codes.Unavailable, "request already processed"):         true,
		detail("failed to submit request: request pool is full"):             false,
		status.Error(codes.Unavailable, "no connection to orderer"):          false,
		errors.New("request already processed, said nobody over gRPC"):       false,
		status.Error(codes.Aborted, "failed to collect enough transactions"): false,
	}
	for err, want := range cases {
		if got := alreadyOrdered(err); got != want {
			t.Errorf("alreadyOrdered(%v) = %v, want %v", err, got, want)
		}
	}
}

// TestCommitStatusRequest: the status request built for a transaction names
// its channel, its ID and its own creator, as the one a submission returns.
func TestCommitStatusRequest(t *testing.T) {
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
	// Never dialled: building the request is local.
	conn, err := grpc.NewClient("127.0.0.1:1", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	gw, err := client.Connect(id, client.WithSign(sign), client.WithHash(hash.SHA256), client.WithClientConnection(conn))
	if err != nil {
		t.Fatal(err)
	}
	serialized, err := proto.Marshal(&msp.SerializedIdentity{Mspid: id.MspID(), IdBytes: id.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	// The smallest envelope the gateway client takes back: a channel
	// header, a signature header and one (empty) chaincode action.
	prepare := func(txID string, shdr []byte) *client.Transaction {
		chdr, _ := proto.Marshal(&common.ChannelHeader{ChannelId: "tokentrail", TxId: txID})
		data, _ := proto.Marshal(&peer.Transaction{Actions: []*peer.TransactionAction{{}}})
		payload, _ := proto.Marshal(&common.Payload{Header: &common.Header{ChannelHeader: chdr, SignatureHeader: shdr}, Data: data})
		prepared, _ := proto.Marshal(&gateway.PreparedTransaction{TransactionId: txID, Envelope: &common.Envelope{Payload: payload}})
		tx, err := gw.NewTransaction(prepared)
		if err != nil {
			t.Fatal(err)
		}
		return tx
	}
	shdr, _ := proto.Marshal(&common.SignatureHeader{Creator: serialized, Nonce: []byte("nonce")})
	tx := prepare("tx-1", shdr)
	raw, err := commitStatusRequest("tokentrail", tx)
	if err != nil {
		t.Fatal(err)
	}
	var signed gateway.SignedCommitStatusRequest
	var req gateway.CommitStatusRequest
	if err := proto.Unmarshal(raw, &signed); err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(signed.GetRequest(), &req); err != nil {
		t.Fatal(err)
	}
	if req.GetChannelId() != "tokentrail" || req.GetTransactionId() != "tx-1" || !proto.Equal(&req, &gateway.CommitStatusRequest{ChannelId: "tokentrail", TransactionId: "tx-1", Identity: serialized}) {
		t.Errorf("request %v", &req)
	}
	if _, err := gw.NewCommit(raw); err != nil {
		t.Errorf("the gateway does not take the request back: %v", err)
	}
	// A signature header that does not decode gives an error, not a
	// request asked as nobody.
	if raw, err := commitStatusRequest("tokentrail", prepare("tx-2", []byte{0xff, 0xff})); err == nil {
		t.Errorf("a malformed signature header gave a status request %x", raw)
	}
}
