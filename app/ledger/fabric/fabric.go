// Package fabric is tokentrail's ledger on a Hyperledger Fabric network: it
// submits and evaluates the contract's functions through the Fabric Gateway
// (github.com/hyperledger/fabric-gateway), each organisation signing with
// its own identity, and builds receipts from the committed blocks.
//
// A write returns only when its commit status is known. When waiting for the
// status times out, the same signed transaction is submitted again, never a
// new one: a new transaction ID could record the same event twice. A
// transaction that lost an MVCC race is definitely invalid and is endorsed
// afresh.
package fabric

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-gateway/pkg/hash"
	"github.com/hyperledger/fabric-gateway/pkg/identity"
	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/tokentrail/tokentrail/app/ledger"
	"github.com/tokentrail/tokentrail/app/receipt"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// Ledger is a connection to one channel and chaincode, as every configured
// organisation.
type Ledger struct {
	cfg      Config
	log      *slog.Logger
	conns    []*grpc.ClientConn
	gateways map[string]*orgGateway
	byPeer   []*orgGateway // one gateway per distinct peer, private-data peers first
	private  []string
	anchor   []byte
	isQuery  func(string) bool
	touches  map[string]bool // functions that write the private collection
	closeMu  sync.Once
}

type orgGateway struct {
	gw       *client.Gateway
	network  *client.Network
	contract *client.Contract
	qscc     *client.Contract
}

// Open connects to the peers named in the configuration: one gRPC connection
// per gateway peer, shared by the organisations that use it.
func Open(cfg Config, log *slog.Logger) (*Ledger, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	peers, err := loadProfile(cfg.path(cfg.ConnectionProfile))
	if err != nil {
		return nil, err
	}
	anchor, err := os.ReadFile(cfg.path(cfg.TrustAnchor))
	if err != nil {
		return nil, fmt.Errorf("fabric trust anchor: %w", err)
	}
	c := contract.New()
	l := &Ledger{cfg: cfg, log: log, gateways: map[string]*orgGateway{}, private: cfg.PrivateDataOrganizations,
		anchor: anchor, isQuery: c.IsQuery,
		touches: map[string]bool{contract.FnTrade: true, contract.FnTradeBulk: true, contract.FnRetire: true}}
	conns := map[string]*grpc.ClientConn{}
	peerOf := map[string][]*orgGateway{}
	for _, idc := range cfg.Identities {
		ep, ok := peers[idc.GatewayPeer]
		if !ok {
			l.Close()
			return nil, fmt.Errorf("fabric.identities %s: gatewayPeer %q is not a peer of the connection profile", idc.MSPID, idc.GatewayPeer)
		}
		conn := conns[ep.Name]
		if conn == nil {
			if conn, err = dial(ep); err != nil {
				l.Close()
				return nil, err
			}
			conns[ep.Name] = conn
			l.conns = append(l.conns, conn)
		}
		og, err := l.connect(idc, conn)
		if err != nil {
			l.Close()
			return nil, err
		}
		l.gateways[idc.MSPID] = og
		if !contains(cfg.PrivateDataOrganizations, idc.MSPID) {
			peerOf[idc.GatewayPeer] = append(peerOf[idc.GatewayPeer], og)
		} else {
			peerOf[idc.GatewayPeer] = append([]*orgGateway{og}, peerOf[idc.GatewayPeer]...)
		}
	}
	// Ask private-data peers first: they hold everything.
	var names []string
	for name := range peerOf {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		pi, pj := l.privatePeer(names[i]), l.privatePeer(names[j])
		if pi != pj {
			return pi
		}
		return names[i] < names[j]
	})
	for _, name := range names {
		l.byPeer = append(l.byPeer, peerOf[name][0])
	}
	return l, nil
}

// privatePeer reports whether the named peer is a gateway of an organisation
// that holds the private collection.
func (l *Ledger) privatePeer(name string) bool {
	for _, id := range l.cfg.Identities {
		if id.GatewayPeer == name && contains(l.private, id.MSPID) {
			return true
		}
	}
	return false
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func dial(ep peerEndpoint) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if ep.TLS {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ep.RootPEM) {
			return nil, fmt.Errorf("peer %s: no certificate in its TLS root", ep.Name)
		}
		creds = credentials.NewClientTLSFromCert(pool, ep.ServerName)
	}
	conn, err := grpc.NewClient(ep.Address, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("peer %s at %s: %w", ep.Name, ep.Address, err)
	}
	return conn, nil
}

