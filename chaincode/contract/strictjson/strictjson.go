// Package strictjson checks a JSON document's object keys against the Go
// type it is about to be decoded into, before encoding/json sees it.
//
// encoding/json matches object keys to struct fields case-insensitively and
// lets a repeated key overwrite the earlier one, so {"personalInfo":"none",
// "PersonalInfo":"sensitive"} decodes as "sensitive" although a reader of
// the document (or a schema validator) sees "none". [Check] refuses, at any
// depth: a key given twice in one object, a key that matches a field only
// when case is ignored, and (unless unknown keys are allowed) a key that
// matches no field. It works on the bytes and the type alone, so it does not
// depend on the text of encoding/json's errors.
//
// Check is a pre-pass, not a decoder: it reports the first key problem it
// finds and leaves everything else (syntax, types, trailing data) to
// encoding/json, which must decode the same bytes afterwards. On malformed
// input it returns nil so that the decoder's own, more precise, error is
// the one reported. It imports only the standard library, so the contract
// may use it.
package strictjson

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Problem is what is wrong with a key.
type Problem int

const (
	// Duplicate: the key appears twice in one object.
	Duplicate Problem = iota + 1
	// WrongCase: the key names a field only if case is ignored.
	WrongCase
	// Unknown: the key names no field.
	Unknown
)

// Error is a key that Check refuses.
type Error struct {
	// Path is the key's place in the document, such as "source.type" or
	// "trades[3].tokens" (object keys joined by dots, array indexes in
	// brackets); the key itself is its last element.
	Path    string
	Key     string
	Problem Problem
	// Field is the field's spelling for WrongCase.
	Field string
}

func (e *Error) Error() string {
	switch e.Problem {
	case Duplicate:
		return fmt.Sprintf("key %q is given more than once; give each field once", e.Key)
	case WrongCase:
		return fmt.Sprintf("unknown field %q; field names are case-sensitive: write %q", e.Key, e.Field)
	}
	return fmt.Sprintf("unknown field %q", e.Key)
}

// MaxDepth bounds the nesting Check follows; deeper documents are left to
// encoding/json (which refuses them).
const MaxDepth = 10000

// Check walks data, one JSON value, against the type of v (a pointer, as
// passed to json.Unmarshal). With allowUnknown, keys naming no field are
// allowed (they are ignored by the decoder), but duplicates and
// wrong-case keys are still refused. The error is an *Error or nil.
func Check(data []byte, v any, allowUnknown bool) error {
	t := reflect.TypeOf(v)
	if t == nil {
		return nil
	}
	w := walker{data: data, allowUnknown: allowUnknown}
	err := w.value(t, 0)
	if err == errSyntax {
		return nil
	}
	return err
}

// errSyntax stops the walk on malformed input; the decoder reports it.
var errSyntax = &Error{}

type walker struct {
	data         []byte
	i            int
	allowUnknown bool
	path         []byte // reused; the current value's path
}

