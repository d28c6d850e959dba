package fabric

import (
	"fmt"
	"strings"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// stubState is [contract.State] over one transaction's chaincode stub. It
// adds no buffering of its own: the stub already gives the contract Fabric's
// semantics (reads see committed state, writes form the read-write set).
type stubState struct {
	stub shim.ChaincodeStubInterface
}

var _ contract.State = stubState{}

func (s stubState) Get(key string) ([]byte, error) {
	v, err := s.stub.GetState(key)
	if err != nil {
		return nil, fmt.Errorf("get %q: %w", key, err)
	}
	if len(v) == 0 {
		// The peer answers an absent key with an empty payload.
		return nil, nil
	}
	return v, nil
}

// GetMultiple reads keys in one message to the peer when the peer offers
// batched reads (Fabric 3.1, core.yaml chaincode.runtimeParams.useGetMultipleKeys);
// otherwise the shim reads them one by one.
func (s stubState) GetMultiple(keys []string) ([][]byte, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	vals, err := s.stub.GetMultipleStates(keys...)
	if err != nil {
		return nil, fmt.Errorf("get %d keys from %q: %w", len(keys), keys[0], err)
	}
	for i, v := range vals {
		if len(v) == 0 {
			vals[i] = nil
		}
	}
	return vals, nil
}

// StartWriteBatch and FinishWriteBatch send the transaction's writes to the
// peer in one message when the peer offers write batching (Fabric 3.1,
// chaincode.runtimeParams.useWriteBatch), instead of one message per key.
// Without it the shim sends each write as it is made and the bracket is
// a no-op.
func (s stubState) StartWriteBatch() { s.stub.StartWriteBatch() }

func (s stubState) FinishWriteBatch() error { return s.stub.FinishWriteBatch() }

func (s stubState) Put(key string, value []byte) error {
	if err := s.stub.PutState(key, value); err != nil {
		return fmt.Errorf("put %q: %w", key, err)
	}
	return nil
}

func (s stubState) Delete(key string) error {
	if err := s.stub.DelState(key); err != nil {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	return nil
}

func (s stubState) Range(start, end string, fn func(key string, value []byte) (bool, error)) error {
	it, err := s.stub.GetStateByRange(start, end)
	if err != nil {
		return fmt.Errorf("range [%q, %q): %w", start, end, err)
	}
	return drain(it, fn)
}

// errPvtdataNotAvailable is the text of the peer's error for a private read
// of a key whose hash the peer holds but whose value it does not: the peer
// is not a member of the collection (or has not yet reconciled the value).
// Fabric has no error code for it; the text has been stable since 2.0
// (core/ledger/kvledger/txmgmt/txmgr/query_executor.go).
const errPvtdataNotAvailable = "private data matching public hash version is not available"

// isCollectionNotHeld reports whether err is the peer's answer to a private
// read on a node that does not hold the value: the node is not a member of
// the collection, or has not yet received the value by gossip. Other errors,
// including a creator without read access to a member-only collection, are
// not this case.
func isCollectionNotHeld(err error) bool {
	return err != nil && strings.Contains(err.Error(), errPvtdataNotAvailable)
}

// GetPrivate returns nil, not an error, when the endorsing node does not hold
// the collection: the contract then behaves as if the value were absent
// (for example, it omits trade terms), which is what such a node can know.
func (s stubState) GetPrivate(collection, key string) ([]byte, error) {
	v, err := s.stub.GetPrivateData(collection, key)
	if isCollectionNotHeld(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get private %s/%q: %w", collection, key, err)
	}
	if len(v) == 0 {
		return nil, nil
	}
	return v, nil
}

func (s stubState) PutPrivate(collection, key string, value []byte) error {
	if err := s.stub.PutPrivateData(collection, key, value); err != nil {
		return fmt.Errorf("put private %s/%q: %w", collection, key, err)
	}
	return nil
}

// PurgePrivate uses Fabric's purge (since 2.5), which also removes the key's history
// from every peer's private data store; it needs the V2_5 application
// capability on the channel.
func (s stubState) PurgePrivate(collection, key string) error {
	if err := s.stub.PurgePrivateData(collection, key); err != nil {
		return fmt.Errorf("purge private %s/%q: %w", collection, key, err)
	}
	return nil
}

// RangePrivate on a node that does not hold the collection sees no keys: the
// peer's private store simply has none.
func (s stubState) RangePrivate(collection, start, end string, fn func(key string, value []byte) (bool, error)) error {
	it, err := s.stub.GetPrivateDataByRange(collection, start, end)
	if err != nil {
		return fmt.Errorf("range private %s [%q, %q): %w", collection, start, end, err)
	}
	return drain(it, fn)
}

func (s stubState) Transient() (map[string][]byte, error) {
	tm, err := s.stub.GetTransient()
	if err != nil {
		return nil, fmt.Errorf("transient data: %w", err)
	}
	if tm == nil {
		tm = map[string][]byte{}
	}
	return tm, nil
}

func (s stubState) SetEvent(name string, payload []byte) error {
	if err := s.stub.SetEvent(name, payload); err != nil {
		return fmt.Errorf("set event %q: %w", name, err)
	}
	return nil
}

func (s stubState) TxID() string { return s.stub.GetTxID() }

func (s stubState) TxTime() (time.Time, error) {
	ts, err := s.stub.GetTxTimestamp()
	if err != nil {
		return time.Time{}, fmt.Errorf("transaction timestamp: %w", err)
	}
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, fmt.Errorf("transaction timestamp: %w", err)
	}
	return ts.AsTime(), nil
}

// Creator is the MSP ID of the identity that signed the proposal. The peer
// has checked that signature against the channel's MSPs before it invokes
// the chaincode, so the serialized identity's MSP ID is read as it is:
// cid.GetMSPID would also parse the certificate, which nothing here needs
// (7 % of the chaincode server's CPU per write in a profile).
func (s stubState) Creator() (string, error) {
	raw, err := s.stub.GetCreator()
	if err != nil {
		return "", fmt.Errorf("creator: %w", err)
	}
	var id msp.SerializedIdentity
	if err := proto.Unmarshal(raw, &id); err != nil {
		return "", fmt.Errorf("creator: not a serialized identity: %w", err)
	}
	if id.Mspid == "" {
		return "", fmt.Errorf("creator: the serialized identity names no MSP")
	}
	return id.Mspid, nil
}

// drain feeds fn from it until either is done, and always closes it: an
// iterator left open holds the peer's query resources until the
// transaction ends.
func drain(it shim.StateQueryIteratorInterface, fn func(key string, value []byte) (bool, error)) (err error) {
	defer func() {
		if cerr := it.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close iterator: %w", cerr)
		}
	}()
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return fmt.Errorf("next key: %w", err)
		}
		more, err := fn(kv.GetKey(), kv.GetValue())
		if err != nil || !more {
			return err
		}
	}
	return nil
}
