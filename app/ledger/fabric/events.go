package fabric

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"

	"github.com/tokentrail/tokentrail/app/ledger"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// Reconnection of an event feed whose stream broke.
const (
	feedBackoffMin = 200 * time.Millisecond
	feedBackoffMax = 5 * time.Second
	// feedAttempts bounds the reconnections in a row that deliver nothing
	// before the feed gives up with ledger.ErrUnavailable.
	feedAttempts = 8
)

// Events calls fn with the tokentrail chaincode event of every valid
// transaction at or after from, in commit order, then with each new one as
// its block commits. It reads the Gateway's chaincode events
// (Network.ChaincodeEvents) from from.Block and skips, within that block,
// the first from.Tx events; the peers deliver events of valid transactions
// only, so a position names the same transaction on every peer.
// [ledger.Live] starts at the channel's height when Events is called.
//
// The position of the next event to deliver is the feed's checkpoint: when
// the stream breaks (a peer restarts, a connection drops) the feed
// reconnects, trying each gateway peer in turn, and resumes there, so
// nothing is skipped or repeated. After [feedAttempts] reconnections in a
// row that deliver nothing it returns an error wrapping
// [ledger.ErrUnavailable]. It returns ctx.Err() when ctx ends and fn's error
// when fn fails.
func (l *Ledger) Events(ctx context.Context, from ledger.Position, fn func(ledger.Committed) error) error {
	if len(l.byPeer) == 0 {
		return errors.New("fabric: no gateway peer configured")
	}
	if from == ledger.Live {
		info, err := l.Info(ctx)
		if err != nil {
			return err
		}
		from = ledger.Position{Block: info.Height}
	}
	backoff := feedBackoffMin
	failures := 0
	for peer := 0; ; peer++ {
		g := l.byPeer[peer%len(l.byPeer)]
		delivered, err := l.feed(ctx, g, &from, fn)
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if delivered {
			failures, backoff = 0, feedBackoffMin
		}
		failures++
		if failures > feedAttempts {
			return fmt.Errorf("chaincode events from block %d: no peer delivers them: %w", from.Block, ledger.ErrUnavailable)
		}
		l.log.Warn("chaincode event stream ended; reconnecting", "block", from.Block, "tx", from.Tx, "attempt", failures)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, feedBackoffMax)
	}
}

// feed reads one chaincode event stream from g, starting at *from, and
// advances *from past each event fn accepted. It returns fn's error, or nil
// when the stream ended (ctx ended or the stream broke), saying whether it
// delivered anything.
func (l *Ledger) feed(ctx context.Context, g *orgGateway, from *ledger.Position, fn func(ledger.Committed) error) (bool, error) {
	sctx, cancel := context.WithCancel(ctx)
	events, err := g.network.ChaincodeEvents(sctx, l.cfg.Chaincode, client.WithStartBlock(from.Block))
	if err != nil {
		cancel()
		l.log.Warn("chaincode events: cannot open stream", "block", from.Block, "err", err)
		return false, nil
	}
	defer func() {
		cancel()
		// The client's goroutine may be blocked handing over an event; let
		// it finish so it can see the cancellation.
		go func() {
			for range events {
			}
		}()
	}()
	delivered := false
	var block uint64
	ordinal := 0
	for ev := range events {
		if ev.EventName != contract.EventName {
			continue
		}
		if ev.BlockNumber != block {
			block, ordinal = ev.BlockNumber, 0
		}
		p := ledger.Position{Block: block, Tx: ordinal}
		ordinal++
		if p.Before(*from) {
			continue
		}
		if err := fn(ledger.Committed{Position: p, TxID: ev.TransactionID, Payload: ev.Payload}); err != nil {
			return delivered, err
		}
		*from = ledger.Position{Block: p.Block, Tx: p.Tx + 1}
		delivered = true
	}
	return delivered, nil
}
