package receipt

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"testing"
)

func leavesN(n int) []Hash {
	out := make([]Hash, n)
	for i := range out {
		out[i] = LeafHash(fmt.Appendf(nil, "tx-%d", i))
	}
	return out
}

func TestMerkleRootShapes(t *testing.T) {
	l := leavesN(7)
	n := nodeHash
	cases := []struct {
		size int
		want Hash
	}{
		{0, sha256.Sum256(nil)},
		{1, l[0]},
		{2, n(l[0], l[1])},
		{3, n(n(l[0], l[1]), l[2])},
		{4, n(n(l[0], l[1]), n(l[2], l[3]))},
		{5, n(n(n(l[0], l[1]), n(l[2], l[3])), l[4])},
		{7, n(n(n(l[0], l[1]), n(l[2], l[3])), n(n(l[4], l[5]), l[6]))},
	}
	for _, c := range cases {
		if got := MerkleRoot(l[:c.size]); got != c.want {
			t.Errorf("root of %d leaves = %x, want %x", c.size, got, c.want)
		}
	}
	// A leaf is never taken for a node: the prefixes differ.
	if LeafHash(append(append([]byte{}, l[0][:]...), l[1][:]...)) == n(l[0], l[1]) {
		t.Error("leaf and node hashes collide")
	}
}

func TestInclusionProofs(t *testing.T) {
	for size := 1; size <= 40; size++ {
		leaves := leavesN(size)
		root := MerkleRoot(leaves)
		for i := 0; i < size; i++ {
			path := InclusionProof(leaves, i)
			got, err := rootFromPath(leaves[i], uint64(i), uint64(size), path)
			if err != nil || got != root {
				t.Fatalf("size %d leaf %d: root %x, %v; want %x", size, i, got, err, root)
			}
			// The same path proves nothing for another leaf or index. (It may fit
			// another tree size: the verifier binds the size to the signed count.)
			if got, err := rootFromPath(leaves[(i+1)%size], uint64(i), uint64(size), path); size > 1 && err == nil && got == root {
				t.Fatalf("size %d leaf %d: path proves leaf %d too", size, i, (i+1)%size)
			}
			if size > 1 {
				if got, err := rootFromPath(leaves[i], uint64((i+1)%size), uint64(size), path); err == nil && got == root {
					t.Fatalf("size %d leaf %d: path fits index %d too", size, i, (i+1)%size)
				}
				bad := append([]Hash(nil), path...)
				bad[len(bad)-1][0] ^= 1
				if got, _ := rootFromPath(leaves[i], uint64(i), uint64(size), bad); got == root {
					t.Fatalf("size %d leaf %d: changed path still proves", size, i)
				}
				if _, err := rootFromPath(leaves[i], uint64(i), uint64(size), path[:len(path)-1]); err == nil {
					if got, _ := rootFromPath(leaves[i], uint64(i), uint64(size), path[:len(path)-1]); got == root {
						t.Fatalf("size %d leaf %d: shortened path still proves", size, i)
					}
				}
			}
		}
	}
	if _, err := rootFromPath(Hash{}, 3, 3, nil); err == nil {
		t.Error("index beyond the tree accepted")
	}
}

// TestMerkleTree checks the tree built level by level against the recursive
// definition: the same root and, for every leaf, the same audit path.
func TestMerkleTree(t *testing.T) {
	for size := 0; size <= 70; size++ {
		leaves := leavesN(size)
		tree := NewMerkleTree(leaves)
		if tree.Size() != size {
			t.Fatalf("tree of %d leaves has size %d", size, tree.Size())
		}
		if got, want := tree.Root(), MerkleRoot(leaves); got != want {
			t.Fatalf("size %d: root %x, want %x", size, got, want)
		}
		for i := 0; i < size; i++ {
			if got, want := tree.Path(i), InclusionProof(leaves, i); !slices.Equal(got, want) {
				t.Fatalf("size %d leaf %d: path %x, want %x", size, i, got, want)
			}
		}
	}
}
