package embedded

import (
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"sync"

	"github.com/tokentrail/tokentrail/app/receipt"
)

// Commitment salts. Every digest in a transaction record of a block of
// header version 2 is a salted commitment (receipt.Commit): SHA-256 over a
// 32-byte salt and the content. The salts are secret to the node and are
// derived, not drawn, so that nothing random enters a block and replaying the
// same transactions on the same node yields the same blocks:
//
//	saltKey = HMAC-SHA256(node private key scalar, 32 bytes big-endian,
//	                      "tokentrail embedded commitment salts v2")
//	salt    = HMAC-SHA256(saltKey, uvarint(len(txID)) ‖ txID ‖ item ‖ uvarint(index))
//
// where item is one byte: 'A' the request (argsHash), 'W' the write set
// (writeSetHash), 'P' the event payload (payloadHash), 'E' an event (index is
// its position in the payload; 0 for the others). HMAC is a pseudorandom
// function: a salt a receipt reveals says nothing of any other salt, nor of
// the key. See docs/design/0021-receipt-commitment-salts.md.

// saltKeyLabel separates the salt key from every other use of the node key.
const saltKeyLabel = "tokentrail embedded commitment salts v2"

// Items a salt is derived for.
const (
	saltArgs     = 'A'
	saltWriteSet = 'W'
	saltPayload  = 'P'
	saltEvent    = 'E'
)

// salter derives commitment salts. It is safe for concurrent use.
type salter struct {
	pool sync.Pool // of hash.Hash keyed with the salt key
}

func newSalter(key *ecdsa.PrivateKey) *salter {
	d := make([]byte, 32)
	key.D.FillBytes(d)
	m := hmac.New(sha256.New, d)
	m.Write([]byte(saltKeyLabel))
	saltKey := m.Sum(nil)
	s := &salter{}
	s.pool.New = func() any { return hmac.New(sha256.New, saltKey) }
	return s
}

// salt returns the salt of item (and index, for an event) of transaction txID.
func (s *salter) salt(txID string, item byte, index int) []byte {
	m := s.pool.Get().(hash.Hash)
	m.Reset()
	var buf [2*binary.MaxVarintLen64 + 1]byte
	b := binary.AppendUvarint(buf[:0], uint64(len(txID)))
	m.Write(b)
	m.Write([]byte(txID))
	b = append(buf[:0], item)
	b = binary.AppendUvarint(b, uint64(index))
	m.Write(b)
	out := m.Sum(nil)
	s.pool.Put(m)
	return out
}

// eventSalts returns the salts of the first n events of transaction txID.
func (s *salter) eventSalts(txID string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = s.salt(txID, saltEvent, i)
	}
	return out
}

// WriteSetCommitment returns the writeSetHash this node records, in a block
// of header version 2, for transaction txID whose write set has the plain
// digest digest (the encoding of txState.apply). It lets an in-process
// tool that replays the ledger's transactions (the benchmark ceiling) check
// that it wrote exactly what the ledger did. It opens the node's secret
// salts to its caller, so it is never served: nothing outside the process
// reaches it.
func (l *Ledger) WriteSetCommitment(txID string, digest [32]byte) string {
	return receipt.Commit(l.salts.salt(txID, saltWriteSet, 0), digest[:])
}
