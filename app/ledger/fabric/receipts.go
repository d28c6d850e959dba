package fabric

import (
	"context"
	"fmt"

	"github.com/tokentrail/tokentrail/app/receipt"
)

// receiptBlock decodes a committed block for its receipts. A block signed by
// BFT consenters names them by number; their identities come from the
// config block its signed metadata names, which is fetched here too.
func (l *Ledger) receiptBlock(ctx context.Context, raw []byte) (*receipt.FabricBlock, error) {
	b, err := receipt.ParseFabricBlock(raw)
	if err != nil {
		return nil, err
	}
	n, needed := b.ConsentersFrom()
	if !needed {
		return b, nil
	}
	cfg, err := l.blockByNumber(ctx, n)
	if err != nil {
		return nil, fmt.Errorf("receipt of block %d: its consenters: %w", b.Number(), err)
	}
	if err := b.WithConsenters(cfg); err != nil {
		return nil, err
	}
	return b, nil
}
