package receipt

// Building Fabric receipts from committed blocks.

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// BuildFabric builds the receipt of transaction txID from the serialized
// block that holds it, as a peer returns it (qscc GetBlockByTxID): with the
// orderers' signatures and the peer's validation flags in its metadata. It
// fails when the block is malformed, the transaction is not in it, is of
// another channel, was not marked valid, or did not set the tokentrail event.
func BuildFabric(channel string, blockBytes []byte, txID string) (*Receipt, error) {
	b, err := ParseFabricBlock(blockBytes)
	if err != nil {
		return nil, err
	}
	return b.Receipt(channel, txID)
}

// FabricBlock is a committed block, decoded and checked once for the
// receipts of any of its transactions (the writes of one block are answered
// together, each with its receipt).
type FabricBlock struct {
	header *common.BlockHeader
	data   [][]byte
	flags  []byte
	sigs   []byte
	txIDs  []string // of each data entry; "" when it has none
	// bft: the signatures name consenters by number; their identities
	// come from the config block lastConfig (see WithConsenters).
	bft        bool
	lastConfig uint64
	signerIDs  []uint32
	consenters []FabricConsenter
	// encoded is the JSON of data, made once for all its receipts.
	encoded *encodedData
}

// ParseFabricBlock decodes a serialized committed block and checks what
// every receipt from it relies on: its data hashes to its header's data hash,
// and it carries validation flags and orderer signatures.
func ParseFabricBlock(blockBytes []byte) (*FabricBlock, error) {
	var block common.Block
	if err := proto.Unmarshal(blockBytes, &block); err != nil {
		return nil, fmt.Errorf("fabric receipt: block: %w", err)
	}
	h, data, md := block.GetHeader(), block.GetData().GetData(), block.GetMetadata().GetMetadata()
	if h == nil || len(data) == 0 {
		return nil, errors.New("fabric receipt: block has no header or no data")
	}
	if got := fabricDataHash(data); !bytes.Equal(got[:], h.DataHash) {
		return nil, fmt.Errorf("fabric receipt: block %d: data does not hash to the header's data hash", h.Number)
	}
	if len(md) <= int(common.BlockMetadataIndex_TRANSACTIONS_FILTER) {
		return nil, fmt.Errorf("fabric receipt: block %d has no validation flags (not a committed block)", h.Number)
	}
	flags := md[common.BlockMetadataIndex_TRANSACTIONS_FILTER]
	if len(flags) != len(data) {
		return nil, fmt.Errorf("fabric receipt: block %d has %d validation flags for %d transactions", h.Number, len(flags), len(data))
	}
	if len(md[common.BlockMetadataIndex_SIGNATURES]) == 0 {
		return nil, fmt.Errorf("fabric receipt: block %d has no orderer signatures", h.Number)
	}
	ids := make([]string, len(data))
	for i, raw := range data {
		ids[i], _ = envelopeTxID(raw)
	}
	b := &FabricBlock{header: h, data: data, flags: flags, sigs: md[common.BlockMetadataIndex_SIGNATURES], txIDs: ids,
		encoded: &encodedData{data: data}}
	var sigs common.Metadata
	if err := proto.Unmarshal(b.sigs, &sigs); err != nil {
		return nil, fmt.Errorf("fabric receipt: block %d: orderer signatures: %w", h.Number, err)
	}
	for i, s := range sigs.Signatures {
		if len(s.IdentifierHeader) == 0 {
			continue
		}
		var ih common.IdentifierHeader
		if err := proto.Unmarshal(s.IdentifierHeader, &ih); err != nil {
			return nil, fmt.Errorf("fabric receipt: block %d: orderer signature %d: identifier header: %w", h.Number, i, err)
		}
		b.bft = true
		b.signerIDs = append(b.signerIDs, ih.Identifier)
	}
	if b.bft {
		var obm common.OrdererBlockMetadata
		if err := proto.Unmarshal(sigs.Value, &obm); err != nil || obm.LastConfig == nil {
			return nil, fmt.Errorf("fabric receipt: block %d: the signed metadata names no last config block", h.Number)
		}
		b.lastConfig = obm.LastConfig.Index
	}
	return b, nil
}

// ConsentersFrom reports whether the block's orderer signatures name BFT
// consenters by number, and if so the number of the config block whose
// consenter mapping resolves them (the block's signed last-config index).
// [FabricBlock.WithConsenters] must then be given that block before
// [FabricBlock.Receipt].
func (b *FabricBlock) ConsentersFrom() (configBlock uint64, needed bool) {
	return b.lastConfig, b.bft
}

