// Package prov writes a lineage graph as a W3C PROV-JSON document
// (https://www.w3.org/submissions/prov-json/). It knows neither HTTP nor the
// ledger. Every qualified name it writes is valid PROV-N and a valid XML
// QName: identifiers are encoded into local parts by [Local] (docs/api.md,
// "PROV-JSON").
package prov

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// Namespace prefixes of the documents and the URIs they stand for. A
// qualified name "batch:L" is the URI "urn:tokentrail:batch:" + L.
const (
	PrefixTT    = "tt"
	PrefixBatch = "batch"
	PrefixEvent = "event"
	PrefixOrg   = "org"
)

// Document is a PROV-JSON document. Every section is an object keyed by
// identifier; relations use blank-node identifiers "_:rN".
type Document struct {
	Prefix            map[string]string         `json:"prefix"`
	Entity            map[string]map[string]any `json:"entity"`
	Activity          map[string]map[string]any `json:"activity"`
	Agent             map[string]map[string]any `json:"agent"`
	WasGeneratedBy    map[string]map[string]any `json:"wasGeneratedBy"`
	Used              map[string]map[string]any `json:"used"`
	WasDerivedFrom    map[string]map[string]any `json:"wasDerivedFrom"`
	WasAssociatedWith map[string]map[string]any `json:"wasAssociatedWith"`
	WasAttributedTo   map[string]map[string]any `json:"wasAttributedTo"`
}

// Typed is a PROV-JSON typed literal: a value with its datatype.
type Typed struct {
	Value string `json:"$"`
	Type  string `json:"type"`
}

// QName is qualified name q as a PROV-JSON typed literal, the form in which
// PROV consumers read a value (such as prov:type's) as a qualified name and
// not as a string.
func QName(q string) Typed { return Typed{Value: q, Type: "prov:QUALIFIED_NAME"} }

// Local encodes identifier id as the local part of a qualified name that is
// both a PROV-N QUALIFIED_NAME and an XML QName (its local part an NCName):
// ASCII letters and digits, '-' and '.' stand for themselves, except that a
// first character that is a digit, '-' or '.', and a last '.', are encoded;
// every other byte of the identifier's UTF-8 form, '_' included, is written
// '_' and two upper-case hex digits. The result therefore starts with a
// letter or '_', never ends with '.', and holds only letters, digits, '-',
// '.' and '_'. The empty identifier is "_". [Unlocal] reverses it.
func Local(id string) string {
	if id == "" {
		return "_"
	}
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		c := id[i]
		plain := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.'
		if i == 0 && (c >= '0' && c <= '9' || c == '-' || c == '.') || i == len(id)-1 && c == '.' {
			plain = false
		}
		if plain {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "_%02X", c)
		}
	}
	return b.String()
}

// Unlocal is the identifier that [Local] encoded as local part l.
func Unlocal(l string) (string, error) {
	if l == "_" {
		return "", nil
	}
	var b strings.Builder
	for i := 0; i < len(l); i++ {
		c := l[i]
		if c != '_' {
			b.WriteByte(c)
			continue
		}
		if i+3 > len(l) {
			return "", fmt.Errorf("local part %q: '_' at %d is not followed by two hex digits", l, i)
		}
		hex := l[i+1 : i+3]
		v, err := strconv.ParseUint(hex, 16, 8)
		if err != nil || strings.ToUpper(hex) != hex {
			return "", fmt.Errorf("local part %q: '_' at %d is not followed by two upper-case hex digits", l, i)
		}
		b.WriteByte(byte(v))
		i += 2
	}
	if Local(b.String()) != l {
		return "", fmt.Errorf("local part %q is not in the encoded form of any identifier", l)
	}
	return b.String(), nil
}

// Batch, Event and Org are the qualified names of a batch, a PROCESSED
// event (an activity) and an organisation (an agent).
func Batch(id string) string { return PrefixBatch + ":" + Local(id) }

// Event is the qualified name of event id; see [Batch].
func Event(id string) string { return PrefixEvent + ":" + Local(id) }

// Org is the qualified name of organisation msp; see [Batch].
func Org(msp string) string { return PrefixOrg + ":" + Local(msp) }

