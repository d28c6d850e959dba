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
//
// Each organisation can reach the network through every peer of the
// connection profile. Its own gateway peer is tried first; when that peer is
// down or cannot serve, queries, endorsements, submissions and commit-status
// waits move to the next peer with the same signed proposal or transaction
// (docs/design/0013-fabric-peer-failover.md).
package fabric

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-gateway/pkg/hash"
	"github.com/hyperledger/fabric-gateway/pkg/identity"
	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
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
	cfg   Config
	log   *slog.Logger
	conns []*grpc.ClientConn
	// routes holds, per organisation, one gateway through every peer of the
	// connection profile: the organisation's own gateway peer first, then
	// the peers of organisations holding the private collection, then the
	// rest by name. They share one gRPC connection per peer.
	routes map[string][]*orgGateway
	byPeer []*orgGateway // one gateway per distinct peer, private-data peers first
	// privatePeers are the peers of the organisations holding the private
	// collection.
	privatePeers map[string]bool
	private      []string
	anchor       []byte
	isQuery      func(string) bool
	touches      map[string]bool // functions that write the private collection
	readsPrivate map[string]bool // queries whose answer may carry it
	stats        stats
	heights      *heights
	fresh        *freshness                        // heights sampled before queries (fresh.go)
	blocks       *blockCache[*receipt.FabricBlock] // blocks of recent writes, for their receipts
	closeMu      sync.Once
	// commitPause is the first pause between a transaction's submissions
	// and status requests (commitPauseMin when zero; tests shorten it).
	commitPause time.Duration
}

// stats counts what the ledger did to get past failures, for tests and logs.
type stats struct {
	failovers       atomic.Int64 // calls retried through another gateway peer (or the same one later)
	resubmissions   atomic.Int64 // the same signed transaction submitted again
	statusRequeries atomic.Int64 // commit statuses asked again without resubmitting (another gateway peer, or after a duplicate)
	reendorsements  atomic.Int64 // transactions endorsed afresh after an MVCC conflict
}

type orgGateway struct {
	peer     string // the gateway peer's name in the connection profile
	gw       *client.Gateway
	network  *client.Network
	contract *client.Contract
	qscc     *client.Contract
}

// Open connects to the peers named in the connection profile: one gRPC
// connection per peer, shared by every organisation, and per organisation
// one gateway through each peer (see [Ledger.Submit] for how they are used).
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
	l := &Ledger{cfg: cfg, log: log, routes: map[string][]*orgGateway{}, private: cfg.PrivateDataOrganizations,
		anchor: anchor, isQuery: c.IsQuery, privatePeers: map[string]bool{},
		touches:      map[string]bool{contract.FnTrade: true, contract.FnTradeBulk: true, contract.FnRetire: true},
		readsPrivate: map[string]bool{contract.FnPrices: true, contract.FnListTrades: true}}
	for name, ep := range peers {
		if contains(cfg.PrivateDataOrganizations, ep.MSPID) {
			l.privatePeers[name] = true
		}
	}
	for _, id := range cfg.Identities {
		if _, ok := peers[id.GatewayPeer]; !ok {
			return nil, fmt.Errorf("fabric.identities %s: gatewayPeer %q is not a peer of the connection profile", id.MSPID, id.GatewayPeer)
		}
		// A profile that does not say which organisation a peer belongs to:
		// an organisation's own gateway peer is taken to be its.
		if peers[id.GatewayPeer].MSPID == "" && contains(cfg.PrivateDataOrganizations, id.MSPID) {
			l.privatePeers[id.GatewayPeer] = true
		}
	}
	// Private-data peers first, then by name.
	names := make([]string, 0, len(peers))
	for name := range peers {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		pi, pj := l.privatePeers[names[i]], l.privatePeers[names[j]]
		if pi != pj {
			return pi
		}
		return names[i] < names[j]
	})
	conns := map[string]*grpc.ClientConn{}
	for _, name := range names {
		conn, err := dial(peers[name])
		if err != nil {
			l.Close()
			return nil, err
		}
		conns[name] = conn
		l.conns = append(l.conns, conn)
	}
	firstOf := map[string]*orgGateway{} // per peer, the gateway byPeer uses
	for _, idc := range cfg.Identities {
		signer, err := l.signer(idc)
		if err != nil {
			l.Close()
			return nil, err
		}
		order := append([]string{idc.GatewayPeer}, slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == idc.GatewayPeer })...)
		for _, name := range order {
			og, err := l.connect(signer, name, conns[name])
			if err != nil {
				l.Close()
				return nil, err
			}
			l.routes[idc.MSPID] = append(l.routes[idc.MSPID], og)
			// Prefer an identity of a private-data organisation for the
			// peer-wide reads (blocks, chain info, events).
			if f := firstOf[name]; f == nil || (!contains(l.private, f.mspID()) && contains(l.private, idc.MSPID)) {
				firstOf[name] = og
			}
		}
	}
	for _, name := range names {
		l.byPeer = append(l.byPeer, firstOf[name])
	}
	l.heights = newHeights(l)
	l.fresh = newFreshness(l)
	l.blocks = newBlockCache[*receipt.FabricBlock]()
	return l, nil
}

