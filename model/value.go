package model

import (
	"encoding/base64"
	"math"
	"strconv"
	"strings"
)

// ValueType says which field of a Value holds its data. The numbers are Scry's
// own and are part of the storage format: never renumber them.
type ValueType uint8

const (
	ValueEmpty  ValueType = 0
	ValueString ValueType = 1
	ValueBool   ValueType = 2
	ValueInt    ValueType = 3
	ValueDouble ValueType = 4
	ValueBytes  ValueType = 5
	ValueArray  ValueType = 6
	ValueMap    ValueType = 7
)

// Value is a typed OTLP attribute value (AnyValue).
type Value struct {
	Type   ValueType
	Str    string
	Int    int64
	Double float64
	Bool   bool
	Bytes  []byte
	Array  []Value
	Map    []KeyValue
}

// KeyValue is one attribute. Order is kept as sent.
type KeyValue struct {
	Key   string
	Value Value
}

// Constructors for the common types.
func StringValue(s string) Value    { return Value{Type: ValueString, Str: s} }
func IntValue(i int64) Value        { return Value{Type: ValueInt, Int: i} }
func DoubleValue(f float64) Value   { return Value{Type: ValueDouble, Double: f} }
func BoolValue(b bool) Value        { return Value{Type: ValueBool, Bool: b} }
func BytesValue(b []byte) Value     { return Value{Type: ValueBytes, Bytes: b} }
func ArrayValue(v ...Value) Value   { return Value{Type: ValueArray, Array: v} }
func MapValue(kv ...KeyValue) Value { return Value{Type: ValueMap, Map: kv} }

// String renders the value as text: strings as they are, numbers and bools in
// Go's formatting, bytes in base64, arrays and maps as JSON. It is the form
// that attribute search (key=value) compares against.
func (v Value) String() string {
	switch v.Type {
	case ValueString:
		return v.Str
	case ValueBool:
		return strconv.FormatBool(v.Bool)
	case ValueInt:
		return strconv.FormatInt(v.Int, 10)
	case ValueDouble:
		return strconv.FormatFloat(v.Double, 'g', -1, 64)
	case ValueBytes:
		return base64.StdEncoding.EncodeToString(v.Bytes)
	case ValueArray, ValueMap:
		var b strings.Builder
		v.appendJSON(&b)
		return b.String()
	}
	return ""
}

func (v Value) appendJSON(b *strings.Builder) {
	switch v.Type {
	case ValueString, ValueBytes:
		b.WriteString(strconv.Quote(v.String()))
	case ValueDouble:
		if math.IsInf(v.Double, 0) || math.IsNaN(v.Double) {
			b.WriteString(strconv.Quote(v.String()))
		} else {
			b.WriteString(v.String())
		}
	case ValueBool, ValueInt:
		b.WriteString(v.String())
	case ValueArray:
		b.WriteByte('[')
		for i, e := range v.Array {
			if i > 0 {
				b.WriteByte(',')
			}
			e.appendJSON(b)
		}
		b.WriteByte(']')
	case ValueMap:
		b.WriteByte('{')
		for i, kv := range v.Map {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Quote(kv.Key))
			b.WriteByte(':')
			kv.Value.appendJSON(b)
		}
		b.WriteByte('}')
	default:
		b.WriteString("null")
	}
}
