package gemini

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNewModelsDropsDuplicatesAndPrefixes(t *testing.T) {
	m := NewModels([]string{"gemini-2.5-pro", "", "models/gemini-2.5-flash", "gemini-2.5-pro"})
	var list modelList
	if err := json.Unmarshal(m.list, &list); err != nil {
		t.Fatalf("decode list: %v", err)
	}
	var names []string
	for _, md := range list.Models {
		names = append(names, md.Name)
	}
	if diff := cmp.Diff([]string{"models/gemini-2.5-pro", "models/gemini-2.5-flash"}, names); diff != "" {
		t.Errorf("model names (-want +got):\n%s", diff)
	}
	if _, ok := m.byID["gemini-2.5-flash"]; !ok {
		t.Errorf("byID has no gemini-2.5-flash; keys %v", m.byID)
	}
}

func TestNewModelsEmpty(t *testing.T) {
	if got, want := string(NewModels(nil).list), `{"models":[]}`; got != want {
		t.Errorf("empty list = %s, want %s", got, want)
	}
}