func contains(list []string, v string) bool {
	return slices.Contains(list, v)
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
	// A restarted peer is redialled within a few seconds rather than after
	// gRPC's default backoff of up to two minutes; while it is down, calls
	// on its connection fail at once and go to another peer.
	conn, err := grpc.NewClient(ep.Address, grpc.WithTransportCredentials(creds),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 250 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 3 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}))
	if err != nil {
		return nil, fmt.Errorf("peer %s at %s: %w", ep.Name, ep.Address, err)
	}
	return conn, nil
}

// signer is one organisation's signing identity.
type signer struct {
	id   *identity.X509Identity
	sign identity.Sign
}

func (l *Ledger) signer(idc IdentityConfig) (signer, error) {
	certPEM, err := os.ReadFile(l.cfg.path(idc.Certificate))
	if err != nil {
		return signer{}, fmt.Errorf("%s certificate: %w", idc.MSPID, err)
	}
	cert, err := identity.CertificateFromPEM(certPEM)
	if err != nil {
		return signer{}, fmt.Errorf("%s certificate: %w", idc.MSPID, err)
	}
	id, err := identity.NewX509Identity(idc.MSPID, cert)
	if err != nil {
		return signer{}, fmt.Errorf("%s identity: %w", idc.MSPID, err)
	}
	keyPEM, err := os.ReadFile(l.cfg.path(idc.PrivateKey))
	if err != nil {
		return signer{}, fmt.Errorf("%s private key: %w", idc.MSPID, err)
	}
	key, err := identity.PrivateKeyFromPEM(keyPEM)
	if err != nil {
		return signer{}, fmt.Errorf("%s private key: %w", idc.MSPID, err)
	}
	sign, err := identity.NewPrivateKeySign(key)
	if err != nil {
		return signer{}, fmt.Errorf("%s signer: %w", idc.MSPID, err)
	}
	return signer{id: id, sign: sign}, nil
}

func (l *Ledger) connect(s signer, peerName string, conn *grpc.ClientConn) (*orgGateway, error) {
	gw, err := client.Connect(s.id, client.WithSign(s.sign), client.WithHash(hash.SHA256), client.WithClientConnection(conn),
		client.WithEvaluateTimeout(callTimeout), client.WithEndorseTimeout(callTimeout),
		client.WithSubmitTimeout(callTimeout), client.WithCommitStatusTimeout(time.Duration(l.cfg.CommitTimeout)))
	if err != nil {
		return nil, fmt.Errorf("%s gateway through %s: %w", s.id.MspID(), peerName, err)
	}
	nw := gw.GetNetwork(l.cfg.Channel)
	return &orgGateway{peer: peerName, gw: gw, network: nw, contract: nw.GetContract(l.cfg.Chaincode), qscc: nw.GetContract("qscc")}, nil
}

