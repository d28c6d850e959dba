package receipt

// Receipts of transactions committed on Hyperledger Fabric. The evidence is
// what a peer holds about the block: the data entries (every transaction
// envelope, endorsements included), the header fields, the orderers'
// signatures and the peer's validation code of the transaction. The verifier
// recomputes every hash from those bytes, checks every signature against the
// channel organisations' root certificates and re-checks the endorsements
// itself; docs/design/0010-fabric-receipts.md explains the choices and what
// the evidence cannot prove.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// Checks that only Fabric receipts have, besides the shared ones.
const (
	// CheckDataHash: the block's data entries hash to the data hash the
	// receipt states, which is the one in the signed header.
	CheckDataHash Check = "data-hash"
	// CheckCreator: the transaction envelope carries a valid signature by
	// its creator, a client or admin of an organisation in the trust anchor,
	// and the transaction ID is derived from that creator.
	CheckCreator Check = "creator"
	// CheckEndorsement: every endorsement is a valid signature by a peer of
	// an organisation in the trust anchor over the transaction's result, the
	// result answers this transaction's proposal, and enough distinct
	// organisations endorsed it.
	CheckEndorsement Check = "endorsement"
	// CheckValidation: the committing peer marked the transaction valid.
	CheckValidation Check = "validation-code"
)

// DefaultMinEndorsingOrgs is how many distinct organisations must have
// endorsed a transaction unless [FabricOptions] say otherwise: the channel's
// endorsement policy asks for two.
const DefaultMinEndorsingOrgs = 2

// ValidationCodeValid is the name of the validation code a receipt requires
// (peer.TxValidationCode_VALID).
const ValidationCodeValid = "VALID"

// Fabric is the evidence of a Fabric receipt. The block header is not carried
// as such: the verifier rebuilds it from the receipt's block number,
// PrevHash and the data hash it recomputes from Data, so that no byte of the
// receipt is left that no signature or hash covers. For the same reason the
// block metadata is reduced to what the orderers signed (Signatures) and this
// transaction's validation code.
type Fabric struct {
	// Channel is the channel the transaction was submitted to.
	Channel string `json:"channel"`
	// Chaincode is the name of the chaincode that endorsed the transaction
	// and set its event.
	Chaincode string `json:"chaincode"`
	// BlockHash is the lowercase hex SHA-256 of the block header's ASN.1
	// encoding: Fabric's block hash, the previous hash of the next block.
	BlockHash string `json:"blockHash"`
	// PrevHash is the lowercase hex hash of the previous block's header.
	PrevHash string `json:"prevHash"`
	// DataHash is the lowercase hex SHA-256 of the concatenated data entries.
	DataHash string `json:"dataHash"`
	// TxIndex is the position of the transaction's envelope in Data.
	TxIndex int `json:"txIndex"`
	// ValidationCode is the committing peer's validation code of the
	// transaction (a peer.TxValidationCode name); only "VALID" verifies.
	// Nothing signs it: see the design note.
	ValidationCode string `json:"validationCode"`
	// Signatures is the block's SIGNATURES metadata entry as the orderers
	// wrote it: a serialized common.Metadata.
	Signatures []byte `json:"signatures"`
	// Data are the block's data entries, in order: serialized
	// common.Envelopes. All of them are needed, because the data hash is
	// over their concatenation.
	Data [][]byte `json:"data"`
}

// FabricOptions tune the verification of a Fabric receipt.
type FabricOptions struct {
	// MinEndorsingOrgs is how many distinct organisations must have endorsed
	// the transaction; zero means [DefaultMinEndorsingOrgs].
	MinEndorsingOrgs int
	// Chaincode, when set, is the only chaincode name accepted.
	Chaincode string
}

// ErrNoTrustedRoots means a Fabric trust anchor holds no root certificate.
var ErrNoTrustedRoots = errors.New("no root certificate in the Fabric trust anchor")

// anchorMSPHeader is the PEM header that labels each root certificate of a
// Fabric trust anchor with the MSP ID of its organisation.
const anchorMSPHeader = "MSP-ID"

