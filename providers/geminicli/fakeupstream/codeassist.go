package fakeupstream

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// QuotaBucket is one bucket of a retrieveUserQuota answer.
type QuotaBucket struct {
	ModelID           string
	RemainingFraction float64
	ResetTime         time.Time
}

// SetQuotaBuckets sets what retrieveUserQuota answers for the account with
// this refresh token (no buckets until set).
func (s *Server) SetQuotaBuckets(refreshToken string, buckets []QuotaBucket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.quotaBuckets == nil {
		s.quotaBuckets = map[string][]QuotaBucket{}
	}
	s.quotaBuckets[refreshToken] = buckets
}

// FailQuota makes every retrieveUserQuota call answer resp (nil restores
// normal answers).
func (s *Server) FailQuota(resp *Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quotaErr = resp
}

// retrieveUserQuota answers v1internal:retrieveUserQuota with the buckets
// set for the caller's account.
func (s *Server) retrieveUserQuota(w http.ResponseWriter, r *http.Request) {
	_, tok, ok := s.authorize(w, r)
	if !ok {
		return
	}
	var req struct {
		Project string `json:"project"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Project == "" {
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "project is required")
		return
	}
	s.mu.Lock()
	failed := s.quotaErr
	buckets := s.quotaBuckets[s.access[tok]]
	s.mu.Unlock()
	if failed != nil {
		serveResponse(w, r, *failed)
		return
	}
	out := make([]map[string]any, 0, len(buckets))
	for _, b := range buckets {
		out = append(out, map[string]any{"modelId": b.ModelID, "tokenType": "REQUESTS",
			"remainingFraction": b.RemainingFraction, "resetTime": b.ResetTime.UTC().Format(time.RFC3339Nano)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"buckets": out})
}

type pendingOp struct {
	refresh   string
	remaining int
	tier      string
	project   string
}

func (s *Server) loadCodeAssist(w http.ResponseWriter, r *http.Request) {
	a, _, ok := s.authorize(w, r)
	if !ok {
		return
	}
	var req struct {
		Project  string          `json:"cloudaicompanionProject"`
		Metadata json.RawMessage `json:"metadata"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Metadata) == 0 {
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.LoadError != nil {
		writeResponse(w, *a.LoadError)
		return
	}
	reply := map[string]any{}
	switch {
	case a.Tier != "":
		reply["currentTier"] = Tier{ID: a.Tier, Name: tierName(a.Tier)}
		reply["allowedTiers"] = []Tier{{ID: a.Tier, Name: tierName(a.Tier), IsDefault: true}}
		if p := firstNonEmpty(a.Project, req.Project); p != "" {
			reply["cloudaicompanionProject"] = projectValue(p, a.ProjectAsObject)
		}
	case a.Ineligible != nil:
		reply["ineligibleTiers"] = []Ineligible{*a.Ineligible}
		if a.AllowedTiers != nil {
			reply["allowedTiers"] = a.AllowedTiers
		}
	default:
		allowed := a.AllowedTiers
		if allowed == nil {
			allowed = []Tier{{ID: "free-tier", Name: tierName("free-tier"), IsDefault: true}}
		}
		reply["allowedTiers"] = allowed
	}
	writeJSON(w, http.StatusOK, reply)
}

func (s *Server) onboardUser(w http.ResponseWriter, r *http.Request) {
	a, tok, ok := s.authorize(w, r)
	if !ok {
		return
	}
	var req struct {
		TierID   string          `json:"tierId"`
		Project  *string         `json:"cloudaicompanionProject"`
		Metadata json.RawMessage `json:"metadata"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.TierID == "" || len(req.Metadata) == 0 {
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.OnboardError != nil {
		writeResponse(w, *a.OnboardError)
		return
	}
	var project string
	switch {
	case req.TierID == "free-tier" && req.Project != nil:
		writeGoogleError(w, http.StatusBadRequest, "FAILED_PRECONDITION", "Precondition check failed.")
		return
	case req.TierID == "free-tier":
		project = firstNonEmpty(a.ManagedProject, "managed-project-0")
	case req.Project == nil || *req.Project == "":
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "A Google Cloud project is required for this tier.")
		return
	default:
		project = *req.Project
	}
	refresh := s.access[tok]
	// Re-posting continues the pending operation of this account.
	var op *pendingOp
	var name string
	for n, p := range s.ops {
		if p.refresh == refresh {
			op, name = p, n
		}
	}
	if op == nil {
		s.n++
		name = "operations/onboard-" + strconv.Itoa(s.n)
		op = &pendingOp{refresh: refresh, remaining: a.OnboardPolls, tier: req.TierID, project: project}
		s.ops[name] = op
	} else {
		op.remaining--
	}
	if a.OnboardWithoutName {
		name = ""
	}
	s.writeOperation(w, name, op, a)
}

func (s *Server) getOperation(w http.ResponseWriter, r *http.Request) {
	a, _, ok := s.authorize(w, r)
	if !ok {
		return
	}
	name := "operations/" + r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	op, found := s.ops[name]
	if !found {
		writeGoogleError(w, http.StatusNotFound, "NOT_FOUND", "Operation not found.")
		return
	}
	op.remaining--
	s.writeOperation(w, name, op, a)
}

// writeOperation answers with the operation's state; when it is done it
// completes the account's onboarding. Callers hold s.mu.
func (s *Server) writeOperation(w http.ResponseWriter, name string, op *pendingOp, a *Account) {
	if op.remaining > 0 {
		writeJSON(w, http.StatusOK, map[string]any{"name": name, "done": false})
		return
	}
	for n, p := range s.ops {
		if p == op {
			delete(s.ops, n)
		}
	}
	a.Tier, a.Project = op.tier, op.project
	writeJSON(w, http.StatusOK, map[string]any{
		"name": name,
		"done": true,
		"response": map[string]any{
			"@type":                   "type.googleapis.com/google.internal.cloud.code.v1internal.OnboardUserResponse",
			"cloudaicompanionProject": map[string]string{"id": op.project, "name": op.project},
		},
	})
}

func tierName(id string) string {
	switch id {
	case "free-tier":
		return "Gemini Code Assist for individuals"
	case "standard-tier":
		return "Gemini Code Assist Standard"
	default:
		return id
	}
}

func projectValue(p string, asObject bool) any {
	if asObject {
		return map[string]string{"id": p, "name": p}
	}
	return p
}
