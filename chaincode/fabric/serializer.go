package fabric

import (
	"reflect"

	"github.com/hyperledger/fabric-contract-api-go/v2/metadata"
	"github.com/hyperledger/fabric-contract-api-go/v2/serializer"
)

// stringSerializer passes string arguments and results through as they
// are. Every transaction of this chaincode takes its JSON request as one
// string and returns its JSON result as one string, and the contract decodes
// and checks the request itself, strictly (unknown fields refused, every
// field validated, typed errors naming the field to fix).
//
// contractapi's default serializer also checks each string against the
// function's metadata schema, which for a string means encoding it as a
// JSON string and decoding that again: for a history page or a bulk request
// of a hundred kilobytes that was a third of the chaincode server's CPU,
// and it checked nothing the type does not already say. Values of any
// other type go to the default serializer unchanged.
type stringSerializer struct {
	serializer.JSONSerializer
}

var stringType = reflect.TypeOf("")

// FromString returns a string argument as it is.
func (s *stringSerializer) FromString(param string, t reflect.Type, p *metadata.ParameterMetadata, c *metadata.ComponentMetadata) (reflect.Value, error) {
	if t == stringType {
		return reflect.ValueOf(param), nil
	}
	return s.JSONSerializer.FromString(param, t, p, c)
}

// ToString returns a string result as it is.
func (s *stringSerializer) ToString(v reflect.Value, t reflect.Type, r *metadata.ReturnMetadata, c *metadata.ComponentMetadata) (string, error) {
	if t == stringType && v.Kind() == reflect.String {
		return v.String(), nil
	}
	return s.JSONSerializer.ToString(v, t, r, c)
}
