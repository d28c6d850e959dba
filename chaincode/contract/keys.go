package contract

import (
	"fmt"
	"strings"
)

// State keys. Every key is "<kind>/<part>/<part>..."; IDs never contain '/',
// so a prefix ends where its parts do and a range over "prefix/" up to
// "prefix0" ('0' follows '/') covers exactly the keys below it. Keys are
// plain UTF-8, which both ledgers accept in range queries.
const (
	kRegulator   = "meta/regulator"
	kParticipant = "p/"  // p/<msp>
	kBatch       = "b/"  // b/<id>
	kHistory     = "h/"  // h/<batch>/<seq>      → Event (the batch's copy)
	kEventRef    = "ev/" // ev/<eventId>         → eventLoc
	kChild       = "ch/" // ch/<parent>/<child>  → Edge
	kParent      = "pa/" // pa/<child>/<parent>  → Edge
	kOwner       = "o/"  // o/<owner>/<batch>
	kSector      = "s/"  // s/<sector>/<batch>
	kCustody     = "c/"  // c/<custodian>/<batch>
	kCirculation = "ci/" // ci/<batch>/<seq>     → Event (formats 1 and 2 only)
	kTrade       = "t/"  // t/<exchange>/<tradeId> → tradeRecord
	kBatchTrade  = "bt/" // bt/<batch>/<seq>     → Trade (formats 1 and 2 only)
	// tt/<time>/<eventId>/chunk → tradeChunk (format 3);
	// tt/<time>/<eventId> → Trade (formats 1 and 2)
	kTradeTime = "tt/"
	// Private (TermsCollection).
	kTerms = "terms/" // terms/<exchange>/<tradeId> → termsRecord (salted)
	// price/<time>/<eventId>/chunk → priceChunk (format 3);
	// price/<time>/<eventId> → pricePoint (formats 1 and 2); salted
	kPrice = "price/"
)

// present is the value of index keys: Fabric treats an empty value as a
// delete, so index entries hold one byte.
var present = []byte{'1'}

func join(parts ...string) string { return strings.Join(parts, "/") }

// seqKey renders a sequence number so that keys sort in numeric order.
func seqKey(n int64) string { return fmt.Sprintf("%012d", n) }

// timeKeyLayout renders times at fixed width, so keys sort in time order.
const timeKeyLayout = "2006-01-02T15:04:05.000000000Z"

// prefixEnd returns the first key after every key that starts with prefix,
// where prefix ends in '/'.
func prefixEnd(prefix string) string {
	return prefix[:len(prefix)-1] + "0"
}
