package embedded

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/tokentrail/tokentrail/app/receipt"
)

// BlockView is a committed block as [Ledger.Blocks] shows it.
type BlockView struct {
	Number uint64
	// Hash is the hex hash of the block header.
	Hash string
	// Time is the block's time (RFC 3339, UTC).
	Time string
	Txs  []TxView
}

// TxView is one committed transaction with its chaincode event.
type TxView struct {
	TxID      string
	Timestamp string
	Creator   string
	Function  string
	// EventName and Payload are the chaincode event the transaction set
	// (for the contract's writes, a contract.WriteEvent); empty when none.
	EventName string
	Payload   []byte
}

// blocksPerRead bounds how many blocks one read transaction serves, so a long
// replay does not pin an old snapshot.
const blocksPerRead = 64

// Blocks calls fn for each committed block from number from (1 is the first)
// in order, until fn returns false or the last block committed when the call
// started has been shown. Blocks are read in short read transactions, so a
// long replay does not hold up the writer.
func (l *Ledger) Blocks(from uint64, fn func(BlockView) bool) error {
	if from == 0 {
		from = 1
	}
	last := l.Height()
	for n := from; n <= last; {
		var views []BlockView
		err := l.view(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketBlocks).Cursor()
			k, v := c.Seek(blockKey(n))
			for i := 0; i < blocksPerRead && n+uint64(i) <= last; i++ {
				want := n + uint64(i)
				if k == nil || string(k) != string(blockKey(want)) {
					return fmt.Errorf("block %d is missing", want)
				}
				bv, err := blockView(want, v)
				if err != nil {
					return err
				}
				views = append(views, bv)
				k, v = c.Next()
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, bv := range views {
			if !fn(bv) {
				return nil
			}
		}
		n += uint64(len(views))
	}
	return nil
}

func blockView(n uint64, enc []byte) (BlockView, error) {
	b, err := decodeBlock(enc)
	if err != nil {
		return BlockView{}, fmt.Errorf("block %d: %w", n, err)
	}
	var h receipt.Header
	if err := json.Unmarshal(b.header, &h); err != nil {
		return BlockView{}, fmt.Errorf("block %d header: %w", n, err)
	}
	bv := BlockView{Number: n, Hash: receipt.HexHash(receipt.HeaderHash(b.header)), Time: h.Time,
		Txs: make([]TxView, len(b.txs))}
	for i, t := range b.txs {
		var r receipt.TxRecord
		if err := json.Unmarshal(t.record, &r); err != nil {
			return BlockView{}, fmt.Errorf("block %d transaction %d: %w", n, i, err)
		}
		tv := TxView{TxID: r.TxID, Timestamp: r.Timestamp, Creator: r.Creator, Function: r.Function, EventName: r.EventName}
		if len(t.payload) > 0 {
			tv.Payload = append([]byte(nil), t.payload...) // bbolt's bytes die with the read transaction
		}
		bv.Txs[i] = tv
	}
	return bv, nil
}