func (g *orgGateway) mspID() string { return g.gw.Identity().MspID() }

// Close closes every gateway and connection.
func (l *Ledger) Close() error {
	l.closeMu.Do(func() {
		if l.heights != nil {
			l.heights.close()
		}
		for _, route := range l.routes {
			for _, g := range route {
				g.gw.Close()
			}
		}
		for _, c := range l.conns {
			c.Close()
		}
	})
	return nil
}

// route returns org's gateways in the order they are tried.
func (l *Ledger) route(org string) ([]*orgGateway, error) {
	r, ok := l.routes[org]
	if !ok {
		return nil, fmt.Errorf("organisation %s has no Fabric identity in the configuration", org)
	}
	return r, nil
}

// privateRoute keeps the gateways through peers of organisations that hold
// the private collection: a request carrying trade terms, or whose answer
// may carry them, never passes through another organisation's peer. With
// no such peer in the profile it returns route unchanged.
func (l *Ledger) privateRoute(route []*orgGateway) []*orgGateway {
	var out []*orgGateway
	for _, g := range route {
		if l.privatePeers[g.peer] {
			out = append(out, g)
		}
	}
	if len(out) == 0 {
		return route
	}
	return out
}

// Submit endorses, orders and commits fn as org and returns once the
// transaction is valid on the ledger.
//
// Each step goes to org's own gateway peer first and, when that peer cannot
// be reached or cannot serve (see [transient]), to the next of its gateways;
// when all fail, Submit waits and goes round again for up to [retryWindow]
// (endorsement) or until the submit deadline (ordering and commit). The
// transaction keeps its ID throughout: the same signed proposal is endorsed
// through another peer, and the same signed envelope is submitted again, so
// a transaction that may already have been ordered is never recorded a
// second time under a new ID. Only a transaction that committed invalid
// because of a read conflict is endorsed afresh, with a new ID. A write
// carrying private trade terms uses only the peers of the organisations that
// hold them.
func (l *Ledger) Submit(ctx context.Context, org, fn string, args []byte, transient map[string][]byte) (ledger.Result, error) {
	route, err := l.route(org)
	if err != nil {
		return ledger.Result{}, err
	}
	if l.isQuery(fn) {
		return ledger.Result{}, fmt.Errorf("%s is a query, not a write", fn)
	}
	callerCtx := ctx // the receipt is built after the submission's deadline ends
	ctx, cancel := context.WithTimeout(ctx, time.Duration(l.cfg.SubmitDeadline))
	defer cancel()
	opts := []client.ProposalOption{client.WithBytesArguments(args)}
	if len(transient) > 0 {
		opts = append(opts, client.WithTransient(transient))
		route = l.privateRoute(route)
	}
	if l.touches[fn] && len(l.private) > 0 {
		opts = append(opts, client.WithEndorsingOrganizations(l.private...))
	}
	w := &write{l: l, route: route, fn: fn, opts: opts}
	st, err := w.run(ctx)
	if err != nil {
		return ledger.Result{}, err
	}
	l.heights.wait(ctx, st.BlockNumber)
	txID := w.txID()
	l.blocks.noteTx(txID, st.BlockNumber)
	// The receipt, if asked for, comes from the block the writes of this
	// block share (fetched once), in parts: the block's data entries are
	// encoded once for all of them (receipt.Receipt.MarshalParts).
	build := func() ledger.Receipt {
		parts, err := l.receiptParts(callerCtx, txID, st.BlockNumber)
		if err != nil {
			return nil
		}
		return parts
	}
	return ledger.Result{TxID: txID, Block: st.BlockNumber, Payload: w.tx.Result(), Receipt: build}, nil
}