func (w *walker) ws() {
	for w.i < len(w.data) {
		switch w.data[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

var (
	rawMessageType  = reflect.TypeFor[json.RawMessage]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textType        = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// value walks one value of type t (nil: any type, only duplicates checked).
func (w *walker) value(t reflect.Type, depth int) error {
	if depth > MaxDepth {
		return errSyntax
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && opaque(t) {
		// Decoded by its own code or kept as it is: any key may appear, but
		// none twice.
		t = nil
	}
	w.ws()
	if w.i >= len(w.data) {
		return errSyntax
	}
	switch w.data[w.i] {
	case '{':
		return w.object(t, depth)
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		return w.array(elem, depth)
	case '"':
		_, _, err := w.str()
		return err
	}
	// A number, true, false or null: the decoder checks its spelling.
	for w.i < len(w.data) {
		c := w.data[w.i]
		if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			break
		}
		w.i++
	}
	return nil
}

var opaqueCache sync.Map // reflect.Type → bool

// opaque reports whether values of t are not decoded field by field.
func opaque(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int64, reflect.Float64:
		if t.PkgPath() == "" {
			return false
		}
	case reflect.Interface:
		return true
	}
	if v, ok := opaqueCache.Load(t); ok {
		return v.(bool)
	}
	pt := reflect.PointerTo(t)
	o := t == rawMessageType || pt.Implements(unmarshalerType) || pt.Implements(textType)
	opaqueCache.Store(t, o)
	return o
}

// str reads a string and returns its raw bytes (without quotes) and whether
// they need decoding (an escape or a non-ASCII byte).
func (w *walker) str() (raw []byte, complex bool, err error) {
	w.i++ // the opening quote
	start := w.i
	for w.i < len(w.data) {
		c := w.data[w.i]
		switch {
		case c == '"':
			raw = w.data[start:w.i]
			w.i++
			return raw, complex, nil
		case c == '\\':
			complex = true
			w.i += 2
		case c >= utf8.RuneSelf:
			complex = true
			w.i++
		default:
			w.i++
		}
	}
	return nil, false, errSyntax
}

// key returns the key as encoding/json decodes it (without copying it when
// it has no escapes and is ASCII).
func (w *walker) key() ([]byte, error) {
	if w.i >= len(w.data) || w.data[w.i] != '"' {
		return nil, errSyntax
	}
	start := w.i
	raw, complex, err := w.str()
	if err != nil {
		return nil, err
	}
	if !complex {
		return raw, nil
	}
	var s string
	if json.Unmarshal(w.data[start:w.i], &s) != nil {
		return nil, errSyntax
	}
	return []byte(s), nil
}

func (w *walker) array(elem reflect.Type, depth int) error {
	w.i++ // [
	n := len(w.path)
	defer func() { w.path = w.path[:n] }()
	w.ws()
	if w.i < len(w.data) && w.data[w.i] == ']' {
		w.i++
		return nil
	}
	for idx := 0; ; idx++ {
		w.path = append(w.path[:n], '[')
		w.path = strconv.AppendInt(w.path, int64(idx), 10)
		w.path = append(w.path, ']')
		if err := w.value(elem, depth+1); err != nil {
			return err
		}
		w.ws()
		if w.i >= len(w.data) {
			return errSyntax
		}
		switch w.data[w.i] {
		case ',':
			w.i++
		case ']':
			w.i++
			return nil
		default:
			return errSyntax
		}
	}
}

func (w *walker) object(t reflect.Type, depth int) error {
	w.i++ // {
	var fs *fields
	var elem reflect.Type
	if t != nil {
		switch t.Kind() {
		case reflect.Struct:
			fs = fieldsOf(t)
		case reflect.Map:
			elem = t.Elem()
		default:
			t = nil // a type mismatch: the decoder reports it
		}
	}
	n := len(w.path)
	defer func() { w.path = w.path[:n] }()
	w.ws()
	if w.i < len(w.data) && w.data[w.i] == '}' {
		w.i++
		return nil
	}
	// Objects are small: a slice beats a map up to a few dozen keys.
	var seenBuf [16][]byte
	seen := seenBuf[:0]
	for {
		w.ws()
		k, err := w.key()
		if err != nil {
			return err
		}
		w.path = w.path[:n]
		if n > 0 {
			w.path = append(w.path, '.')
		}
		w.path = append(w.path, k...)
		for _, s := range seen {
			if bytes.Equal(s, k) {
				return w.fail(string(k), Duplicate, "")
			}
		}
		seen = append(seen, k)
		var ft reflect.Type
		if fs != nil {
			f, ok := fs.byName[string(k)]
			switch {
			case ok:
				ft = f
			case fs.folded(string(k)) != "":
				return w.fail(string(k), WrongCase, fs.folded(string(k)))
			case !w.allowUnknown:
				return w.fail(string(k), Unknown, "")
			}
		} else if t != nil {
			ft = elem
		}
		w.ws()
		if w.i >= len(w.data) || w.data[w.i] != ':' {
			return errSyntax
		}
		w.i++
		if err := w.value(ft, depth+1); err != nil {
			return err
		}
		w.ws()
		if w.i >= len(w.data) {
			return errSyntax
		}
		switch w.data[w.i] {
		case ',':
			w.i++
		case '}':
			w.i++
			return nil
		default:
			return errSyntax
		}
	}
}

func (w *walker) fail(key string, p Problem, field string) error {
	return &Error{Path: strings.ToValidUTF8(string(w.path), "\uFFFD"), Key: strings.ToValidUTF8(key, "\uFFFD"), Problem: p, Field: field}
}

// fields are the JSON names of a struct's fields as encoding/json sees them.
type fields struct {
	byName map[string]reflect.Type
	names  []string
}

// folded returns the field that k names when case is ignored (encoding/json
// matches with the rules of bytes.EqualFold), or "".
func (fs *fields) folded(k string) string {
	for _, n := range fs.names {
		if strings.EqualFold(n, k) {
			return n
		}
	}
	return ""
}

var fieldCache sync.Map // reflect.Type → *fields

func fieldsOf(t reflect.Type) *fields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*fields)
	}
	fs := &fields{byName: map[string]reflect.Type{}}
	collect(t, fs, map[reflect.Type]bool{})
	f, _ := fieldCache.LoadOrStore(t, fs)
	return f.(*fields)
}

// collect adds t's fields to fs, following embedded structs the way
// encoding/json does for the field sets this project uses (a name defined
// at a shallower depth wins; the project has no ambiguous names).
func collect(t reflect.Type, fs *fields, visiting map[reflect.Type]bool) {
	if visiting[t] {
		return
	}
	visiting[t] = true
	defer delete(visiting, t)
	var embedded []reflect.Type
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" {
			et := sf.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				embedded = append(embedded, et)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		if _, dup := fs.byName[name]; !dup {
			fs.byName[name] = sf.Type
			fs.names = append(fs.names, name)
		}
	}
	for _, et := range embedded {
		collect(et, fs, visiting)
	}
}
