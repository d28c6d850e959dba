package contract

import "time"

// State is what the contract needs from a ledger during one transaction. The
// Fabric adapter implements it over the chaincode stub; the embedded ledger
// implements it over its own store. Keys are UTF-8 strings that never start
// with a NUL byte, so both ledgers can serve them as plain keys.
//
// Reads see the state committed before the transaction, never the
// transaction's own writes (Fabric's semantics): the contract buffers its own
// writes in a [txn] and flushes them once every check has passed.
type State interface {
	// Get returns the value stored at key, or nil (and no error) when there is none.
	Get(key string) ([]byte, error)
	// Put stores value at key. Values are never empty.
	Put(key string, value []byte) error
	// Delete removes key; deleting an absent key is not an error.
	Delete(key string) error
	// GetMultiple returns the values at keys, in the same order, with nil for
	// an absent key. On Fabric it is one round trip to the peer for all the
	// keys (the peer's batched reads); a ledger without them loops over Get.
	GetMultiple(keys []string) ([][]byte, error)
	// StartWriteBatch and FinishWriteBatch bracket the transaction's writes:
	// a ledger that can send them together (Fabric's write batching) does so
	// at FinishWriteBatch; one that cannot ignores the bracket. The contract
	// calls them once, around its final flush.
	StartWriteBatch()
	FinishWriteBatch() error
	// Range calls fn for each key in [start, end) in ascending byte order,
	// until fn returns false or an error. The order is the same on every ledger.
	Range(start, end string, fn func(key string, value []byte) (bool, error)) error

	// GetPrivate returns the value at key in a private data collection, or nil
	// when there is none or the caller's node does not hold the collection.
	GetPrivate(collection, key string) ([]byte, error)
	// PutPrivate stores value at key in a private data collection.
	PutPrivate(collection, key string, value []byte) error
	// PurgePrivate removes key from a collection, including its history where
	// the ledger keeps one.
	PurgePrivate(collection, key string) error
	// RangePrivate is Range over a private data collection.
	RangePrivate(collection, start, end string, fn func(key string, value []byte) (bool, error)) error
	// Transient returns the transaction's transient data (never recorded in a
	// block), or an empty map.
	Transient() (map[string][]byte, error)

	// SetEvent attaches the transaction's event. A later call replaces an
	// earlier one, as on Fabric.
	SetEvent(name string, payload []byte) error
	// TxID is the transaction's unique ID.
	TxID() string
	// TxTime is the transaction's timestamp, as set by its submitter and
	// recorded in the block: the only clock the contract reads.
	TxTime() (time.Time, error)
	// Creator returns the MSP ID of the identity that signed the transaction.
	Creator() (string, error)
}
