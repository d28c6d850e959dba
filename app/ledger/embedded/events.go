package embedded

import (
	"context"
	"fmt"

	"github.com/tokentrail/tokentrail/app/ledger"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// nextCommit returns the height and a channel that is closed when a block
// after it commits or the ledger closes. Taking both under one lock means no
// commit can slip between reading the height and waiting.
func (l *Ledger) nextCommit() (uint64, <-chan struct{}) {
	l.state.Lock()
	defer l.state.Unlock()
	return l.height, l.committed
}

func (l *Ledger) isClosed() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.closed
}

// Events calls fn with the chaincode event of every committed transaction
// at or after from, in commit order: first those already committed (read
// with [Ledger.Blocks]), then each as its block commits. A transaction's
// position counts, within its block, the transactions that set
// [contract.EventName]; on this ledger that is every transaction in the
// block. [ledger.Live] starts after the last block committed when Events is
// called.
//
// Events returns ctx.Err() when ctx ends, fn's error when fn fails, and an
// error wrapping [ledger.ErrUnavailable] when the ledger closes.
func (l *Ledger) Events(ctx context.Context, from ledger.Position, fn func(ledger.Committed) error) error {
	height, wake := l.nextCommit()
	if from == ledger.Live {
		from = ledger.Position{Block: height + 1}
	}
	if from.Block == 0 { // blocks are numbered from 1
		from = ledger.Position{Block: 1}
	}
	for {
		if l.isClosed() {
			return fmt.Errorf("embedded ledger is closed: %w", ledger.ErrUnavailable)
		}
		if from.Block <= height {
			var fnErr error
			err := l.Blocks(from.Block, func(bv BlockView) bool {
				ordinal := 0
				for _, t := range bv.Txs {
					if t.EventName != contract.EventName {
						continue
					}
					p := ledger.Position{Block: bv.Number, Tx: ordinal}
					ordinal++
					if p.Before(from) {
						continue
					}
					if fnErr = fn(ledger.Committed{Position: p, TxID: t.TxID, Payload: t.Payload}); fnErr != nil {
						return false
					}
				}
				from = ledger.Position{Block: bv.Number + 1}
				return ctx.Err() == nil
			})
			switch {
			case fnErr != nil:
				return fnErr
			case err != nil:
				return err
			case ctx.Err() != nil:
				return ctx.Err()
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		}
		height, wake = l.nextCommit()
	}
}
