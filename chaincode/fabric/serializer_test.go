package fabric

import (
	"reflect"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-contract-api-go/v2/serializer"
)

// TestStringSerializer: strings pass through both ways exactly as the
// default serializer gives them; other types are the default's.
func TestStringSerializer(t *testing.T) {
	var s stringSerializer
	var def serializer.JSONSerializer
	big := `{"trades":[` + strings.Repeat(`{"tradeId":"t","note":"\u003c\"é\""},`, 2000) + `{}]}`
	for _, v := range []string{"", "plain", `{"a":1}`, "not json {", big} {
		got, err := s.FromString(v, stringType, nil, nil)
		if err != nil || got.String() != v {
			t.Fatalf("FromString(%.40q) = %.40q, %v", v, got.String(), err)
		}
		want, err := def.FromString(v, stringType, nil, nil)
		if err != nil || want.String() != got.String() {
			t.Fatalf("default FromString(%.40q) = %.40q, %v", v, want.String(), err)
		}
		out, err := s.ToString(reflect.ValueOf(v), stringType, nil, nil)
		if err != nil || out != v {
			t.Fatalf("ToString(%.40q) = %.40q, %v", v, out, err)
		}
	}
	// Not a string: the default serializer's conversion and errors.
	n, err := s.FromString("42", reflect.TypeOf(0), nil, nil)
	if err != nil || n.Int() != 42 {
		t.Fatalf("int argument: %v %v", n, err)
	}
	if _, err := s.FromString("forty-two", reflect.TypeOf(0), nil, nil); err == nil {
		t.Fatal("a non-number was converted to an int")
	}
	if out, err := s.ToString(reflect.ValueOf(7), reflect.TypeOf(0), nil, nil); err != nil || out != "7" {
		t.Fatalf("int result: %q %v", out, err)
	}
}
