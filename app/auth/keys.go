// Package auth holds tokentrail's API identities: API keys that map a
// bearer token to one organisation (MSP ID), the key store that keeps them
// hashed in the data directory, the YAML configuration of organisations, and
// the development consortium created on a first start without configuration.
//
// A key is 32 random bytes, shown once as "tt_" + base64url. Only its SHA-256
// digest is stored; a presented key is hashed and compared in constant time.
// Nothing in this package logs a key.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// KeyPrefix starts every API key, so a leaked key is easy to recognise (and
// to scan for) in logs, shells and repositories.
const KeyPrefix = "tt_"

// keyBytes is the entropy of a key: 256 bits.
const keyBytes = 32

// Errors callers test with errors.Is.
var (
	// ErrUnknownKey: the presented key is malformed, unknown or revoked.
	ErrUnknownKey = errors.New("unknown or revoked API key")
	// ErrKeyNotFound: no stored key has the given ID.
	ErrKeyNotFound = errors.New("no key with that ID")
)

// Identity is who a request acts as: one organisation.
type Identity struct {
	MSPID string
	// KeyID names the key used (never the key itself); it is safe to log.
	KeyID string
}

// NewKey returns a fresh random API key. The caller shows it once and stores
// only [HashKey] of it.
func NewKey() (string, error) {
	b := make([]byte, keyBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate key: %w", err)
	}
	return KeyPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

var keyPattern = regexp.MustCompile(`^tt_[A-Za-z0-9_-]{43}$`)

// WellFormed reports whether s has the shape of a key made by [NewKey].
func WellFormed(s string) bool { return keyPattern.MatchString(s) }

// HashKey returns the stored form of a key: "sha256:" and 64 hex digits.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}

var hashPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// ValidHash reports whether h is a hash in the form [HashKey] writes.
func ValidHash(h string) bool { return hashPattern.MatchString(h) }

// KeyID derives a key's public identifier from its hash: "k_" and the first
// 12 hex digits. It names the key in listings, logs and revocation.
func KeyID(hash string) string {
	return "k_" + strings.TrimPrefix(hash, "sha256:")[:12]
}

var mspPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$`)

// ValidMSPID reports whether s is a plausible MSP ID.
func ValidMSPID(s string) bool { return mspPattern.MatchString(s) }

// Key is one stored key: its hash and what it grants, never the key itself.
type Key struct {
	ID      string    `json:"id"`
	Hash    string    `json:"hash"`
	MSPID   string    `json:"mspId"`
	Label   string    `json:"label,omitempty"`
	Created time.Time `json:"created"`
	Revoked time.Time `json:"revoked,omitzero"`
	// Source says where the key comes from: "store" (keys.json) or "config".
	Source string `json:"-"`
}

// Active reports whether the key is not revoked.
func (k Key) Active() bool { return k.Revoked.IsZero() }

// keySet indexes keys by hash.
type keySet map[string]Key

// lookup finds the active key matching the presented key. The map lookup is
// on the digest of the presented key, which an attacker cannot steer towards a
// stored digest; the final comparison is constant-time all the same.
func (s keySet) lookup(presented string) (Identity, error) {
	if !WellFormed(presented) {
		return Identity{}, ErrUnknownKey
	}
	h := HashKey(presented)
	k, ok := s[h]
	if !ok || subtle.ConstantTimeCompare([]byte(k.Hash), []byte(h)) != 1 || !k.Active() {
		return Identity{}, ErrUnknownKey
	}
	return Identity{MSPID: k.MSPID, KeyID: k.ID}, nil
}