// FabricTrustAnchor returns the trust anchor of a Fabric network in its
// canonical form, from each organisation's root certificates (MSP ID to the
// PEM files of its msp/cacerts directory; a file may hold several
// certificates). The anchor is PEM text: one CERTIFICATE block per root, with
// a header "MSP-ID: <id>", ordered by MSP ID and then by certificate bytes,
// each certificate once per organisation. It fails on input that is not PEM
// certificates, on an empty MSP ID and when there is no certificate at all.
func FabricTrustAnchor(roots map[string][][]byte) ([]byte, error) {
	ids := make([]string, 0, len(roots))
	for id := range roots {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out bytes.Buffer
	for _, id := range ids {
		if id == "" {
			return nil, errors.New("fabric trust anchor: empty MSP ID")
		}
		var ders [][]byte
		for i, file := range roots[id] {
			n := 0
			rest := bytes.TrimSpace(file)
			for len(rest) > 0 {
				var b *pem.Block
				b, rest = pem.Decode(rest)
				if b == nil {
					return nil, fmt.Errorf("fabric trust anchor: %s file %d: not PEM", id, i)
				}
				if b.Type != "CERTIFICATE" {
					return nil, fmt.Errorf("fabric trust anchor: %s file %d: a %q block, want CERTIFICATE", id, i, b.Type)
				}
				if _, err := parseRoot(b.Bytes); err != nil {
					return nil, fmt.Errorf("fabric trust anchor: %s file %d: %w", id, i, err)
				}
				ders = append(ders, b.Bytes)
				n++
				rest = bytes.TrimSpace(rest)
			}
			if n == 0 {
				return nil, fmt.Errorf("fabric trust anchor: %s file %d holds no certificate", id, i)
			}
		}
		slices.SortFunc(ders, bytes.Compare)
		ders = slices.CompactFunc(ders, bytes.Equal)
		for _, der := range ders {
			if err := pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Headers: map[string]string{anchorMSPHeader: id}, Bytes: der}); err != nil {
				return nil, err
			}
		}
	}
	if out.Len() == 0 {
		return nil, ErrNoTrustedRoots
	}
	return out.Bytes(), nil
}

// ParseFabricTrustAnchor reads a Fabric trust anchor (see
// [FabricTrustAnchor]) into each MSP ID's root certificates. Text around
// the PEM blocks is ignored; a block that is not a CA certificate labelled
// with an MSP ID, and only that header, is an error.
func ParseFabricTrustAnchor(anchorPEM []byte) (map[string][]*x509.Certificate, error) {
	roots := map[string][]*x509.Certificate{}
	rest := anchorPEM
	for n := 0; ; n++ {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("block %d is a %q block; a Fabric trust anchor holds only certificates", n, b.Type)
		}
		id := b.Headers[anchorMSPHeader]
		if id == "" || len(b.Headers) != 1 {
			return nil, fmt.Errorf("certificate %d must have exactly one header, %s", n, anchorMSPHeader)
		}
		c, err := parseRoot(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d (%s): %w", n, id, err)
		}
		roots[id] = append(roots[id], c)
	}
	if len(roots) == 0 {
		return nil, ErrNoTrustedRoots
	}
	return roots, nil
}

func parseRoot(der []byte) (*x509.Certificate, error) {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if !c.IsCA {
		return nil, errors.New("not a CA certificate")
	}
	return c, nil
}

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
	return &FabricBlock{header: h, data: data, flags: flags, sigs: md[common.BlockMetadataIndex_SIGNATURES], txIDs: ids}, nil
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
	return &Receipt{
		Kind:        KindFabric,
		TxID:        txID,
		BlockNumber: h.Number,
		Events:      events,
		Fabric: &Fabric{
			Channel:        channel,
			Chaincode:      tx.action.GetChaincodeId().GetName(),
			BlockHash:      hex.EncodeToString(headerHash[:]),
			PrevHash:       hex.EncodeToString(h.PreviousHash),
			DataHash:       hex.EncodeToString(h.DataHash),
			TxIndex:        index,
			ValidationCode: code.String(),
			Signatures:     b.sigs,
			Data:           data,
		},
	}, nil
}

// VerifyFabric verifies a Fabric receipt like [Verify], with options.
func VerifyFabric(receiptJSON, trustAnchorPEM []byte, opts FabricOptions) (*Proof, error) {
	r, err := decodeCanonical(receiptJSON)
	if err != nil {
		return nil, err
	}
	if r.Kind != KindFabric {
		return nil, fail(CheckFormat, nil, "receipt kind is %q, not %q", r.Kind, KindFabric)
	}
	return verifyFabricWith(r, trustAnchorPEM, opts)
}

