package ledger

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestReceiptParts(t *testing.T) {
	doc := `{"kind":"fabric","fabric":{"data":["AAEC","AwQF"]}}`
	r := Receipt{[]byte(doc[:22]), []byte(doc[22:40]), []byte(doc[40:])}
	if r.Len() != len(doc) || string(r.Bytes()) != doc {
		t.Fatalf("Len %d, Bytes %s; want %d, %s", r.Len(), r.Bytes(), len(doc), doc)
	}
	var buf bytes.Buffer
	if n, err := r.WriteTo(&buf); err != nil || n != int64(len(doc)) || buf.String() != doc {
		t.Fatalf("WriteTo wrote %d %q, %v", n, buf.String(), err)
	}
	// Inside a JSON answer, and read back by a client as one part.
	out, err := json.Marshal(struct {
		Receipt Receipt `json:"receipt,omitempty"`
	}{r})
	if err != nil || string(out) != `{"receipt":`+doc+`}` {
		t.Fatalf("marshalled %s, %v", out, err)
	}
	var back struct {
		Receipt Receipt `json:"receipt"`
	}
	if err := json.Unmarshal(out, &back); err != nil || len(back.Receipt) != 1 || string(back.Receipt.Bytes()) != doc {
		t.Fatalf("read back %q, %v", back.Receipt, err)
	}
	if one := (Receipt{[]byte(doc)}); &one.Bytes()[0] != &one[0][0] {
		t.Error("Bytes copied a receipt of one part")
	}
	if (Receipt(nil)).Bytes() != nil {
		t.Error("Bytes of no receipt is not nil")
	}
}
