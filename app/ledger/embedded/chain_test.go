package embedded

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// chainDir makes a closed ledger of seven blocks, one transaction each.
func chainDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	l := openTest(t, Config{Dir: dir})
	setupConsortium(t, l)
	submit(t, l, orgProvider, contract.FnCollect, collectReq("b", 1), nil)
	if l.Height() != 7 {
		t.Fatalf("height %d, want 7", l.Height())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// tamper edits the closed ledger's file directly.
func tamper(t *testing.T, dir string, edit func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, DBFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(edit); err != nil {
		t.Fatal(err)
	}
}

func editBlock(n uint64, edit func(b *storedBlock)) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketBlocks)
		b, err := decodeBlock(bytes.Clone(bk.Get(blockKey(n))))
		if err != nil {
			return err
		}
		edit(b)
		return bk.Put(blockKey(n), encodeBlock(b))
	}
}

func replace(b []byte, old, new string) []byte {
	if !bytes.Contains(b, []byte(old)) {
		panic(fmt.Sprintf("%q not in %s", old, b))
	}
	return bytes.Replace(b, []byte(old), []byte(new), 1)
}

func TestBrokenChainIsRefused(t *testing.T) {
	cases := []struct {
		name  string
		full  bool
		edit  func(t *testing.T, dir string)
		block uint64
		check string
	}{
		{"transaction record changed", true, func(t *testing.T, dir string) {
			tamper(t, dir, editBlock(3, func(b *storedBlock) {
				b.txs[0].record = replace(b.txs[0].record, `"creator":"RegulatorMSP"`, `"creator":"RegulatorMSQ"`)
			}))
		}, 3, CheckTxRoot},
		{"header changed", true, func(t *testing.T, dir string) {
			tamper(t, dir, editBlock(2, func(b *storedBlock) {
				b.header = replace(b.header, `"txCount":1`, `"txCount":2`)
			}))
		}, 2, CheckSignature},
		{"signature changed", true, func(t *testing.T, dir string) {
			tamper(t, dir, editBlock(4, func(b *storedBlock) { b.signature[len(b.signature)-1] ^= 1 }))
		}, 4, CheckSignature},
		{"event payload changed", true, func(t *testing.T, dir string) {
			tamper(t, dir, editBlock(7, func(b *storedBlock) {
				b.txs[0].payload = replace(b.txs[0].payload, `"COLLECTED"`, `"COLLECTEE"`)
			}))
		}, 7, CheckPayload},
		{"block removed", true, func(t *testing.T, dir string) {
			tamper(t, dir, func(tx *bolt.Tx) error { return tx.Bucket(bucketBlocks).Delete(blockKey(5)) })
		}, 5, CheckBlockMissing},
		{"block replaced by a validly signed one that does not link", true, func(t *testing.T, dir string) {
			// Swap blocks 5 and 6: each is signed, but they no longer link.
			tamper(t, dir, func(tx *bolt.Tx) error {
				bk := tx.Bucket(bucketBlocks)
				b5, b6 := bytes.Clone(bk.Get(blockKey(5))), bytes.Clone(bk.Get(blockKey(6)))
				if err := bk.Put(blockKey(5), b6); err != nil {
					return err
				}
				return bk.Put(blockKey(6), b5)
			})
		}, 5, CheckHeader},
		{"head block changed, fast path", false, func(t *testing.T, dir string) {
			tamper(t, dir, editBlock(7, func(b *storedBlock) {
				b.header = replace(b.header, `"version":2`, `"version":2 `)
			}))
		}, 7, CheckCheckpoint},
		{"block after the checkpoint changed, fast path", false, func(t *testing.T, dir string) {
			// As after a crash: the last verified checkpoint is block 3.
			tamper(t, dir, func(tx *bolt.Tx) error {
				b3, err := decodeBlock(tx.Bucket(bucketBlocks).Get(blockKey(3)))
				if err != nil {
					return err
				}
				var c checkpoint
				c.number = 3
				c.hash = sha256Of(b3.header)
				return writeCheckpoint(tx, c)
			})
			tamper(t, dir, editBlock(5, func(b *storedBlock) {
				b.txs[0].record = replace(b.txs[0].record, `"function":"RegisterParticipant"`, `"function":"SuspendParticipant"`)
			}))
		}, 5, CheckTxRoot},
		{"head moved back", false, func(t *testing.T, dir string) {
			tamper(t, dir, func(tx *bolt.Tx) error {
				b6, err := decodeBlock(tx.Bucket(bucketBlocks).Get(blockKey(6)))
				if err != nil {
					return err
				}
				if err := writeHead(tx, 6, sha256Of(b6.header)); err != nil {
					return err
				}
				return writeCheckpoint(tx, checkpoint{number: 6, hash: sha256Of(b6.header)})
			})
		}, 6, CheckHead},
		{"node key replaced", false, func(t *testing.T, dir string) {
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			der, _ := x509.MarshalPKCS8PrivateKey(k)
			if err := os.WriteFile(filepath.Join(dir, KeyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
				t.Fatal(err)
			}
		}, 7, CheckSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := chainDir(t)
			c.edit(t, dir)
			l, err := Open(Config{Dir: dir, FullVerify: c.full})
			if err == nil {
				l.Close()
				t.Fatal("a broken chain opened")
			}
			var ce *ChainError
			if !errors.As(err, &ce) || !errors.Is(err, ErrBrokenChain) {
				t.Fatalf("want a ChainError, got %v", err)
			}
			if ce.Block != c.block || ce.Check != c.check {
				t.Fatalf("broken at block %d (%s), want block %d (%s): %v", ce.Block, ce.Check, c.block, c.check, err)
			}
			if msg := err.Error(); !strings.Contains(msg, fmt.Sprintf("block %d", c.block)) || !strings.Contains(msg, c.check) {
				t.Errorf("message does not name the block and check: %s", msg)
			}
			// The refusal released the directory: a repaired ledger could open.
			if _, err := Open(Config{Dir: dir}); errors.Is(err, ErrLocked) {
				t.Error("a refused open kept the directory locked")
			}
		})
	}
}

func TestMissingNodeKeyIsRefused(t *testing.T) {
	dir := chainDir(t)
	if err := os.Remove(filepath.Join(dir, KeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Config{Dir: dir}); !errors.Is(err, ErrNodeKeyMissing) {
		t.Fatalf("open without the node key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Error("a new key was made for a ledger that has blocks")
	}
}

func TestNodeKeyFile(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, Config{Dir: dir})
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("node key mode %v, want 0600", fi.Mode().Perm())
	}
	anchor := l.TrustAnchor()
	l.Close()
	l2 := openTest(t, Config{Dir: dir})
	if l2.TrustAnchor() != anchor {
		t.Error("the node key changed across a restart")
	}
}

func TestFullVerifyCatchesWhatTheFastPathSkips(t *testing.T) {
	dir := chainDir(t)
	tamper(t, dir, editBlock(2, func(b *storedBlock) { b.signature[len(b.signature)-1] ^= 1 }))
	// The fast path starts at the checkpoint (block 7) and does not look at block 2.
	l, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatalf("fast path: %v", err)
	}
	l.Close()
	var ce *ChainError
	if _, err := Open(Config{Dir: dir, FullVerify: true}); !errors.As(err, &ce) || ce.Block != 2 || ce.Check != CheckSignature {
		t.Fatalf("full verification: %v", err)
	}
}

func sha256Of(b []byte) [32]byte { return sha256.Sum256(b) }