// Retrying a step through the gateways.
const (
	// retryWindow bounds how long an endorsement or a query keeps being
	// retried when no gateway peer can serve it: long enough to ride out a
	// chaincode server or peer restart, short enough that a caller learns
	// of an outage.
	retryWindow     = 15 * time.Second
	retryBackoffMin = 100 * time.Millisecond
	retryBackoffMax = 2 * time.Second
	// callTimeout bounds one endorsement, evaluation or submission through
	// one gateway peer.
	callTimeout = 30 * time.Second
)

// Evaluate runs the query fn as org on its gateway peer, or, when that peer
// cannot serve it, through the next of org's gateways (as [Ledger.Submit]
// does, for up to [retryWindow]). The price index is evaluated on a peer of
// an organisation that holds the private collection. A query whose answer
// may carry trade terms (the price index, trades) asked by such an
// organisation only goes through peers that hold them: on another peer the
// terms would pass through a non-member or, for trades, silently be absent.
func (l *Ledger) Evaluate(ctx context.Context, org, fn string, args []byte) ([]byte, error) {
	route, err := l.route(org)
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
	if l.readsPrivate[fn] && contains(l.private, org) {
		// The answer may carry terms: it must not pass through, or be
		// computed on, a peer that does not hold them.
		route = l.privateRoute(route)
	}
	// Only a peer known to be current answers (fresh.go).
	if route, err = l.current(ctx, route); err != nil {
		return nil, err
	}
	var out []byte
	err = l.failover(ctx, "evaluate", route, retryWindow, func(g *orgGateway) error {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		var err error
		out, err = g.contract.EvaluateWithContext(cctx, fn, opts...)
		return err
	})
	return out, err
}

// failover calls call with each gateway of route in turn until one succeeds
// or fails for a reason another peer would not change (an answer of the
// contract, a bad request). When every gateway failed it waits and goes round
// again, until window has passed or ctx ends. It returns the last error,
// mapped by mapError.
func (l *Ledger) failover(ctx context.Context, step string, route []*orgGateway, window time.Duration, call func(*orgGateway) error) error {
	deadline := time.Now().Add(window)
	pause := retryBackoffMin
	for round := 0; ; round++ {
		var err error
		for i, g := range route {
			if err = call(g); err == nil {
				if i > 0 || round > 0 {
					l.log.Info("served through another gateway peer", "step", step, "peer", g.peer, "round", round)
				}
				return nil
			}
			if ctx.Err() != nil || !transient(err) {
				return l.mapError(step, err)
			}
			l.stats.failovers.Add(1)
			l.log.Warn("gateway peer could not serve; trying the next", "step", step, "peer", g.peer, "err", err)
		}
		if time.Now().Add(pause).After(deadline) {
			return l.mapError(step, err)
		}
		select {
		case <-ctx.Done():
			return l.mapError(step, err)
		case <-time.After(pause):
		}
		pause = min(2*pause, retryBackoffMax)
	}
}

// transient reports whether a gateway call failed for a reason that another
// gateway peer, or the same one a moment later, may not have: the peer
// unreachable (Unavailable, DeadlineExceeded), no peer able to run the
// chaincode or plan an endorsement (Aborted, FailedPrecondition: a
// chaincode server restarting, a peer catching up with gossip), overload.
// An error the contract returned is an answer, never transient.
func transient(err error) bool {
	if _, ok := contractError(err); ok {
		return false
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.FailedPrecondition, codes.ResourceExhausted:
		return true
	}
	return false
}

// contractError returns the contract's error carried by a gateway error.
func contractError(err error) (error, bool) {
	st := status.Convert(err)
	for _, d := range st.Details() {
		if m, ok := d.(interface{ GetMessage() string }); ok {
			if ce, ok := contract.DecodeError(m.GetMessage()); ok {
				return ce, true
			}
		}
	}
	if ce, ok := contract.DecodeError(st.Message()); ok {
		return ce, true
	}
	return nil, false
}

