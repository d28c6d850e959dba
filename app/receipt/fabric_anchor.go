package receipt

// Trust anchors of Fabric receipts: the channel organisations' root
// certificates, each labelled with its MSP ID, and the identities they
// vouch for.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"
)

// ErrNoTrustedRoots means a Fabric trust anchor holds no root certificate.
var ErrNoTrustedRoots = errors.New("no root certificate in the Fabric trust anchor")

// anchorMSPHeader is the PEM header that labels each root certificate of a
// Fabric trust anchor with the MSP ID of its organisation.
const anchorMSPHeader = "MSP-ID"

// anchorOrdererHeader is the PEM header that marks the roots of an
// organisation that runs the ordering service, with the consensus type
// (OrderingBFT or OrderingRaft).
const anchorOrdererHeader = "Orderer"

// Consensus types an anchor's Orderer header may name.
const (
	OrderingRaft = "Raft"
	OrderingBFT  = "BFT"
)

// FabricOrdering says which organisations of a trust anchor run the ordering
// service, and with which consensus. With BFT a block must be signed by a
// quorum of those organisations; with Raft by an orderer of one of them.
type FabricOrdering struct {
	// Consensus is OrderingBFT or OrderingRaft.
	Consensus string
	// MSPIDs are the orderer organisations; each must be in the anchor.
	MSPIDs []string
}

// FabricTrustAnchor returns the trust anchor of a Fabric network in its
// canonical form, from each organisation's root certificates (MSP ID to the
// PEM files of its msp/cacerts directory; a file may hold several
// certificates). The anchor is PEM text: one CERTIFICATE block per root, with
// a header "MSP-ID: <id>", ordered by MSP ID and then by certificate bytes,
// each certificate once per organisation. It fails on input that is not PEM
// certificates, on an empty MSP ID and when there is no certificate at all.
// It names no orderer organisations: see [FabricTrustAnchorOrdering].
func FabricTrustAnchor(roots map[string][][]byte) ([]byte, error) {
	return FabricTrustAnchorOrdering(roots, FabricOrdering{})
}

// FabricTrustAnchorOrdering is [FabricTrustAnchor] that also marks the
// roots of the orderer organisations with a header "Orderer: BFT" (or
// "Raft"). A BFT-signed block verifies only against an anchor that names its
// orderer organisations: their number sets the quorum, and the receipt cannot
// change it.
func FabricTrustAnchorOrdering(roots map[string][][]byte, ord FabricOrdering) ([]byte, error) {
	orderers := map[string]bool{}
	if len(ord.MSPIDs) > 0 || ord.Consensus != "" {
		if ord.Consensus != OrderingBFT && ord.Consensus != OrderingRaft {
			return nil, fmt.Errorf("fabric trust anchor: consensus %q, want %s or %s", ord.Consensus, OrderingBFT, OrderingRaft)
		}
		if len(ord.MSPIDs) == 0 {
			return nil, errors.New("fabric trust anchor: no orderer organisation named")
		}
		for _, id := range ord.MSPIDs {
			if _, ok := roots[id]; !ok {
				return nil, fmt.Errorf("fabric trust anchor: orderer organisation %s has no root certificates", id)
			}
			orderers[id] = true
		}
	}
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
		headers := map[string]string{anchorMSPHeader: id}
		if orderers[id] {
			headers[anchorOrdererHeader] = ord.Consensus
		}
		for _, der := range ders {
			if err := pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Headers: headers, Bytes: der}); err != nil {
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
// with an MSP ID is an error, and so is any header but MSP-ID and Orderer.
func ParseFabricTrustAnchor(anchorPEM []byte) (map[string][]*x509.Certificate, error) {
	roots, _, err := parseFabricAnchor(anchorPEM)
	return roots, err
}

// ParseFabricTrustAnchorOrdering reads a Fabric trust anchor and the
// ordering it names; the ordering is empty for an anchor without Orderer
// headers (written before BFT ordering).
func ParseFabricTrustAnchorOrdering(anchorPEM []byte) (map[string][]*x509.Certificate, FabricOrdering, error) {
	return parseFabricAnchor(anchorPEM)
}

func parseFabricAnchor(anchorPEM []byte) (map[string][]*x509.Certificate, FabricOrdering, error) {
	var ord FabricOrdering
	roots := map[string][]*x509.Certificate{}
	marks := map[string]string{} // MSP ID -> its Orderer header ("" for none)
	rest := anchorPEM
	for n := 0; ; n++ {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, ord, fmt.Errorf("block %d is a %q block; a Fabric trust anchor holds only certificates", n, b.Type)
		}
		id := b.Headers[anchorMSPHeader]
		mark, marked := b.Headers[anchorOrdererHeader]
		want := 1
		if marked {
			want = 2
		}
		if id == "" || len(b.Headers) != want {
			return nil, ord, fmt.Errorf("certificate %d must have the header %s and no other but %s", n, anchorMSPHeader, anchorOrdererHeader)
		}
		if marked && mark != OrderingBFT && mark != OrderingRaft {
			return nil, ord, fmt.Errorf("certificate %d (%s): %s header %q, want %s or %s", n, id, anchorOrdererHeader, mark, OrderingBFT, OrderingRaft)
		}
		if prev, seen := marks[id]; seen && prev != mark {
			return nil, ord, fmt.Errorf("certificate %d (%s): %s header %q, another root of %s has %q", n, id, anchorOrdererHeader, mark, id, prev)
		}
		marks[id] = mark
		if marked {
			if ord.Consensus != "" && ord.Consensus != mark {
				return nil, ord, fmt.Errorf("certificate %d (%s): %s header %q, another orderer organisation has %q", n, id, anchorOrdererHeader, mark, ord.Consensus)
			}
			ord.Consensus = mark
		}
		c, err := parseRoot(b.Bytes)
		if err != nil {
			return nil, ord, fmt.Errorf("certificate %d (%s): %w", n, id, err)
		}
		roots[id] = append(roots[id], c)
	}
	if len(roots) == 0 {
		return nil, ord, ErrNoTrustedRoots
	}
	for id, mark := range marks {
		if mark != "" {
			ord.MSPIDs = append(ord.MSPIDs, id)
		}
	}
	sort.Strings(ord.MSPIDs)
	return roots, ord, nil
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

// Fabric node OU roles (NodeOUs), as the certificates' OU states them.
const (
	roleClient  = "client"
	roleAdmin   = "admin"
	rolePeer    = "peer"
	roleOrderer = "orderer"
)

// fabricAnchor resolves serialized identities against the trust anchor.
type fabricAnchor struct {
	pools    map[string]*x509.CertPool
	ordering FabricOrdering
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
