package receipt

// Receipts of transactions committed on Hyperledger Fabric. The evidence is
// what a peer holds about the block: the data entries (every transaction
// envelope, endorsements included), the header fields, the orderers'
// signatures and the peer's validation code of the transaction. The verifier
// recomputes every hash from those bytes, checks every signature against the
// channel organisations' root certificates and re-checks the endorsements
// itself; docs/design/0010-fabric-receipts.md explains the choices and what
// the evidence cannot prove.

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
	// Version is the format of the evidence: absent for version 1, which
	// has no consenters and verifies blocks signed with the signers'
	// certificates (Raft); [FabricFormatVersion] when the block's
	// signatures name BFT consenters by number and Consenters says who they
	// are. A verifier refuses a version newer than the one it knows.
	Version int `json:"version,omitempty"`
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
	// Consenters are the BFT consenters that signed the block, as the
	// channel configuration in force for it (the config block its signed
	// metadata names) maps their numbers to identities; ordered by ID, each
	// once, each one a signer. Empty for version 1.
	Consenters []FabricConsenter `json:"consenters,omitempty"`
	// Data are the block's data entries, in order: serialized
	// common.Envelopes. All of them are needed, because the data hash is
	// over their concatenation.
	Data [][]byte `json:"data"`
	// encoded, when set, is the block's encoding of Data, shared by the
	// receipts built from one [FabricBlock].
	encoded *encodedData
}

// FabricFormatVersion is the newest format of Fabric evidence this package
// writes and reads. Version 1 (no version field) is every receipt written
// before BFT ordering; version 2 adds Consenters.
const FabricFormatVersion = 2

// FabricConsenter is one consenter of a BFT ordering service: its number
// in the channel's consenter mapping, its organisation and its identity
// certificate (PEM), which the verifier checks against the trust anchor.
type FabricConsenter struct {
	ID       uint32 `json:"id"`
	MSPID    string `json:"mspId"`
	Identity []byte `json:"identity"`
}

// FabricOptions tune the verification of a Fabric receipt.
type FabricOptions struct {
	// MinEndorsingOrgs is how many distinct organisations must have endorsed
	// the transaction; zero means [DefaultMinEndorsingOrgs].
	MinEndorsingOrgs int
	// Chaincode, when set, is the only chaincode name accepted.
	Chaincode string
}
