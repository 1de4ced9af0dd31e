package transport

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	geminiProJSON = `{"name":"models/gemini-2.5-pro","version":"gemini-2.5-pro","displayName":"gemini-2.5-pro",
		"description":"Gemini model gemini-2.5-pro, served by Pollux from its Gemini CLI credential pool.",
		"inputTokenLimit":1048576,"outputTokenLimit":65536,
		"supportedGenerationMethods":["generateContent","streamGenerateContent","countTokens"]}`
	geminiFlashJSON = `{"name":"models/gemini-2.5-flash","version":"gemini-2.5-flash","displayName":"gemini-2.5-flash",
		"description":"Gemini model gemini-2.5-flash, served by Pollux from its Gemini CLI credential pool.",
		"inputTokenLimit":1048576,"outputTokenLimit":65536,
		"supportedGenerationMethods":["generateContent","streamGenerateContent","countTokens"]}`
	geminiListJSON = `{"models":[` + geminiProJSON + `,` + geminiFlashJSON + `]}`
)

func TestGeminiModels(t *testing.T) {
	s, _ := newTestServer(t, nil)
	for _, prefix := range []string{"/geminicli/v1beta", "/geminicli/v1"} {
		cases := []struct {
			name       string
			path       string
			wantStatus int
			want       string
		}{
			{"list", "/models", 200, geminiListJSON},
			{"list with paging", "/models?pageSize=1&pageToken=abc", 200, geminiListJSON},
			{"list page size zero", "/models?pageSize=0", 200, geminiListJSON},
			{"list bad page size", "/models?pageSize=ten", 400,
				`{"error":{"code":400,"message":"pageSize must be a non-negative integer","status":"INVALID_ARGUMENT"}}`},
			{"list negative page size", "/models?pageSize=-1", 400,
				`{"error":{"code":400,"message":"pageSize must be a non-negative integer","status":"INVALID_ARGUMENT"}}`},
			{"get", "/models/gemini-2.5-pro", 200, geminiProJSON},
			{"get escaped prefix", "/models/models%2Fgemini-2.5-flash", 200, geminiFlashJSON},
			{"get prefix segment", "/models/models/gemini-2.5-pro", 200, geminiProJSON},
			{"get unknown", "/models/gemini-0", 404,
				`{"error":{"code":404,"message":"models/gemini-0 is not found","status":"NOT_FOUND"}}`},
		}
		for _, tc := range cases {
			t.Run(prefix+"/"+tc.name, func(t *testing.T) {
				rec := do(t, s, withKey(prefix+tc.path))
				if rec.Code != tc.wantStatus {
					t.Fatalf("status = %d, want %d; body %s", rec.Code, tc.wantStatus, rec.Body)
				}
				assertJSON(t, rec.Body.Bytes(), tc.want)
			})
		}
	}
}

type openAIModel struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

type openAIList struct {
	Object string        `json:"object"`
	Data   []openAIModel `json:"data"`
}

func TestOpenAIModels(t *testing.T) {
	before := time.Now().Unix()
	s, _ := newTestServer(t, nil)
	after := time.Now().Unix()

	gemini := []openAIModel{
		{ID: "gemini-2.5-pro", Object: "model", OwnedBy: "google"},
		{ID: "gemini-2.5-flash", Object: "model", OwnedBy: "google"},
	}
	codex := []openAIModel{
		{ID: "gpt-5-codex", Object: "model", OwnedBy: "openai"},
		{ID: "gpt-5", Object: "model", OwnedBy: "openai"},
	}
	cases := []struct {
		name string
		path string
		want []openAIModel
	}{
		{"gemini v1beta", "/geminicli/v1beta/openai/models", gemini},
		{"gemini v1", "/geminicli/v1/openai/models", gemini},
		{"codex", "/codex/v1/models", codex},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(t, s, withKey(tc.path))
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200", rec.Code)
			}
			var got openAIList
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("decode %s: %v", rec.Body, err)
			}
			for i, m := range got.Data {
				if m.Created < before || m.Created > after {
					t.Errorf("data[%d].created = %d, want the server start time in [%d, %d]", i, m.Created, before, after)
				}
				got.Data[i].Created = 0
			}
			if diff := cmp.Diff(openAIList{Object: "list", Data: tc.want}, got); diff != "" {
				t.Errorf("list (-want +got):\n%s", diff)
			}
		})
	}

	single := []struct {
		name       string
		path       string
		wantStatus int
		want       string
	}{
		{"codex get", "/codex/v1/models/gpt-5", 200, ""},
		{"gemini openai get", "/geminicli/v1beta/openai/models/gemini-2.5-pro", 200, ""},
		{"codex get unknown", "/codex/v1/models/gpt-0", 404,
			`{"error":{"message":"model \"gpt-0\" does not exist","type":"not_found_error","code":"not_found","param":null}}`},
	}
	for _, tc := range single {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(t, s, withKey(tc.path))
			if rec.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tc.wantStatus, rec.Body)
			}
			if tc.want != "" {
				assertJSON(t, rec.Body.Bytes(), tc.want)
				return
			}
			var m openAIModel
			if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil || m.Object != "model" || m.Created < before {
				t.Errorf("body %s is not a model object (err %v)", rec.Body, err)
			}
		})
	}
}
