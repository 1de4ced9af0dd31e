package responses

import "testing"

func TestScanResponseID(t *testing.T) {
	tests := []struct {
		name, data, id string
		ok             bool
	}{
		{"created", `{"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","output":[],"tools":[{"id":"not this"}]}}`, "resp_1", true},
		{"whitespace", " { \"response\" : { \"status\" : \"in_progress\" , \"id\" : \"r\" } } ", "r", true},
		{"no id", `{"response":{"object":"response"}}`, "", true},
		{"no response", `{"type":"response.created"}`, "", true},
		{"escaped id", `{"response":{"id":"r\u0031"}}`, "", false},
		{"id not a string", `{"response":{"id":1}}`, "", false},
		{"duplicate id", `{"response":{"id":"a","id":"b"}}`, "", false},
		{"key in another case", `{"Response":{"id":"a"}}`, "", false},
		{"response not an object", `{"response":"a"}`, "", false},
		{"truncated", `{"response":{"id":"a"`, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, ok := scanResponseID([]byte(tc.data))
			if id != tc.id || ok != tc.ok {
				t.Fatalf("scanResponseID = %q, %v; want %q, %v", id, ok, tc.id, tc.ok)
			}
			if got, want := responseID([]byte(tc.data)), decodeResponseID([]byte(tc.data)); got != want {
				t.Fatalf("responseID = %q, encoding/json %q", got, want)
			}
		})
	}
}

// FuzzResponseID holds the one-pass read of a response.created event's id
// to encoding/json.
func FuzzResponseID(f *testing.F) {
	for _, seed := range []string{
		`{"type":"response.created","response":{"id":"resp_1","object":"response"}}`,
		`{"response":{"id":"a"},"response":5}`, `{"response":{"ID":"a"}}`, "{\"response\":{\"id\":\"\xff\"}}", `{"response":`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := responseID(data), decodeResponseID(data); got != want {
			t.Fatalf("responseID(%q) = %q, encoding/json %q", data, got, want)
		}
	})
}