// WithConsenters reads the consenter mapping of the channel configuration
// from the serialized config block that [FabricBlock.ConsentersFrom] names,
// and keeps the identities of the consenters that signed this block, for its
// receipts. It fails when the block is not that config block, has no
// consenter mapping, or lacks a signer.
func (b *FabricBlock) WithConsenters(configBlock []byte) error {
	if !b.bft {
		return fmt.Errorf("fabric receipt: block %d names no consenters by number", b.header.Number)
	}
	mapping, number, err := ConsenterMapping(configBlock)
	if err != nil {
		return err
	}
	if number != b.lastConfig {
		return fmt.Errorf("fabric receipt: block %d needs config block %d, got block %d", b.header.Number, b.lastConfig, number)
	}
	byID := map[uint32]FabricConsenter{}
	for _, c := range mapping {
		byID[c.ID] = c
	}
	var out []FabricConsenter
	for _, id := range b.signerIDs {
		c, ok := byID[id]
		if !ok {
			return fmt.Errorf("fabric receipt: block %d is signed by consenter %d, which config block %d does not map", b.header.Number, id, number)
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(x, y FabricConsenter) int { return cmp.Compare(x.ID, y.ID) })
	out = slices.CompactFunc(out, func(x, y FabricConsenter) bool { return x.ID == y.ID })
	b.consenters = out
	return nil
}

// ConsenterMapping returns the BFT consenter mapping of a serialized config
// block (Orderer group, Orderers value), and the block's number.
func ConsenterMapping(configBlock []byte) ([]FabricConsenter, uint64, error) {
	var block common.Block
	if err := proto.Unmarshal(configBlock, &block); err != nil {
		return nil, 0, fmt.Errorf("fabric receipt: config block: %w", err)
	}
	n := block.GetHeader().GetNumber()
	data := block.GetData().GetData()
	if len(data) != 1 {
		return nil, n, fmt.Errorf("fabric receipt: block %d has %d data entries; a config block has one", n, len(data))
	}
	var env common.Envelope
	var p common.Payload
	var ch common.ChannelHeader
	var ce common.ConfigEnvelope
	if err := unmarshal("envelope", data[0], &env); err != nil {
		return nil, n, fmt.Errorf("fabric receipt: config block %d: %w", n, err)
	}
	if err := unmarshal("payload", env.Payload, &p); err != nil || p.Header == nil {
		return nil, n, fmt.Errorf("fabric receipt: config block %d: payload: %v", n, err)
	}
	if err := unmarshal("channel header", p.Header.ChannelHeader, &ch); err != nil {
		return nil, n, fmt.Errorf("fabric receipt: config block %d: %w", n, err)
	}
	if common.HeaderType(ch.Type) != common.HeaderType_CONFIG {
		return nil, n, fmt.Errorf("fabric receipt: block %d is not a config block (%s)", n, common.HeaderType(ch.Type))
	}
	if err := unmarshal("config envelope", p.Data, &ce); err != nil {
		return nil, n, fmt.Errorf("fabric receipt: config block %d: %w", n, err)
	}
	v := ce.GetConfig().GetChannelGroup().GetGroups()["Orderer"].GetValues()["Orderers"]
	if v == nil {
		return nil, n, fmt.Errorf("fabric receipt: config block %d has no consenter mapping (Orderer/Orderers)", n)
	}
	var ords common.Orderers
	if err := unmarshal("orderers", v.Value, &ords); err != nil {
		return nil, n, fmt.Errorf("fabric receipt: config block %d: %w", n, err)
	}
	if len(ords.ConsenterMapping) == 0 {
		return nil, n, fmt.Errorf("fabric receipt: config block %d has an empty consenter mapping", n)
	}
	out := make([]FabricConsenter, 0, len(ords.ConsenterMapping))
	for _, c := range ords.ConsenterMapping {
		out = append(out, FabricConsenter{ID: c.Id, MSPID: c.MspId, Identity: c.Identity})
	}
	return out, n, nil
}

// Number is the block's number.
func (b *FabricBlock) Number() uint64 { return b.header.Number }

// Receipt builds the receipt of transaction txID of channel from the block.
func (b *FabricBlock) Receipt(channel, txID string) (*Receipt, error) {
	h, data, flags := b.header, b.data, b.flags

	// A transaction ID may occur more than once in a block; peers mark all
	// but the first DUPLICATE_TXID. Take the valid occurrence.
	index, code := -1, peer.TxValidationCode(0)
	for i, id := range b.txIDs {
		if id == "" || id != txID {
			continue
		}
		c := peer.TxValidationCode(flags[i])
		if index < 0 || c == peer.TxValidationCode_VALID {
			index, code = i, c
		}
		if c == peer.TxValidationCode_VALID {
			break
		}
	}
	if index < 0 {
		return nil, fmt.Errorf("fabric receipt: transaction %s is not in block %d", txID, h.Number)
	}
	if code != peer.TxValidationCode_VALID {
		return nil, fmt.Errorf("fabric receipt: transaction %s in block %d is not valid: %s", txID, h.Number, code)
	}
	tx, err := parseFabricTx(data[index])
	if err != nil {
		return nil, fmt.Errorf("fabric receipt: transaction %s: %w", txID, err)
	}
	if tx.chdr.ChannelId != channel {
		return nil, fmt.Errorf("fabric receipt: transaction %s is of channel %q, not %q", txID, tx.chdr.ChannelId, channel)
	}
	if tx.event == nil || tx.event.EventName != contract.EventName {
		return nil, fmt.Errorf("fabric receipt: transaction %s did not set the %q event", txID, contract.EventName)
	}
	events, err := splitWriteEvent(tx.event.Payload)
	if err != nil {
		return nil, fmt.Errorf("fabric receipt: transaction %s: %w", txID, err)
	}
	for i, e := range events {
		var c bytes.Buffer
		if err := json.Compact(&c, e); err != nil || !bytes.Equal(c.Bytes(), e) {
			// A receipt re-encodes events compactly; only compact events
			// survive that byte for byte.
			return nil, fmt.Errorf("fabric receipt: transaction %s: event %d is not compact JSON", txID, i)
		}
	}
	headerHash := sha256.Sum256(fabricHeaderBytes(h.Number, h.PreviousHash, h.DataHash))
	version := 0 // version 1: no version field
	if b.bft {
		if len(b.consenters) == 0 {
			return nil, fmt.Errorf("fabric receipt: block %d is signed by BFT consenters; their identities (config block %d) are needed", h.Number, b.lastConfig)
		}
		version = FabricFormatVersion
	}
	return &Receipt{
		Kind:        KindFabric,
		TxID:        txID,
		BlockNumber: h.Number,
		Events:      events,
		Fabric: &Fabric{
			Version:        version,
			Channel:        channel,
			Chaincode:      tx.action.GetChaincodeId().GetName(),
			BlockHash:      hex.EncodeToString(headerHash[:]),
			PrevHash:       hex.EncodeToString(h.PreviousHash),
			DataHash:       hex.EncodeToString(h.DataHash),
			TxIndex:        index,
			ValidationCode: code.String(),
			Signatures:     b.sigs,
			Consenters:     b.consenters,
			Data:           data,
			encoded:        b.encoded,
		},
	}, nil
}

// fabricTx is an endorser transaction unpacked from its envelope, keeping the
// bytes that are hashed or signed as they were.
type fabricTx struct {
	env          *common.Envelope
	payload      *common.Payload
	chdr         *common.ChannelHeader
	shdr         *common.SignatureHeader
	actionHeader []byte
	cap          *peer.ChaincodeActionPayload
	prp          *peer.ProposalResponsePayload
	action       *peer.ChaincodeAction
	event        *peer.ChaincodeEvent // nil when the transaction set none
	function     string               // args[0] of the invocation, if readable
	request      []byte               // args[1]: the contract request, if any
}

func unmarshal(what string, b []byte, m proto.Message) error {
	if err := proto.Unmarshal(b, m); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// envelopeTxID returns the transaction ID of a data entry, if it has one.
func envelopeTxID(raw []byte) (string, bool) {
	var env common.Envelope
	var p common.Payload
	var ch common.ChannelHeader
	if proto.Unmarshal(raw, &env) != nil || proto.Unmarshal(env.Payload, &p) != nil || p.Header == nil ||
		proto.Unmarshal(p.Header.ChannelHeader, &ch) != nil {
		return "", false
	}
	return ch.TxId, true
}

// parseFabricTx unpacks Envelope → Payload → Transaction → its one action →
// ChaincodeActionPayload → ProposalResponsePayload → ChaincodeAction →
// ChaincodeEvent.
func parseFabricTx(raw []byte) (*fabricTx, error) {
	tx := &fabricTx{env: &common.Envelope{}, payload: &common.Payload{}, chdr: &common.ChannelHeader{},
		shdr: &common.SignatureHeader{}, cap: &peer.ChaincodeActionPayload{}, prp: &peer.ProposalResponsePayload{},
		action: &peer.ChaincodeAction{}}
	if err := unmarshal("envelope", raw, tx.env); err != nil {
		return nil, err
	}
	if err := unmarshal("payload", tx.env.Payload, tx.payload); err != nil {
		return nil, err
	}
	if tx.payload.Header == nil {
		return nil, errors.New("payload has no header")
	}
	if err := unmarshal("channel header", tx.payload.Header.ChannelHeader, tx.chdr); err != nil {
		return nil, err
	}
	if common.HeaderType(tx.chdr.Type) != common.HeaderType_ENDORSER_TRANSACTION {
		return nil, fmt.Errorf("transaction type is %s, not ENDORSER_TRANSACTION", common.HeaderType(tx.chdr.Type))
	}
	if err := unmarshal("signature header", tx.payload.Header.SignatureHeader, tx.shdr); err != nil {
		return nil, err
	}
	var t peer.Transaction
	if err := unmarshal("transaction", tx.payload.Data, &t); err != nil {
		return nil, err
	}
	if len(t.Actions) != 1 || t.Actions[0] == nil {
		return nil, fmt.Errorf("transaction has %d actions, want 1", len(t.Actions))
	}
	tx.actionHeader = t.Actions[0].Header
	if err := unmarshal("chaincode action payload", t.Actions[0].Payload, tx.cap); err != nil {
		return nil, err
	}
	if tx.cap.Action == nil {
		return nil, errors.New("chaincode action payload has no endorsed action")
	}
	if err := unmarshal("proposal response payload", tx.cap.Action.ProposalResponsePayload, tx.prp); err != nil {
		return nil, err
	}
	if err := unmarshal("chaincode action", tx.prp.Extension, tx.action); err != nil {
		return nil, err
	}
	if len(tx.action.Events) > 0 {
		tx.event = &peer.ChaincodeEvent{}
		if err := unmarshal("chaincode event", tx.action.Events, tx.event); err != nil {
			return nil, err
		}
	}
	var cpp peer.ChaincodeProposalPayload
	var cis peer.ChaincodeInvocationSpec
	if proto.Unmarshal(tx.cap.ChaincodeProposalPayload, &cpp) == nil && proto.Unmarshal(cpp.Input, &cis) == nil {
		if args := cis.GetChaincodeSpec().GetInput().GetArgs(); len(args) > 0 {
			tx.function = string(args[0])
		}
		if args := cis.GetChaincodeSpec().GetInput().GetArgs(); len(args) > 1 {
			tx.request = args[1]
		}
	}
	return tx, nil
}

// splitWriteEvent returns the events of a tokentrail chaincode event payload
// (a contract.WriteEvent), each exactly as it appears in the payload.
func splitWriteEvent(payload []byte) ([]json.RawMessage, error) {
	var w struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := decodeStrict(payload, &w); err != nil {
		return nil, fmt.Errorf("event payload is not a write event: %w", err)
	}
	if w.Events == nil {
		return nil, errors.New("event payload has no events")
	}
	return w.Events, nil
}

// encodedData is the JSON of a block's data entries, encoded once for the
// receipts of all the block's transactions: a Fabric receipt carries its
// whole block, tens of kilobytes, and a dozen writes of a block are
// answered together.
type encodedData struct {
	data [][]byte
	once sync.Once
	json []byte
	err  error
}

// of reports whether data is the very slice this encoding was made of (not
// a copy someone may have changed).
func (e *encodedData) of(data [][]byte) bool {
	return len(data) == len(e.data) && len(data) > 0 && &data[0] == &e.data[0]
}

func (e *encodedData) get() ([]byte, error) {
	e.once.Do(func() { e.json, e.err = json.Marshal(e.data) })
	return e.json, e.err
}

// splicedTail is how a receipt's canonical JSON ends when its Fabric
// evidence is encoded without its data entries: Data is the last field of
// Fabric, and Fabric the last of Receipt.
const splicedTail = `"data":null}}`

// marshalSpliced is [Receipt.MarshalParts] for a receipt built from a
// [FabricBlock]: the evidence is encoded without its data entries, whose
// encoding the block keeps, and they are put in its place. Joined, the parts
// are the bytes of [Receipt.marshalAll] (a test compares them).
func (r *Receipt) marshalSpliced() ([][]byte, error) {
	data, err := r.Fabric.encoded.get()
	if err != nil {
		return nil, err
	}
	f := *r.Fabric
	f.Data = nil
	rest := *r
	rest.Fabric = &f
	head, err := rest.marshalAll()
	if err != nil {
		return nil, err
	}
	if !bytes.HasSuffix(head, []byte(splicedTail)) {
		return nil, fmt.Errorf("fabric receipt: encoded evidence does not end with its data entries")
	}
	head = append(head[:len(head)-len(splicedTail)], `"data":`...)
	return [][]byte{head, data, []byte("}}")}, nil
}