func verifyFabric(r *Receipt, trustAnchorPEM []byte) (*Proof, error) {
	return verifyFabricWith(r, trustAnchorPEM, FabricOptions{})
}

func verifyFabricWith(r *Receipt, anchorPEM []byte, opts FabricOptions) (*Proof, error) {
	ev := r.Fabric
	if ev == nil {
		return nil, fail(CheckFormat, nil, `kind %q receipt has no "fabric" evidence`, r.Kind)
	}
	minOrgs := opts.MinEndorsingOrgs
	if minOrgs <= 0 {
		minOrgs = DefaultMinEndorsingOrgs
	}
	roots, err := ParseFabricTrustAnchor(anchorPEM)
	if err != nil {
		return nil, fail(CheckTrustAnchor, err, "cannot use the trust anchor")
	}
	anchor := newFabricAnchor(roots)

	if len(ev.Data) == 0 || ev.TxIndex < 0 || ev.TxIndex >= len(ev.Data) {
		return nil, fail(CheckFormat, nil, "transaction index %d is not one of the block's %d data entries", ev.TxIndex, len(ev.Data))
	}

	// The data, the header and the orderers' signatures over the header.
	dataHash, err := parseHexHash(ev.DataHash)
	if err != nil {
		return nil, fail(CheckDataHash, err, "data hash is malformed")
	}
	if got := fabricDataHash(ev.Data); got != dataHash {
		return nil, fail(CheckDataHash, nil, "the block's %d data entries hash to %s, the receipt says %s",
			len(ev.Data), HexHash(got), ev.DataHash)
	}
	prevHash, err := parseHexHash(ev.PrevHash)
	if err != nil {
		return nil, fail(CheckHeader, err, "previous block hash is malformed")
	}
	blockHash, err := parseHexHash(ev.BlockHash)
	if err != nil {
		return nil, fail(CheckHeader, err, "block hash is malformed")
	}
	header := fabricHeaderBytes(r.BlockNumber, prevHash[:], dataHash[:])
	if got := sha256.Sum256(header); got != blockHash {
		return nil, fail(CheckHeader, nil, "the header of block %d hashes to %s, the receipt says %s",
			r.BlockNumber, HexHash(got), ev.BlockHash)
	}
	signer, err := verifyOrdererSignatures(anchor, ev.Signatures, header)
	if err != nil {
		return nil, err
	}

	// The transaction, as the signed block holds it.
	tx, err := parseFabricTx(ev.Data[ev.TxIndex])
	if err != nil {
		return nil, fail(CheckFormat, err, "data entry %d is not an endorser transaction", ev.TxIndex)
	}
	switch {
	case tx.chdr.TxId != r.TxID:
		return nil, fail(CheckBinding, nil, "receipt is for transaction %q, data entry %d is transaction %q", r.TxID, ev.TxIndex, tx.chdr.TxId)
	case tx.chdr.ChannelId != ev.Channel:
		return nil, fail(CheckBinding, nil, "receipt names channel %q, the transaction is of channel %q", ev.Channel, tx.chdr.ChannelId)
	case tx.action.GetChaincodeId().GetName() != ev.Chaincode:
		return nil, fail(CheckBinding, nil, "receipt names chaincode %q, the transaction was endorsed for %q", ev.Chaincode, tx.action.GetChaincodeId().GetName())
	case opts.Chaincode != "" && ev.Chaincode != opts.Chaincode:
		return nil, fail(CheckBinding, nil, "transaction is of chaincode %q, only %q is accepted", ev.Chaincode, opts.Chaincode)
	}

	// The creator signed the envelope, and the transaction ID is theirs.
	creator, err := anchor.identity(tx.shdr.Creator, "creator", CheckCreator, roleClient, roleAdmin)
	if err != nil {
		return nil, err
	}
	if err := verifyFabricSignature(creator.key, tx.env.Payload, tx.env.Signature); err != nil {
		return nil, fail(CheckCreator, err, "envelope signature by %s", creator.msp)
	}
	if want := fabricTxID(tx.shdr.Nonce, tx.shdr.Creator); tx.chdr.TxId != want {
		return nil, fail(CheckCreator, nil, "transaction ID %q is not derived from its creator and nonce (want %q)", tx.chdr.TxId, want)
	}

	// The endorsements: re-checked here, since nothing signs the peer's
	// verdict (see CheckValidation).
	endorsers, err := verifyEndorsements(anchor, tx, minOrgs)
	if err != nil {
		return nil, err
	}

	if ev.ValidationCode != ValidationCodeValid {
		return nil, fail(CheckValidation, nil, "the committing peer marked the transaction %q, not %q", ev.ValidationCode, ValidationCodeValid)
	}

	// The events are those of the tokentrail chaincode event, byte for byte.
	ce := tx.event
	switch {
	case ce == nil:
		return nil, fail(CheckEventDigest, nil, "the transaction set no chaincode event")
	case ce.EventName != contract.EventName:
		return nil, fail(CheckEventDigest, nil, "the transaction's chaincode event is %q, not %q", ce.EventName, contract.EventName)
	case ce.ChaincodeId != ev.Chaincode || ce.TxId != r.TxID:
		return nil, fail(CheckBinding, nil, "the chaincode event names chaincode %q and transaction %q", ce.ChaincodeId, ce.TxId)
	}
	committed, err := splitWriteEvent(ce.Payload)
	if err != nil {
		return nil, fail(CheckEventDigest, err, "the chaincode event payload is malformed")
	}
	if len(r.Events) != len(committed) {
		return nil, fail(CheckEventDigest, nil, "receipt carries %d events, the transaction recorded %d", len(r.Events), len(committed))
	}
	proved := make([]ProvedEvent, len(r.Events))
	for i, raw := range r.Events {
		if !bytes.Equal(raw, committed[i]) {
			return nil, fail(CheckEventDigest, nil, "event %d hashes to %s, the transaction recorded %s",
				i, Digest(raw), Digest(committed[i]))
		}
		var e struct {
			EventID  string   `json:"eventId"`
			Type     string   `json:"type"`
			BatchIDs []string `json:"batchIds"`
			TxID     string   `json:"txId"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, fail(CheckFormat, err, "event %d is not an event", i)
		}
		if e.TxID != r.TxID {
			return nil, fail(CheckBinding, nil, "event %d names transaction %q, the receipt is for %q", i, e.TxID, r.TxID)
		}
		proved[i] = ProvedEvent{EventID: e.EventID, Type: e.Type, BatchIDs: e.BatchIDs, Digest: Digest(raw)}
	}

	ts := tx.chdr.GetTimestamp().AsTime().UTC().Format(time.RFC3339Nano)
	return &Proof{
		Kind:        r.Kind,
		TxID:        r.TxID,
		BlockNumber: r.BlockNumber,
		BlockHash:   ev.BlockHash,
		// Fabric blocks carry no time of their own: the transaction's
		// timestamp, which its creator and endorsers signed, stands for it.
		BlockTime: ts,
		PrevHash:  ev.PrevHash,
		Timestamp: ts,
		Creator:   creator.msp,
		Function:  tx.function,
		Events:    proved,
		Signer:    signer,
		Endorsers: endorsers,
	}, nil
}

// fabricDataHash is Fabric's block data hash: SHA-256 over the concatenated
// data entries (protoutil.BlockDataHash).
func fabricDataHash(data [][]byte) Hash {
	h := sha256.New()
	for _, d := range data {
		h.Write(d)
	}
	var out Hash
	h.Sum(out[:0])
	return out
}

// fabricHeaderBytes is the encoding of a block header that orderers sign and
// whose SHA-256 is the block hash (protoutil.BlockHeaderBytes): the DER of
// SEQUENCE { number INTEGER, previousHash OCTET STRING, dataHash OCTET STRING }.
func fabricHeaderBytes(number uint64, prevHash, dataHash []byte) []byte {
	b, err := asn1.Marshal(struct {
		Number       *big.Int
		PreviousHash []byte
		DataHash     []byte
	}{new(big.Int).SetUint64(number), prevHash, dataHash})
	if err != nil {
		panic(fmt.Sprintf("receipt: encoding a block header: %v", err)) // cannot fail for these types
	}
	return b
}

// fabricTxID is how Fabric derives a transaction ID (protoutil.ComputeTxID).
func fabricTxID(nonce, creator []byte) string {
	h := sha256.New()
	h.Write(nonce)
	h.Write(creator)
	return hex.EncodeToString(h.Sum(nil))
}

// verifyOrdererSignatures checks the SIGNATURES metadata entry: every
// signature must be a valid one by an orderer of an organisation in the
// anchor over (metadata value || signature header || header), and there must
// be at least one. It returns the fingerprint of the first signer's key.
func verifyOrdererSignatures(anchor *fabricAnchor, raw, header []byte) (string, error) {
	var md common.Metadata
	if err := proto.Unmarshal(raw, &md); err != nil {
		return "", fail(CheckSignature, err, "orderer signatures are malformed")
	}
	// Only the value, the signature headers and the signatures are signed
	// or verified; the framing around them must be the one encoding an
	// orderer writes, so that no byte can be added or changed beside them.
	if len(md.ProtoReflect().GetUnknown()) != 0 {
		return "", fail(CheckSignature, nil, "orderer signatures hold unknown fields")
	}
	if again, err := proto.Marshal(&md); err != nil || !bytes.Equal(again, raw) {
		return "", fail(CheckSignature, err, "orderer signatures are not in canonical protobuf encoding")
	}
	if len(md.Signatures) == 0 {
		return "", fail(CheckSignature, nil, "the block carries no orderer signature")
	}
	var signer string
	signers := map[string]bool{}
	for i, s := range md.Signatures {
		what := fmt.Sprintf("orderer signature %d", i)
		if len(s.ProtoReflect().GetUnknown()) != 0 || len(s.IdentifierHeader) != 0 {
			// IdentifierHeader names a BFT consenter by number, which only
			// the channel configuration resolves: not supported offline.
			return "", fail(CheckSignature, nil, "%s: unsupported fields", what)
		}
		var shdr common.SignatureHeader
		if err := proto.Unmarshal(s.SignatureHeader, &shdr); err != nil {
			return "", fail(CheckSignature, err, "%s: signature header is malformed", what)
		}
		if signers[string(shdr.Creator)] {
			return "", fail(CheckSignature, nil, "%s: a second signature by the same orderer", what)
		}
		signers[string(shdr.Creator)] = true
		id, err := anchor.identity(shdr.Creator, what, CheckSignature, roleOrderer)
		if err != nil {
			return "", err
		}
		msg := make([]byte, 0, len(md.Value)+len(s.SignatureHeader)+len(header))
		msg = append(append(append(msg, md.Value...), s.SignatureHeader...), header...)
		if err := verifyFabricSignature(id.key, msg, s.Signature); err != nil {
			return "", fail(CheckSignature, err, "%s by %s over block header", what, id.msp)
		}
		if signer == "" {
			if signer, err = KeyFingerprint(id.key); err != nil {
				return "", fail(CheckSignature, err, "%s: key fingerprint", what)
			}
		}
	}
	return signer, nil
}

// verifyEndorsements checks the transaction's endorsements as a committing
// peer's validation would, and returns the sorted MSP IDs that endorsed.
func verifyEndorsements(anchor *fabricAnchor, tx *fabricTx, minOrgs int) ([]string, error) {
	if !bytes.Equal(tx.actionHeader, tx.payload.Header.SignatureHeader) {
		return nil, fail(CheckEndorsement, nil, "the endorsed proposal's signature header is not the transaction's")
	}
	ph := sha256.New()
	ph.Write(tx.payload.Header.ChannelHeader)
	ph.Write(tx.actionHeader)
	ph.Write(tx.cap.ChaincodeProposalPayload)
	if !bytes.Equal(ph.Sum(nil), tx.prp.ProposalHash) {
		return nil, fail(CheckEndorsement, nil, "the endorsed result does not answer this transaction's proposal (proposal hash differs)")
	}
	if st := tx.action.GetResponse().GetStatus(); st < 200 || st >= 400 {
		return nil, fail(CheckEndorsement, nil, "the endorsed chaincode response has status %d", st)
	}
	prpBytes := tx.cap.Action.ProposalResponsePayload
	orgs := map[string]bool{}
	for i, e := range tx.cap.Action.Endorsements {
		what := fmt.Sprintf("endorsement %d", i)
		id, err := anchor.identity(e.Endorser, what, CheckEndorsement, rolePeer)
		if err != nil {
			return nil, err
		}
		msg := make([]byte, 0, len(prpBytes)+len(e.Endorser))
		msg = append(append(msg, prpBytes...), e.Endorser...)
		if err := verifyFabricSignature(id.key, msg, e.Signature); err != nil {
			return nil, fail(CheckEndorsement, err, "%s by %s", what, id.msp)
		}
		orgs[id.msp] = true
	}
	endorsers := make([]string, 0, len(orgs))
	for o := range orgs {
		endorsers = append(endorsers, o)
	}
	sort.Strings(endorsers)
	if len(endorsers) < minOrgs {
		return nil, fail(CheckEndorsement, nil, "endorsed by %d organisation(s) %v, at least %d required", len(endorsers), endorsers, minOrgs)
	}
	return endorsers, nil
}

// verifyFabricSignature checks an ECDSA signature as Fabric's MSP does:
// SHA-256 of the message, DER-encoded signature, and a low S (Fabric rejects
// the high-S twin of a valid signature, so a signature has one encoding).
func verifyFabricSignature(key *ecdsa.PublicKey, msg, sig []byte) error {
	var rs struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(sig, &rs)
	if err != nil || len(rest) != 0 {
		return errors.New("signature is not a DER ECDSA signature")
	}
	if rs.S.Sign() <= 0 || rs.S.Cmp(new(big.Int).Rsh(key.Curve.Params().N, 1)) > 0 {
		return errors.New("signature has a high S value, which Fabric rejects")
	}
	digest := sha256.Sum256(msg)
	if !ecdsa.VerifyASN1(key, digest[:], sig) {
		return errors.New("signature does not verify")
	}
	return nil
}

// Fabric node OU roles (NodeOUs), as the certificates' OU states them.
const (
	roleClient  = "client"
	roleAdmin   = "admin"
	rolePeer    = "peer"
	roleOrderer = "orderer"
)

// fabricAnchor resolves serialized identities against the trust anchor.
type fabricAnchor struct {
	pools map[string]*x509.CertPool
}

func newFabricAnchor(roots map[string][]*x509.Certificate) *fabricAnchor {
	a := &fabricAnchor{pools: map[string]*x509.CertPool{}}
	for id, certs := range roots {
		p := x509.NewCertPool()
		for _, c := range certs {
			p.AddCert(c)
		}
		a.pools[id] = p
	}
	return a
}

type fabricIdentity struct {
	msp string
	key *ecdsa.PublicKey
}

// identity parses a serialized identity (msp.SerializedIdentity with a PEM
// certificate) and checks that its certificate chains to a root of its MSP in
// the anchor and has one of the roles. A malformed identity or a wrong role
// fails check c; an untrusted one fails CheckTrustAnchor. As Fabric's MSP
// does, the chain is checked at a time within the certificate's validity
// (NotBefore + 1s): expiry does not void what was signed while it was valid,
// and an old receipt stays verifiable.
func (a *fabricAnchor) identity(serialized []byte, what string, c Check, roles ...string) (*fabricIdentity, error) {
	var sid msp.SerializedIdentity
	if err := proto.Unmarshal(serialized, &sid); err != nil {
		return nil, fail(c, err, "%s: identity is malformed", what)
	}
	b, rest := pem.Decode(sid.IdBytes)
	if b == nil || b.Type != "CERTIFICATE" || len(bytes.TrimSpace(rest)) != 0 {
		return nil, fail(c, nil, "%s: identity of %s is not one PEM certificate", what, sid.Mspid)
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fail(c, err, "%s: identity certificate of %s", what, sid.Mspid)
	}
	key, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return nil, fail(c, nil, "%s: identity of %s has a %T key; only ECDSA is supported", what, sid.Mspid, cert.PublicKey)
	}
	pool, ok := a.pools[sid.Mspid]
	if !ok {
		return nil, fail(CheckTrustAnchor, nil, "%s: organisation %q is not in the trust anchor", what, sid.Mspid)
	}
	if cert.IsCA {
		return nil, fail(c, nil, "%s: identity of %s is a CA certificate", what, sid.Mspid)
	}
	_, err = cert.Verify(x509.VerifyOptions{
		Roots:       pool,
		CurrentTime: cert.NotBefore.Add(time.Second),
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, fail(CheckTrustAnchor, err, "%s: certificate %q does not chain to a root of %s in the trust anchor",
			what, cert.Subject.CommonName, sid.Mspid)
	}
	for _, ou := range cert.Subject.OrganizationalUnit {
		if slices.Contains(roles, ou) {
			return &fabricIdentity{msp: sid.Mspid, key: key}, nil
		}
	}
	return nil, fail(c, nil, "%s: %q of %s has none of the roles %v (certificate OUs %v)",
		what, cert.Subject.CommonName, sid.Mspid, roles, cert.Subject.OrganizationalUnit)
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