// FromLineage writes lineage graph g as PROV-JSON: batches are entities,
// PROCESSED events are activities that used the inputs and generated the
// outputs, organisations are agents (the processing actor is associated
// with the activity, the owner is attributed the batch). events holds what
// the caller may read of each edge's event (a zero Event: nothing).
func FromLineage(g contract.Lineage, events map[string]contract.Event) *Document {
	p := &Document{
		Prefix: map[string]string{
			PrefixTT:    "urn:tokentrail:",
			PrefixBatch: "urn:tokentrail:batch:",
			PrefixEvent: "urn:tokentrail:event:",
			PrefixOrg:   "urn:tokentrail:org:",
		},
		Entity: map[string]map[string]any{}, Activity: map[string]map[string]any{}, Agent: map[string]map[string]any{},
		WasGeneratedBy: map[string]map[string]any{}, Used: map[string]map[string]any{}, WasDerivedFrom: map[string]map[string]any{},
		WasAssociatedWith: map[string]map[string]any{}, WasAttributedTo: map[string]map[string]any{},
	}
	n := 0
	seen := map[string]bool{}
	rel := func() string { n++; return fmt.Sprintf("_:r%d", n) }
	agent := func(msp string) string {
		id := Org(msp)
		if _, ok := p.Agent[id]; !ok {
			p.Agent[id] = map[string]any{"prov:type": QName("prov:Organization"), "tt:mspId": msp}
		}
		return id
	}
	for _, node := range g.Nodes {
		id := Batch(node.ID)
		e := map[string]any{"prov:type": QName("tt:TokenBatch"), "tt:batchId": node.ID, "tt:distance": node.Distance}
		if node.Redacted {
			e["tt:redacted"] = true
			p.Entity[id] = e
			continue
		}
		e["tt:tokens"] = node.Tokens.Count
		// Empty text is left out: PROV-XML cannot tell it from no value.
		for k, v := range map[string]string{"prov:label": node.Name, "tt:status": node.Status, "tt:contentDigest": node.ContentDigest,
			"tt:tokenizer": node.Tokens.Tokenizer, "tt:sector": node.Sector, "tt:modality": node.Modality,
			"tt:classification": node.Classification, "tt:createdTxId": node.CreatedTx} {
			if v != "" {
				e[k] = v
			}
		}
		p.Entity[id] = e
		if node.Owner != "" {
			p.WasAttributedTo[rel()] = map[string]any{"prov:entity": id, "prov:agent": agent(node.Owner)}
		}
	}
	for _, e := range g.Edges {
		from, to := Batch(e.From), Batch(e.To)
		if e.Redacted {
			// The caller may read neither end: only the derivation, with
			// no activity, agent or transaction.
			p.WasDerivedFrom[rel()] = map[string]any{"prov:generatedEntity": to, "prov:usedEntity": from}
			continue
		}
		act := Event(e.EventID)
		if _, ok := p.Activity[act]; !ok {
			a := map[string]any{"prov:type": QName("tt:" + contract.EventProcessed), "tt:eventId": e.EventID}
			if e.TxID != "" {
				a["tt:txId"] = e.TxID
			}
			if len(e.Operations) > 0 {
				a["tt:operations"] = e.Operations
			}
			if ev := events[e.EventID]; ev.EventID != "" {
				a["prov:startTime"] = ev.Timestamp
				a["prov:endTime"] = ev.Timestamp
				if ev.Processed != nil {
					a["tt:tool"] = ev.Processed.Tool.Name + "@" + ev.Processed.Tool.Version
				}
				if ev.Actor != "" {
					p.WasAssociatedWith[rel()] = map[string]any{"prov:activity": act, "prov:agent": agent(ev.Actor)}
				}
			}
			p.Activity[act] = a
		}
		// An event with several inputs and outputs appears as one edge per
		// pair; "used" and "wasGeneratedBy" are stated once per batch.
		if !seen[act+" used "+from] {
			seen[act+" used "+from] = true
			p.Used[rel()] = map[string]any{"prov:activity": act, "prov:entity": from}
		}
		if !seen[act+" generated "+to] {
			seen[act+" generated "+to] = true
			p.WasGeneratedBy[rel()] = map[string]any{"prov:entity": to, "prov:activity": act}
		}
		p.WasDerivedFrom[rel()] = map[string]any{"prov:generatedEntity": to, "prov:usedEntity": from, "prov:activity": act}
	}
	return p
}