func (l *Ledger) connect(idc IdentityConfig, conn *grpc.ClientConn) (*orgGateway, error) {
	certPEM, err := os.ReadFile(l.cfg.path(idc.Certificate))
	if err != nil {
		return nil, fmt.Errorf("%s certificate: %w", idc.MSPID, err)
	}
	cert, err := identity.CertificateFromPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s certificate: %w", idc.MSPID, err)
	}
	id, err := identity.NewX509Identity(idc.MSPID, cert)
	if err != nil {
		return nil, fmt.Errorf("%s identity: %w", idc.MSPID, err)
	}
	keyPEM, err := os.ReadFile(l.cfg.path(idc.PrivateKey))
	if err != nil {
		return nil, fmt.Errorf("%s private key: %w", idc.MSPID, err)
	}
	key, err := identity.PrivateKeyFromPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s private key: %w", idc.MSPID, err)
	}
	sign, err := identity.NewPrivateKeySign(key)
	if err != nil {
		return nil, fmt.Errorf("%s signer: %w", idc.MSPID, err)
	}
	gw, err := client.Connect(id, client.WithSign(sign), client.WithHash(hash.SHA256), client.WithClientConnection(conn),
		client.WithEvaluateTimeout(30*time.Second), client.WithEndorseTimeout(30*time.Second),
		client.WithSubmitTimeout(30*time.Second), client.WithCommitStatusTimeout(time.Duration(l.cfg.CommitTimeout)))
	if err != nil {
		return nil, fmt.Errorf("%s gateway: %w", idc.MSPID, err)
	}
	nw := gw.GetNetwork(l.cfg.Channel)
	return &orgGateway{gw: gw, network: nw, contract: nw.GetContract(l.cfg.Chaincode), qscc: nw.GetContract("qscc")}, nil
}

// Close closes every gateway and connection.
func (l *Ledger) Close() error {
	l.closeMu.Do(func() {
		for _, g := range l.gateways {
			g.gw.Close()
		}
		for _, c := range l.conns {
			c.Close()
		}
	})
	return nil
}

func (l *Ledger) org(org string) (*orgGateway, error) {
	g, ok := l.gateways[org]
	if !ok {
		return nil, fmt.Errorf("organisation %s has no Fabric identity in the configuration", org)
	}
	return g, nil
}

// Submit endorses, orders and commits fn as org and returns once the
// transaction is valid on the ledger.
func (l *Ledger) Submit(ctx context.Context, org, fn string, args []byte, transient map[string][]byte) (ledger.Result, error) {
	g, err := l.org(org)
	if err != nil {
		return ledger.Result{}, err
	}
	if l.isQuery(fn) {
		return ledger.Result{}, fmt.Errorf("%s is a query, not a write", fn)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(l.cfg.SubmitDeadline))
	defer cancel()
	opts := []client.ProposalOption{client.WithBytesArguments(args)}
	if len(transient) > 0 {
		opts = append(opts, client.WithTransient(transient))
	}
	if l.touches[fn] && len(l.private) > 0 {
		opts = append(opts, client.WithEndorsingOrganizations(l.private...))
	}
	const maxEndorsements = 5
	for attempt := 1; ; attempt++ {
		proposal, err := g.contract.NewProposal(fn, opts...)
		if err != nil {
			return ledger.Result{}, err
		}
		tx, err := proposal.EndorseWithContext(ctx)
		if err != nil {
			return ledger.Result{}, l.mapError("endorse", err)
		}
		st, err := l.commit(ctx, g, tx)
		var ce *client.CommitError
		if errors.As(err, &ce) && retryable(ce.Code) && attempt < maxEndorsements {
			l.log.Info("transaction lost a read conflict; endorsing afresh", "tx", ce.TransactionID, "code", ce.Code.String(), "attempt", attempt)
			continue
		}
		if err != nil {
			return ledger.Result{}, err
		}
		return ledger.Result{TxID: tx.TransactionID(), Block: st.BlockNumber, Payload: tx.Result()}, nil
	}
}

func retryable(code peer.TxValidationCode) bool {
	return code == peer.TxValidationCode_MVCC_READ_CONFLICT || code == peer.TxValidationCode_PHANTOM_READ_CONFLICT
}

// commit submits the endorsed transaction and waits for its status. On a
// submit failure or a commit-status timeout it submits the very same signed
// envelope again, until the status is known or ctx ends.
func (l *Ledger) commit(ctx context.Context, g *orgGateway, tx *client.Transaction) (*client.Status, error) {
	envelope, err := tx.Bytes()
	if err != nil {
		return nil, err
	}
	backoff := 200 * time.Millisecond
	for resubmits := 0; ; resubmits++ {
		if resubmits > 0 {
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("transaction %s: commit status unknown after %d submissions: %w", tx.TransactionID(), resubmits, ledger.ErrUnavailable)
			case <-time.After(backoff):
			}
			if backoff < 5*time.Second {
				backoff *= 2
			}
			if tx, err = g.gw.NewTransaction(envelope); err != nil {
				return nil, err
			}
		}
		commit, err := tx.SubmitWithContext(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("transaction %s: %w: %v", tx.TransactionID(), ledger.ErrUnavailable, err)
			}
			l.log.Warn("submit failed; submitting the same transaction again", "tx", tx.TransactionID(), "err", err)
			continue
		}
		st, err := commit.StatusWithContext(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("transaction %s: %w: %v", tx.TransactionID(), ledger.ErrUnavailable, err)
			}
			l.log.Warn("commit status unknown; submitting the same transaction again", "tx", tx.TransactionID(), "err", err)
			continue
		}
		if st.Successful {
			return st, nil
		}
		if st.Code == peer.TxValidationCode_DUPLICATE_TXID {
			// An earlier submission of this envelope committed first; ask
			// again for the status of the transaction ID, which is the first's.
			l.log.Info("duplicate submission of a transaction; reading the first one's status", "tx", tx.TransactionID())
			continue
		}
		return nil, &client.CommitError{TransactionID: st.TransactionID, Code: st.Code}
	}
}