// mapError turns a gateway error into the contract's error when a peer
// returned one, or into ledger.ErrUnavailable when no peer could serve the
// call.
func (l *Ledger) mapError(step string, err error) error {
	if ce, ok := contractError(err); ok {
		return ce
	}
	if transient(err) || status.Code(err) == codes.Canceled {
		return fmt.Errorf("%s: %w: %v", step, ledger.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", step, err)
}

// anyRoute returns some configured organisation's gateways, preferring an
// organisation holding the private collection (its peers see everything).
func (l *Ledger) anyRoute() ([]*orgGateway, error) {
	for _, o := range l.private {
		if r, ok := l.routes[o]; ok {
			return r, nil
		}
	}
	for _, id := range l.cfg.Identities {
		return l.routes[id.MSPID], nil
	}
	return nil, errors.New("no organisation configured")
}

// Receipt fetches the block holding txID and builds its receipt. Peers
// commit a block at slightly different moments, so a transaction whose
// commit status one peer has just reported may not be on another yet: each
// gateway peer is asked in turn, for a few seconds, before the transaction
// is declared unknown.
func (l *Ledger) Receipt(ctx context.Context, txID string) ([]byte, error) {
	if n, ok := l.blocks.blockNumberOf(txID); ok {
		if parts, err := l.receiptParts(ctx, txID, n); err == nil {
			return parts.Bytes(), nil
		}
	}
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
			b, err := l.receiptBlock(ctx, block)
			if err != nil {
				return nil, err
			}
			r, err := b.Receipt(l.cfg.Channel, txID)
			if err != nil {
				return nil, err
			}
			l.blocks.put(b.Number(), b)
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

// receiptParts builds the receipt of txID from block n, which the blocks
// of recent writes keep (fetched once for all the writes of a block).
func (l *Ledger) receiptParts(ctx context.Context, txID string, n uint64) (ledger.Receipt, error) {
	block, err := l.blocks.get(ctx, n, func(ctx context.Context) (*receipt.FabricBlock, error) {
		raw, err := l.blockByNumber(ctx, n)
		if err != nil {
			return nil, err
		}
		return l.receiptBlock(ctx, raw)
	})
	if err != nil {
		return nil, err
	}
	r, err := block.Receipt(l.cfg.Channel, txID)
	if err != nil {
		return nil, err
	}
	parts, err := r.MarshalParts()
	return ledger.Receipt(parts), err
}

// receiptWait bounds how long Receipt waits for a transaction to appear.
const receiptWait = 5 * time.Second

// blockByNumber fetches block n from the first peer that has it.
func (l *Ledger) blockByNumber(ctx context.Context, n uint64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, receiptWait)
	defer cancel()
	var lastErr error
	for _, g := range l.byPeer {
		block, err := g.qscc.EvaluateWithContext(ctx, "GetBlockByNumber", client.WithArguments(l.cfg.Channel, strconv.FormatUint(n, 10)))
		if err == nil {
			return block, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("block %d: %w", n, lastErr)
}

// Info reports the channel's height, the highest of the peers that answer
// (when more than half of them do: fresh.go), and the trust anchor receipts
// are checked against. Ready is Info without its answer.
func (l *Ledger) Info(ctx context.Context) (ledger.Info, error) {
	if l.fresh != nil && len(l.byPeer) > 0 {
		heights, err := l.fresh.sample(ctx)
		if err != nil {
			return ledger.Info{}, err
		}
		top, err := quorumTop(heights, len(l.byPeer))
		if err != nil {
			return ledger.Info{}, err
		}
		return ledger.Info{Kind: "fabric", Height: top, TrustAnchor: string(l.anchor)}, nil
	}
	route, err := l.anyRoute()
	if err != nil {
		return ledger.Info{}, err
	}
	var raw []byte
	err = l.failover(ctx, "chain info", route, 0, func(g *orgGateway) error {
		var err error
		raw, err = g.qscc.EvaluateWithContext(ctx, "GetChainInfo", client.WithArguments(l.cfg.Channel))
		return err
	})
	if err != nil {
		if !errors.Is(err, ledger.ErrUnavailable) {
			err = fmt.Errorf("%w: %v", ledger.ErrUnavailable, err)
		}
		return ledger.Info{}, err
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
