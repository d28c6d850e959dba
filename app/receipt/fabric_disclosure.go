package receipt

import (
	"encoding/json"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// What a Fabric receipt discloses. Its evidence is the whole block: every
// envelope's request, response, write set (private values as salted hashes)
// and event, whoever submitted it. Before a receipt is handed out, its holder
// must be allowed to read all of that; FabricDisclosure lists, per data
// entry, what an API needs to decide (docs/design/0018-commitments.md).

// DisclosedTx is what one data entry of a Fabric receipt's block discloses.
type DisclosedTx struct {
	// Index is the entry's position in the block.
	Index int
	// Readable is false when the entry is not an endorser transaction this
	// package can read (a configuration block entry, a malformed envelope):
	// nothing is known of what it discloses.
	Readable bool
	TxID     string
	// Chaincode is the chaincode the transaction invoked.
	Chaincode string
	// Function is the contract function it invoked.
	Function string
	// EventIDs are the IDs of the events in its tokentrail chaincode event.
	EventIDs []string
	// Trades is how many trades a RecordTrades request submitted (each one
	// names a batch whether or not it was recorded); 0 for other functions.
	Trades int
}

// FabricDisclosure lists what every data entry of a Fabric receipt's block
// discloses. It reads the receipt as it is and verifies nothing: verify the
// receipt first, or build it from a block the caller's own peer committed.
func FabricDisclosure(r *Receipt) ([]DisclosedTx, error) {
	if r.Kind != KindFabric || r.Fabric == nil {
		return nil, fail(CheckFormat, nil, "not a Fabric receipt")
	}
	out := make([]DisclosedTx, len(r.Fabric.Data))
	for i, raw := range r.Fabric.Data {
		out[i].Index = i
		tx, err := parseFabricTx(raw)
		if err != nil {
			continue
		}
		d := DisclosedTx{Index: i, TxID: tx.chdr.TxId, Chaincode: tx.action.GetChaincodeId().GetName(), Function: tx.function}
		if tx.event != nil && tx.event.EventName == contract.EventName {
			events, err := splitWriteEvent(tx.event.Payload)
			if err != nil {
				continue
			}
			for _, e := range events {
				var h eventHead
				if err := json.Unmarshal(e, &h); err != nil {
					continue
				}
				d.EventIDs = append(d.EventIDs, h.EventID)
			}
			if len(d.EventIDs) != len(events) {
				continue
			}
		}
		if tx.function == contract.FnTradeBulk {
			var req struct {
				Trades []json.RawMessage `json:"trades"`
			}
			if err := json.Unmarshal(tx.request, &req); err != nil {
				continue
			}
			d.Trades = len(req.Trades)
		}
		d.Readable = true
		out[i] = d
	}
	return out, nil
}
