// Package jsonscan reads JSON bytes in place, in one pass: it validates a
// value while stepping over it and walks the members of objects and the
// elements of arrays without decoding them, so a caller can find the few
// fields it needs in a large event and copy everything else untouched.
//
// It validates the syntax encoding/json accepts (RFC 8259; strings may hold
// invalid UTF-8, as encoding/json allows) and nothing more: it knows no Go
// types. Callers use it for the shapes they expect and hand anything odd
// (escaped keys, duplicate members, unexpected types, deep nesting) back
// to encoding/json, whose verdict then stands; the fuzz tests hold the
// scanner to encoding/json.
package jsonscan
