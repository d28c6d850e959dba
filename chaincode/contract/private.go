package contract

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
)

// Private values are commitments. Every value the contract keeps in
// [TermsCollection] carries a 256-bit salt that the submitting app drew at
// random and passed in the transient map (the contract itself never draws
// randomness). Ledgers publish only hashes of private values (Fabric's
// hashed private write set, the embedded ledger's write-set hash); with the
// salt inside the value, no one without the salt can confirm a guess of the
// value by hashing candidates. See docs/data-model.md, "Private values".

// FormatVersion is the version of the data the contract writes. Version 1
// kept private values without a salt; version 2 keeps a salt in every
// private value; version 3 keeps a transaction's trades in one public and
// one private chunk document and no per-batch trade index (chunks.go).
// Bootstrap records the version under meta/format; a ledger without that
// key was bootstrapped by version 1, and its unsalted values are still read
// as version-1 values. A ledger keeps the layout of its version: the
// contract writes a key per trade on a ledger of version 1 or 2.
const FormatVersion = 3

// formatVersionV1 is the version of a ledger that records none.
const formatVersionV1 = 1

// kFormat holds the data format version the ledger was bootstrapped with.
const kFormat = "meta/format"

// SaltSize is the size in bytes of the salt of one trade's private values.
const SaltSize = 32

// termsRecord is a trade's terms as [TermsCollection] holds them: the terms
// and the salt that makes their hash a commitment. Salt is lowercase hex;
// it is empty in a record written by format version 1.
type termsRecord struct {
	Salt string `json:"salt,omitempty"`
	Terms
}

// encodeTermsRecord returns the stored form of terms with salt.
func encodeTermsRecord(terms *Terms, salt []byte) ([]byte, error) {
	return json.Marshal(termsRecord{Salt: hex.EncodeToString(salt), Terms: *terms})
}

// decodeTermsRecord reads a stored terms record of either format version.
func decodeTermsRecord(key string, b []byte) (*termsRecord, error) {
	var r termsRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode private %s: %w", key, err)
	}
	if r.Salt != "" {
		if s, err := hex.DecodeString(r.Salt); err != nil || len(s) != SaltSize {
			return nil, fmt.Errorf("decode private %s: malformed salt", key)
		}
	}
	return &r, nil
}

// priceSalt derives the salt of a trade's price point from the trade's salt,
// so that the price point and the terms record carry unrelated salts: one
// cannot be linked to the other by its salt.
func priceSalt(salt []byte) string {
	h := sha256.New()
	h.Write([]byte("tokentrail price point salt\x00"))
	h.Write(salt)
	return hex.EncodeToString(h.Sum(nil))
}

// transientSalts returns the salts of n trades from the transient map:
// [SaltSize] bytes per trade, in the order of the trades.
func transientSalts(t *txn, n int) ([][]byte, error) {
	tm, err := t.st.Transient()
	if err != nil {
		return nil, err
	}
	raw := tm[TransientSalts]
	if raw == nil {
		return nil, invalid("salts", "a %d-byte random salt per trade is required (the app draws it and passes it in the transient map under %q)", SaltSize, TransientSalts)
	}
	if len(raw) != n*SaltSize {
		return nil, invalid("salts", "must be %d random bytes per trade, %d bytes for %d trade(s), not %d", SaltSize, n*SaltSize, n, len(raw))
	}
	out := make([][]byte, n)
	zero := make([]byte, SaltSize)
	for i := range out {
		out[i] = raw[i*SaltSize : (i+1)*SaltSize]
		if bytes.Equal(out[i], zero) {
			return nil, invalid("salts", "salt %d is all zeros: draw each salt from a cryptographic random source", i)
		}
	}
	return out, nil
}

// checkFormat refuses to touch private values of a ledger whose data format
// is newer than this contract's, which it could misread. A ledger that
// records no format was bootstrapped by version 1; its values are read as
// such. The answer is kept for the rest of the transaction.
func (t *txn) checkFormat() error {
	if t.format != 0 {
		return nil
	}
	b, err := t.get(kFormat)
	if err != nil {
		return err
	}
	v := formatVersionV1
	if b != nil {
		if v, err = strconv.Atoi(string(b)); err != nil || v < 1 {
			return fmt.Errorf("ledger data format %q is malformed", b)
		}
	}
	if v > FormatVersion {
		return fmt.Errorf("the ledger's data format is version %d, newer than this contract's version %d: upgrade the contract", v, FormatVersion)
	}
	t.format = v
	return nil
}

// readTerms returns the stored terms of a trade, or nil when there are none
// (never recorded, purged, or not held by the caller's node).
func (t *txn) readTerms(key string) (*termsRecord, error) {
	if err := t.checkFormat(); err != nil {
		return nil, err
	}
	stored, inTx := t.private[key]
	if !inTx {
		var err error
		if stored, err = t.st.GetPrivate(TermsCollection, key); err != nil {
			return nil, err
		}
	}
	if stored == nil {
		return nil, nil
	}
	return decodeTermsRecord(key, stored)
}
