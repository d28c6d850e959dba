package receipt

import (
	"encoding/hex"
	"testing"
)

// Known answers of RFC 6962 (section 2.1) for SHA-256: the eight leaf
// inputs of the Certificate Transparency reference test vectors, the root
// of each prefix of them and four audit paths (leaf indexes from 0). The
// values are the published ones; a tree that hashed leaves or nodes without
// their 0x00 / 0x01 prefixes, split a tree at another point or ordered a
// path otherwise would miss every one of them.
var (
	rfc6962Leaves = []string{"", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"}
	rfc6962Roots  = []string{
		"", // no tree of size 0 here: see TestRFC6962EmptyTree
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
		"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
		"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
		"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	}
	rfc6962Paths = []struct {
		index, size int
		path        []string
	}{
		{0, 8, []string{
			"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
			"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
		{5, 8, []string{
			"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
			"ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
			"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
		{2, 3, []string{
			"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
		{1, 5, []string{
			"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
			"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
	}
)

func rfc6962LeafHashes(t *testing.T, n int) []Hash {
	t.Helper()
	out := make([]Hash, n)
	for i := range out {
		b, err := hex.DecodeString(rfc6962Leaves[i])
		if err != nil {
			t.Fatal(err)
		}
		out[i] = LeafHash(b)
	}
	return out
}

func TestRFC6962Roots(t *testing.T) {
	for n := 1; n <= len(rfc6962Leaves); n++ {
		leaves := rfc6962LeafHashes(t, n)
		if got := HexHash(MerkleRoot(leaves)); got != rfc6962Roots[n] {
			t.Errorf("root of %d leaves: %s, want %s", n, got, rfc6962Roots[n])
		}
		if got := HexHash(NewMerkleTree(leaves).Root()); got != rfc6962Roots[n] {
			t.Errorf("tree root of %d leaves: %s, want %s", n, got, rfc6962Roots[n])
		}
	}
}

func TestRFC6962EmptyTree(t *testing.T) {
	// MTH({}) = SHA-256() (RFC 6962, 2.1).
	if got := HexHash(MerkleRoot(nil)); got != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Fatalf("empty root %s", got)
	}
}

func TestRFC6962AuditPaths(t *testing.T) {
	for _, c := range rfc6962Paths {
		leaves := rfc6962LeafHashes(t, c.size)
		for name, path := range map[string][]Hash{
			"InclusionProof":  InclusionProof(leaves, c.index),
			"MerkleTree.Path": NewMerkleTree(leaves).Path(c.index),
		} {
			if len(path) != len(c.path) {
				t.Fatalf("%s of leaf %d in %d: %d hashes, want %d", name, c.index, c.size, len(path), len(c.path))
			}
			for i := range path {
				if got := HexHash(path[i]); got != c.path[i] {
					t.Errorf("%s of leaf %d in %d: hash %d is %s, want %s", name, c.index, c.size, i, got, c.path[i])
				}
			}
		}
		// The verifier's side: the published path leads to the published
		// root, and not from another leaf or index.
		want := make([]Hash, len(c.path))
		for i, s := range c.path {
			h, err := parseHexHash(s)
			if err != nil {
				t.Fatal(err)
			}
			want[i] = h
		}
		root, err := rootFromPath(leaves[c.index], uint64(c.index), uint64(c.size), want)
		if err != nil || HexHash(root) != rfc6962Roots[c.size] {
			t.Errorf("leaf %d in %d: path leads to %s (%v), want %s", c.index, c.size, HexHash(root), err, rfc6962Roots[c.size])
		}
		other := (c.index + 1) % c.size
		if root, err := rootFromPath(leaves[other], uint64(c.index), uint64(c.size), want); err == nil && HexHash(root) == rfc6962Roots[c.size] {
			t.Errorf("leaf %d in %d: the path also proves leaf %d", c.index, c.size, other)
		}
	}
}
