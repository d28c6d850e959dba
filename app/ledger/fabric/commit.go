package fabric

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/tokentrail/tokentrail/app/ledger"
)

// A write's life, as a small state machine (docs/design/0011-fabric-client.md
// has the table):
//
//	endorse ──ok──▶ submit ──accepted / already ordered──▶ status ──VALID──▶ done
//	   ▲              ▲  │                                  │  │
//	   │              └──┘ failed: same envelope again      │  └─ DUPLICATE_TXID, gateway lost: ask again
//	   │              ▲                                     │
//	   │              └────── no status in time ────────────┤
//	   └──────────── MVCC / phantom read conflict ──────────┘
//
// Every other outcome ends in failed. Only done acknowledges the write, and
// only the status step enters it, on a VALID status from a peer.
type writeState int

const (
	stateEndorse writeState = iota // endorse a new proposal (a new transaction ID)
	stateSubmit                    // submit the signed envelope to the ordering service
	stateStatus                    // wait for the transaction's commit status
	stateDone                      // committed VALID
	stateFailed                    // ended with an error; not acknowledged
)

func (s writeState) String() string {
	switch s {
	case stateEndorse:
		return "endorse"
	case stateSubmit:
		return "submit"
	case stateStatus:
		return "status"
	case stateDone:
		return "done"
	case stateFailed:
		return "failed"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

const (
	// maxEndorsements bounds how often one write is endorsed afresh after
	// committing invalid for a read conflict.
	maxEndorsements = 5
	// The pause before each submission or status request after the first of
	// a transaction, doubling.
	commitPauseMin = 200 * time.Millisecond
	commitPauseMax = 5 * time.Second
)

// write is one write going through its states. It is used once, by one
// goroutine.
type write struct {
	l     *Ledger
	route []*orgGateway
	fn    string
	opts  []client.ProposalOption

	state        writeState
	endorsements int // proposals endorsed, each with its own transaction ID

	// Of the current transaction:
	tx        *client.Transaction
	envelope  []byte         // the signed envelope, once the first submission signed it
	commit    *client.Commit // a status request ready to be sent, if any
	statusReq []byte         // the signed (or, when built here, unsigned) status request
	accepted  bool           // the ordering service accepted a copy, or said it had ordered it
	gw        int            // index in route of the gateway in use
	steps     int            // submissions and status requests so far
	pause     time.Duration

	status *client.Status // once done
	err    error          // once failed
}

// run drives w from its state (endorse, for a new write) to done or failed.
func (w *write) run(ctx context.Context) (*client.Status, error) {
	for {
		var next writeState
		switch w.state {
		case stateEndorse:
			next = w.endorse(ctx)
		case stateSubmit, stateStatus:
			if !w.wait(ctx) {
				next = w.fail(fmt.Errorf("transaction %s: commit status unknown after %d attempts: %w", w.txID(), w.steps, ledger.ErrUnavailable))
			} else if w.state == stateSubmit {
				next = w.submit(ctx)
			} else {
				next = w.awaitStatus(ctx)
			}
		case stateDone:
			return w.status, nil
		case stateFailed:
			return nil, w.err
		}
		w.state = next
	}
}

// wait pauses before every submission or status request of a transaction
// but its first; it reports false when ctx ended first.
func (w *write) wait(ctx context.Context) bool {
	w.steps++
	if w.steps == 1 {
		return true
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(w.pause):
	}
	w.pause = min(2*w.pause, commitPauseMax)
	return true
}

func (l *Ledger) firstPause() time.Duration {
	if l.commitPause > 0 {
		return l.commitPause
	}
	return commitPauseMin
}

func (w *write) txID() string { return w.tx.TransactionID() }

func (w *write) fail(err error) writeState {
	w.err = err
	return stateFailed
}

// unavailable ends a write whose status is unknown when its deadline passed.
func (w *write) unavailable(err error) writeState {
	return w.fail(fmt.Errorf("transaction %s: commit status unknown: %w: %v", w.txID(), ledger.ErrUnavailable, err))
}

// endorse makes a new proposal and has it endorsed, failing over between
// the gateways with the same signed proposal (see [Ledger.failover]).
func (w *write) endorse(ctx context.Context) writeState {
	w.endorsements++
	tx, gw, err := w.l.endorse(ctx, w.route, w.fn, w.opts)
	if err != nil {
		return w.fail(err)
	}
	// The transaction is bound to the gateway that endorsed it: its first
	// submission goes there.
	*w = write{l: w.l, route: w.route, fn: w.fn, opts: w.opts, state: w.state, endorsements: w.endorsements,
		tx: tx, gw: gw, pause: w.l.firstPause()}
	return stateSubmit
}

// submit sends the transaction's signed envelope, the very same bytes each
// time, through the gateway in use.
func (w *write) submit(ctx context.Context) writeState {
	g := w.route[w.gw%len(w.route)]
	t := w.tx
	if w.envelope != nil {
		var err error
		if t, err = g.gw.NewTransaction(w.envelope); err != nil {
			return w.fail(err)
		}
		w.l.stats.resubmissions.Add(1)
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	c, err := t.SubmitWithContext(cctx)
	cancel()
	if w.envelope == nil {
		// The first submission signed the envelope (even when it failed).
		if w.envelope, _ = w.tx.Bytes(); len(w.envelope) == 0 {
			return w.fail(fmt.Errorf("transaction %s: no signed envelope: %w", w.txID(), err))
		}
	}
	if err == nil {
		w.commit, w.statusReq, w.accepted = c, nil, true
		return stateStatus
	}
	var se *client.SubmitError
	if !errors.As(err, &se) {
		// Not an answer of the gateway (signing, say): trying again
		// changes nothing, and nothing was sent.
		return w.fail(fmt.Errorf("transaction %s: submit: %w", w.txID(), err))
	}
	if ctx.Err() != nil {
		return w.unavailable(err)
	}
	if alreadyOrdered(se) {
		// A BFT ordering service refuses a transaction it has ordered
		// before (Raft orders it again, and the peers mark the copy
		// DUPLICATE_TXID): its status is that of the first copy.
		if err := w.needStatusRequest(); err != nil {
			return w.fail(err)
		}
		w.accepted = true
		w.l.log.Info("the orderers already ordered this transaction; reading its status", "tx", w.txID())
		return stateStatus
	}
	if refused(se) {
		if !w.accepted {
			// Refused for good before any copy was accepted: nothing
			// can be ordered, and another copy would be refused too.
			return w.fail(fmt.Errorf("transaction %s: refused by the gateway or the ordering service: %w", w.txID(), err))
		}
		// An earlier copy was accepted and may be ordered: its status
		// decides.
		if err := w.needStatusRequest(); err != nil {
			return w.fail(err)
		}
		w.l.log.Warn("resubmission refused; reading the status of the accepted copy", "tx", w.txID(), "peer", g.peer, "err", err)
		return stateStatus
	}
	if unreachable(se) {
		w.gw++
	}
	w.l.log.Warn("submit failed; submitting the same transaction again", "tx", w.txID(), "peer", g.peer, "err", err)
	return stateSubmit
}

// needStatusRequest makes sure a status request for the transaction can be
// sent through any gateway, building one from the envelope's own creator
// when no submission returned one.
func (w *write) needStatusRequest() error {
	if w.statusReq != nil || w.commit != nil {
		return nil
	}
	var err error
	w.statusReq, err = commitStatusRequest(w.l.cfg.Channel, w.tx)
	return err
}

// awaitStatus waits, for at most the commit timeout, for the transaction's
// status through the gateway in use.
func (w *write) awaitStatus(ctx context.Context) writeState {
	g := w.route[w.gw%len(w.route)]
	commit := w.commit
	w.commit = nil // a Commit is used for one request; later ones are made from statusReq
	if commit == nil {
		var err error
		if commit, err = g.gw.NewCommit(w.statusReq); err != nil {
			return w.fail(err)
		}
		w.l.stats.statusRequeries.Add(1)
	}
	// The client's own commit-status timeout applies only to calls
	// without a context: bound each wait here.
	cctx, cancel := context.WithTimeout(ctx, time.Duration(w.l.cfg.CommitTimeout))
	st, err := commit.StatusWithContext(cctx)
	cancel()
	if w.statusReq == nil {
		w.statusReq, _ = commit.Bytes()
	}
	if err != nil {
		var cse *client.CommitStatusError
		switch {
		case !errors.As(err, &cse):
			return w.fail(fmt.Errorf("transaction %s: commit status: %w", w.txID(), err))
		case ctx.Err() != nil:
			return w.unavailable(err)
		case unreachable(cse):
			// The gateway peer went away while waiting: ask another
			// peer about the same transaction.
			w.gw++
			w.l.log.Warn("gateway peer lost while waiting for a commit status; asking the next one", "tx", w.txID(), "peer", g.peer, "err", err)
			return stateStatus
		case refused(cse):
			// The peer will not say (a malformed request, a caller the
			// channel does not let ask): another copy changes nothing.
			// The transaction may still commit, so this is no answer
			// that it did not.
			return w.fail(fmt.Errorf("transaction %s: commit status unknown, the peer refused to tell: %w", w.txID(), err))
		}
		// No status in time: the transaction may have been accepted by
		// an orderer and lost before it was ordered (a Raft leader change
		// does that), so the same envelope goes again; a copy ordered
		// twice is marked DUPLICATE_TXID by the peers and recorded once.
		w.l.log.Warn("commit status unknown; submitting the same transaction again", "tx", w.txID(), "peer", g.peer, "err", err)
		return stateSubmit
	}
	switch {
	case st.Successful && st.Code == peer.TxValidationCode_VALID:
		w.status = st
		return stateDone
	case st.Code == peer.TxValidationCode_DUPLICATE_TXID:
		// An earlier submission of this envelope committed first; the
		// peers index a transaction ID by its first occurrence, so ask
		// again for the status, which is the first one's.
		w.l.log.Info("duplicate submission of a transaction; reading the first one's status", "tx", w.txID())
		return stateStatus
	case retryable(st.Code) && w.endorsements < maxEndorsements:
		w.l.stats.reendorsements.Add(1)
		w.l.log.Info("transaction lost a read conflict; endorsing afresh", "tx", w.txID(), "code", st.Code.String(), "attempt", w.endorsements)
		return stateEndorse
	}
	return w.fail(&InvalidTxError{TransactionID: w.txID(), Code: st.Code})
}

// commit takes a transaction already endorsed through submit and status to
// done or failed; route[gw] is the gateway tx was made with. A read
// conflict is not endorsed afresh: it ends in an *InvalidTxError.
func (l *Ledger) commit(ctx context.Context, route []*orgGateway, gw int, tx *client.Transaction) (*client.Status, error) {
	w := &write{l: l, route: route, state: stateSubmit, endorsements: maxEndorsements, tx: tx, gw: gw, pause: l.firstPause()}
	return w.run(ctx)
}

// endorse makes one proposal and has it endorsed through the first gateway
// of route that can; the same signed proposal (one transaction ID) goes to
// each. It returns the endorsed transaction and the index in route of the
// gateway that endorsed it.
func (l *Ledger) endorse(ctx context.Context, route []*orgGateway, fn string, opts []client.ProposalOption) (*client.Transaction, int, error) {
	proposal, err := route[0].contract.NewProposal(fn, opts...)
	if err != nil {
		return nil, 0, err
	}
	var signed []byte
	var tx *client.Transaction
	gw := 0
	err = l.failover(ctx, "endorse", route, retryWindow, func(g *orgGateway) error {
		gw = slices.Index(route, g)
		p := proposal
		if signed != nil {
			var err error
			if p, err = g.gw.NewProposal(signed); err != nil {
				return err
			}
		}
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		t, err := p.EndorseWithContext(cctx)
		if signed == nil {
			// The first attempt signed the proposal; later ones send it as is.
			signed, _ = proposal.Bytes()
		}
		tx = t
		return err
	})
	return tx, gw, err
}

func retryable(code peer.TxValidationCode) bool {
	return code == peer.TxValidationCode_MVCC_READ_CONFLICT || code == peer.TxValidationCode_PHANTOM_READ_CONFLICT
}

// InvalidTxError is a transaction that was ordered into a block but marked
// invalid by the peers' validation (an MVCC read conflict, an endorsement
// policy failure, ...): nothing it wrote is in the state. (The gateway
// client's own CommitError cannot be built outside its package with a
// message: its Error() would be empty.)
type InvalidTxError struct {
	TransactionID string
	Code          peer.TxValidationCode
}

func (e *InvalidTxError) Error() string {
	return fmt.Sprintf("transaction %s was committed invalid with validation code %s (%d)", e.TransactionID, e.Code.String(), int32(e.Code))
}

// unreachable reports whether a call failed because its gateway peer could
// not be reached or went away during the call.
func unreachable(err error) bool {
	return status.Code(err) == codes.Unavailable
}

// refused reports whether the gateway refused a submission or a status
// request for good: the same request through any peer gets the same answer.
// A submission's Aborted is an orderer's client error (a 4xx status: a bad
// or forbidden transaction); the gateway answers Unavailable or
// DeadlineExceeded when orderers are down or slow.
func refused(err error) bool {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.PermissionDenied, codes.Unauthenticated, codes.NotFound:
		return true
	case codes.Aborted:
		var se *client.SubmitError
		return errors.As(err, &se)
	}
	return false
}

// alreadyOrderedText is what a SmartBFT orderer answers to a transaction it
// has ordered before.
const alreadyOrderedText = "request already processed"

// alreadyOrdered reports whether the orderers refused a submission because
// they have already ordered the same transaction, as SmartBFT orderers do.
// It is the one place that reads the text of a gateway error: the gateway
// passes each orderer's answer only as text in an error detail (the orderer's
// status, SERVICE_UNAVAILABLE, is also what a busy orderer answers), and the
// refusal has no code of its own.
func alreadyOrdered(err error) bool {
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	if strings.Contains(st.Message(), alreadyOrderedText) {
		return true
	}
	for _, d := range st.Details() {
		if ed, ok := d.(*gateway.ErrorDetail); ok && strings.Contains(ed.GetMessage(), alreadyOrderedText) {
			return true
		}
	}
	return false
}

// commitStatusRequest is the commit status request of a prepared
// transaction, as a successful submission would have returned it, asked as
// the transaction's own creator. It is signed when it is used.
func commitStatusRequest(channel string, tx *client.Transaction) ([]byte, error) {
	raw, err := tx.Bytes()
	if err != nil {
		return nil, err
	}
	var pt gateway.PreparedTransaction
	var payload common.Payload
	var shdr common.SignatureHeader
	if err := proto.Unmarshal(raw, &pt); err != nil {
		return nil, fmt.Errorf("transaction %s: %w", tx.TransactionID(), err)
	}
	if err := proto.Unmarshal(pt.GetEnvelope().GetPayload(), &payload); err != nil {
		return nil, fmt.Errorf("transaction %s: payload: %w", tx.TransactionID(), err)
	}
	if err := proto.Unmarshal(payload.GetHeader().GetSignatureHeader(), &shdr); err != nil {
		return nil, fmt.Errorf("transaction %s: signature header: %w", tx.TransactionID(), err)
	}
	req, err := proto.Marshal(&gateway.CommitStatusRequest{ChannelId: channel, TransactionId: tx.TransactionID(), Identity: shdr.GetCreator()})
	if err != nil {
		return nil, err
	}
	return proto.Marshal(&gateway.SignedCommitStatusRequest{Request: req})
}
