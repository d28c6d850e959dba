package receipt

// Verifying Fabric receipts offline: data hash, header, orderer signatures,
// creator, endorsements, validation code and events.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

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
	switch {
	case ev.Version > FabricFormatVersion:
		return nil, fail(CheckFormat, nil, "fabric evidence is of format version %d; this verifier reads versions 1 to %d: use a newer tokentrail",
			ev.Version, FabricFormatVersion)
	case ev.Version == 1:
		return nil, fail(CheckFormat, nil, "fabric evidence states version 1, which is written without a version field")
	case ev.Version < 0:
		return nil, fail(CheckFormat, nil, "fabric evidence version %d is not a version", ev.Version)
	case ev.Version == 0 && len(ev.Consenters) > 0:
		return nil, fail(CheckFormat, nil, "fabric evidence of format version 1 carries consenters, which only version %d has", FabricFormatVersion)
	case ev.Version == FabricFormatVersion && len(ev.Consenters) == 0:
		return nil, fail(CheckFormat, nil, "fabric evidence of format version %d carries no consenters; version 1 is written for blocks without", FabricFormatVersion)
	}
	roots, ordering, err := parseFabricAnchor(anchorPEM)
	if err != nil {
		return nil, fail(CheckTrustAnchor, err, "cannot use the trust anchor")
	}
	anchor := newFabricAnchor(roots)
	anchor.ordering = ordering

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
	signer, err := verifyOrdererSignatures(anchor, ev, header)
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
	digests := make([]committedEvent, len(committed))
	for i, raw := range committed {
		var e eventHead
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, fail(CheckEventDigest, err, "the chaincode event's event %d is not an event", i)
		}
		digests[i] = committedEvent{EventID: e.EventID, Digest: Digest(raw)}
	}
	// A Fabric receipt carries every event: its block holds them anyway.
	proved, withheld, err := proveEvents(r.TxID, r.Events, digests)
	if err != nil {
		return nil, err
	}
	if withheld != 0 {
		return nil, fail(CheckEventDigest, nil, "receipt carries %d events, the transaction recorded %d", len(r.Events), len(committed))
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
// signature must be a valid one by an orderer over (metadata value ||
// signature header or identifier header || header), each signer once, and
// there must be at least one. A signature names its signer either by
// certificate (a signature header; Raft) or by consenter number (an
// identifier header; BFT), which the receipt's consenters resolve. With an
// anchor that names its orderer organisations, every signer must be of one of
// them, and with BFT a quorum of them must have signed. It returns the
// fingerprint of the first signer's key.
func verifyOrdererSignatures(anchor *fabricAnchor, ev *Fabric, header []byte) (string, error) {
	raw := ev.Signatures
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
	consenters := map[uint32]FabricConsenter{}
	for i, c := range ev.Consenters {
		if i > 0 && c.ID <= ev.Consenters[i-1].ID {
			return "", fail(CheckFormat, nil, "consenters are not ordered by ID, each once (consenter %d after %d)", c.ID, ev.Consenters[i-1].ID)
		}
		consenters[c.ID] = c
	}
	ordering := anchor.ordering
	orderers := map[string]bool{}
	for _, id := range ordering.MSPIDs {
		orderers[id] = true
	}
	var signer string
	keys := map[string]bool{}
	used := map[uint32]bool{}
	orgs := map[string]bool{}
	for i, s := range md.Signatures {
		what := fmt.Sprintf("orderer signature %d", i)
		if len(s.ProtoReflect().GetUnknown()) != 0 {
			return "", fail(CheckSignature, nil, "%s: unknown fields", what)
		}
		var creator, signedHeader []byte
		switch {
		case len(s.SignatureHeader) > 0 && len(s.IdentifierHeader) == 0:
			var shdr common.SignatureHeader
			if err := proto.Unmarshal(s.SignatureHeader, &shdr); err != nil {
				return "", fail(CheckSignature, err, "%s: signature header is malformed", what)
			}
			creator, signedHeader = shdr.Creator, s.SignatureHeader
		case len(s.IdentifierHeader) > 0 && len(s.SignatureHeader) == 0:
			if ordering.Consensus != OrderingBFT {
				return "", fail(CheckSignature, nil,
					"%s names a BFT consenter by number, and the trust anchor names no BFT orderer organisations (no %q header on their roots)",
					what, anchorOrdererHeader+": "+OrderingBFT)
			}
			var ih common.IdentifierHeader
			if err := proto.Unmarshal(s.IdentifierHeader, &ih); err != nil {
				return "", fail(CheckSignature, err, "%s: identifier header is malformed", what)
			}
			if used[ih.Identifier] {
				return "", fail(CheckSignature, nil, "%s: a second signature by consenter %d", what, ih.Identifier)
			}
			c, ok := consenters[ih.Identifier]
			if !ok {
				return "", fail(CheckSignature, nil, "%s: consenter %d is not in the receipt's consenter mapping", what, ih.Identifier)
			}
			used[ih.Identifier] = true
			sid, err := proto.Marshal(&msp.SerializedIdentity{Mspid: c.MSPID, IdBytes: c.Identity})
			if err != nil {
				return "", fail(CheckSignature, err, "%s: consenter %d identity", what, c.ID)
			}
			what = fmt.Sprintf("%s (consenter %d)", what, c.ID)
			creator, signedHeader = sid, s.IdentifierHeader
		default:
			return "", fail(CheckSignature, nil, "%s must have exactly one of a signature header and an identifier header", what)
		}
		id, err := anchor.identity(creator, what, CheckSignature, roleOrderer)
		if err != nil {
			return "", err
		}
		if len(orderers) > 0 && !orderers[id.msp] {
			return "", fail(CheckSignature, nil, "%s is by %s, which the trust anchor does not name as an orderer organisation %v", what, id.msp, ordering.MSPIDs)
		}
		fp, err := KeyFingerprint(id.key)
		if err != nil {
			return "", fail(CheckSignature, err, "%s: key fingerprint", what)
		}
		if keys[fp] {
			return "", fail(CheckSignature, nil, "%s: a second signature by the same orderer", what)
		}
		keys[fp] = true
		msg := make([]byte, 0, len(md.Value)+len(signedHeader)+len(header))
		msg = append(append(append(msg, md.Value...), signedHeader...), header...)
		if err := verifyFabricSignature(id.key, msg, s.Signature); err != nil {
			return "", fail(CheckSignature, err, "%s by %s over block header", what, id.msp)
		}
		orgs[id.msp] = true
		if signer == "" {
			signer = fp
		}
	}
	for _, c := range ev.Consenters {
		if !used[c.ID] {
			return "", fail(CheckFormat, nil, "consenter %d signed nothing; the receipt carries only the consenters that signed", c.ID)
		}
	}
	if ordering.Consensus == OrderingBFT {
		signed := make([]string, 0, len(orgs))
		for o := range orgs {
			signed = append(signed, o)
		}
		sort.Strings(signed)
		n := len(ordering.MSPIDs)
		if q := BFTQuorum(n); len(signed) < q {
			return "", fail(CheckQuorum, nil, "signed by %d distinct orderer organisation(s) %v; a BFT quorum of the trust anchor's %d orderer organisations is %d",
				len(signed), signed, n, q)
		}
	}
	return signer, nil
}

// BFTQuorum is how many of n BFT consenters must sign a block: with f =
// (n-1)/3 faulty ones tolerated, ceil((n+f+1)/2), as Fabric's SmartBFT
// block validation policy requires (2f+1 when n = 3f+1).
func BFTQuorum(n int) int {
	f := (n - 1) / 3
	return (n + f + 2) / 2
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
