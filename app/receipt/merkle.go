package receipt

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
)

// The block's transaction tree is the Merkle tree of RFC 6962 (section 2.1):
// a leaf hash is SHA-256(0x00 || tx record) and an interior node is
// SHA-256(0x01 || left || right); the prefixes keep a leaf from ever being
// taken for a node. A tree of n leaves splits at the largest power of two
// below n, so every size has exactly one shape and proofs are short.

// Hash is a SHA-256 value.
type Hash = [sha256.Size]byte

// LeafHash returns the hash of one transaction record as a tree leaf.
func LeafHash(record []byte) Hash {
	h := sha256.New()
	h.Write([]byte{0x00})
	h.Write(record)
	var out Hash
	h.Sum(out[:0])
	return out
}

func nodeHash(left, right Hash) Hash {
	var buf [1 + 2*sha256.Size]byte
	buf[0] = 0x01
	copy(buf[1:], left[:])
	copy(buf[1+sha256.Size:], right[:])
	return sha256.Sum256(buf[:])
}

// splitPoint returns the largest power of two smaller than n (n ≥ 2).
func splitPoint(n int) int {
	k := 1
	for k<<1 < n {
		k <<= 1
	}
	return k
}

// MerkleRoot returns the root of the tree over leaves; the root of an empty
// tree is SHA-256 of nothing.
func MerkleRoot(leaves []Hash) Hash {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return leaves[0]
	}
	k := splitPoint(len(leaves))
	return nodeHash(MerkleRoot(leaves[:k]), MerkleRoot(leaves[k:]))
}

// InclusionProof returns the audit path of leaf index in the tree over
// leaves, nearest sibling first. It panics when index is out of range.
func InclusionProof(leaves []Hash, index int) []Hash {
	if index < 0 || index >= len(leaves) {
		panic(fmt.Sprintf("receipt: leaf %d out of range [0,%d)", index, len(leaves)))
	}
	path := []Hash{}
	for len(leaves) > 1 {
		k := splitPoint(len(leaves))
		// The sibling subtree of the half holding index is appended last, so
		// walk from the root down and prepend.
		var sibling Hash
		if index < k {
			sibling = MerkleRoot(leaves[k:])
			leaves = leaves[:k]
		} else {
			sibling = MerkleRoot(leaves[:k])
			leaves = leaves[k:]
			index -= k
		}
		path = append([]Hash{sibling}, path...)
	}
	return path
}

// MerkleTree is the tree over one block's leaves, kept level by level so
// that the audit path of every leaf is read off it instead of recomputed.
// Built bottom up, a level's last node moves up unchanged when it has no
// sibling; that gives the tree of [MerkleRoot] and the paths of
// [InclusionProof], since each left subtree of the recursive split is a
// complete tree of a power-of-two size.
type MerkleTree struct {
	// levels[0] are the leaves, each level the parents of the one below;
	// the last holds the root alone (none when there are no leaves).
	levels [][]Hash
}

// NewMerkleTree builds the tree over leaves, hashing each interior node once.
func NewMerkleTree(leaves []Hash) *MerkleTree {
	level := slices.Clone(leaves)
	t := &MerkleTree{levels: [][]Hash{level}}
	for len(level) > 1 {
		up := make([]Hash, (len(level)+1)/2)
		for i := 0; i+1 < len(level); i += 2 {
			up[i/2] = nodeHash(level[i], level[i+1])
		}
		if len(level)%2 == 1 {
			up[len(up)-1] = level[len(level)-1]
		}
		t.levels = append(t.levels, up)
		level = up
	}
	return t
}

// Size returns the number of leaves.
func (t *MerkleTree) Size() int { return len(t.levels[0]) }

// Root returns the root of the tree, as [MerkleRoot] does.
func (t *MerkleTree) Root() Hash {
	if t.Size() == 0 {
		return sha256.Sum256(nil)
	}
	return t.levels[len(t.levels)-1][0]
}

// Path returns the audit path of leaf index, nearest sibling first, as
// [InclusionProof] does. It panics when index is out of range.
func (t *MerkleTree) Path(index int) []Hash {
	if index < 0 || index >= t.Size() {
		panic(fmt.Sprintf("receipt: leaf %d out of range [0,%d)", index, t.Size()))
	}
	path := make([]Hash, 0, len(t.levels)-1)
	for _, level := range t.levels[:len(t.levels)-1] {
		if sibling := index ^ 1; sibling < len(level) {
			path = append(path, level[sibling])
		}
		index >>= 1
	}
	return path
}

var errPath = errors.New("audit path does not fit the tree")

// rootFromPath recomputes the tree root from a leaf, its index, the tree size
// and its audit path (RFC 9162, section 2.1.3.2). It fails when the path has
// the wrong length for the index and size.
func rootFromPath(leaf Hash, index, size uint64, path []Hash) (Hash, error) {
	if index >= size {
		return Hash{}, fmt.Errorf("leaf index %d is not below the tree size %d", index, size)
	}
	fn, sn := index, size-1
	r := leaf
	for _, p := range path {
		if sn == 0 {
			return Hash{}, errPath
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = nodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return Hash{}, errPath
	}
	return r, nil
}