// Evaluate runs the query fn as org on its gateway peer, or on a peer of an
// organisation that holds the private collection when fn reads it.
func (l *Ledger) Evaluate(ctx context.Context, org, fn string, args []byte) ([]byte, error) {
	g, err := l.org(org)
	if err != nil {
		return nil, err
	}
	if !l.isQuery(fn) {
		return nil, fmt.Errorf("%s is a write, not a query", fn)
	}
	opts := []client.ProposalOption{client.WithBytesArguments(args)}
	if fn == contract.FnPrices && len(l.private) > 0 {
		opts = append(opts, client.WithEndorsingOrganizations(l.private...))
	}
	out, err := g.contract.EvaluateWithContext(ctx, fn, opts...)
	if err != nil {
		return nil, l.mapError("evaluate", err)
	}
	return out, nil
}

// mapError turns a gateway error into the contract's error when a peer
// returned one, or into ledger.ErrUnavailable when no peer could be reached.
func (l *Ledger) mapError(step string, err error) error {
	st := status.Convert(err)
	for _, d := range st.Details() {
		if m, ok := d.(interface{ GetMessage() string }); ok {
			if ce, ok := contract.DecodeError(m.GetMessage()); ok {
				return ce
			}
		}
	}
	if ce, ok := contract.DecodeError(st.Message()); ok {
		return ce
	}
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.ResourceExhausted:
		return fmt.Errorf("%s: %w: %v", step, ledger.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", step, err)
}

// anyOrg returns some configured organisation's gateway, preferring those
// holding the private collection (their peers see everything).
func (l *Ledger) anyOrg() (*orgGateway, error) {
	for _, o := range l.private {
		if g, ok := l.gateways[o]; ok {
			return g, nil
		}
	}
	for _, id := range l.cfg.Identities {
		return l.gateways[id.MSPID], nil
	}
	return nil, errors.New("no organisation configured")
}

// Receipt fetches the block holding txID and builds its receipt. Peers
// commit a block at slightly different moments, so a transaction whose
// commit status one peer has just reported may not be on another yet: each
// gateway peer is asked in turn, for a few seconds, before the transaction
// is declared unknown.
func (l *Ledger) Receipt(ctx context.Context, txID string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, receiptWait)
	defer cancel()
	var lastErr error
	for {
		for _, g := range l.byPeer {
			block, err := g.qscc.EvaluateWithContext(ctx, "GetBlockByTxID", client.WithArguments(l.cfg.Channel, txID))
			if err != nil {
				lastErr = err
				continue
			}
			r, err := receipt.BuildFabric(l.cfg.Channel, block, txID)
			if err != nil {
				return nil, err
			}
			return r.Marshal()
		}
		select {
		case <-ctx.Done():
			switch status.Code(lastErr) {
			case codes.Unavailable, codes.DeadlineExceeded:
				return nil, fmt.Errorf("receipt: %w: %v", ledger.ErrUnavailable, lastErr)
			}
			return nil, fmt.Errorf("transaction %s: %w", txID, ledger.ErrTxNotFound)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// receiptWait bounds how long Receipt waits for a transaction to appear.
const receiptWait = 5 * time.Second

// Info reports the channel's height and the trust anchor receipts are
// checked against.
func (l *Ledger) Info(ctx context.Context) (ledger.Info, error) {
	g, err := l.anyOrg()
	if err != nil {
		return ledger.Info{}, err
	}
	raw, err := g.qscc.EvaluateWithContext(ctx, "GetChainInfo", client.WithArguments(l.cfg.Channel))
	if err != nil {
		return ledger.Info{}, fmt.Errorf("chain info: %w: %v", ledger.ErrUnavailable, err)
	}
	var info common.BlockchainInfo
	if err := proto.Unmarshal(raw, &info); err != nil {
		return ledger.Info{}, fmt.Errorf("chain info: %w", err)
	}
	return ledger.Info{Kind: "fabric", Height: info.GetHeight(), TrustAnchor: string(l.anchor)}, nil
}

// Ready returns nil when a peer answers for the channel.
func (l *Ledger) Ready(ctx context.Context) error {
	_, err := l.Info(ctx)
	return err
}
