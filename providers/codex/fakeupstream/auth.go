package fakeupstream

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
)

// ClientID is the public client the token endpoint accepts (the Codex CLI's).
const ClientID = "app_EMoamEEZ73f0CkXaXp7hrann"

type pendingCode struct {
	account     string
	challenge   string
	redirectURI string
}

// AddCode makes code an authorization code for a (no PKCE check).
func (s *Server) AddCode(code string, a Account) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accounts[a.ID] = a
	s.codes[code] = pendingCode{account: a.ID}
}

// SetLoginAccount chooses the account GET /oauth/authorize signs in.
func (s *Server) SetLoginAccount(a Account) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accounts[a.ID] = a
	s.login = &a
}

// InvalidateAccess kills every access token issued for the account, as a
// revoked or expired session would.
func (s *Server) InvalidateAccess(accountID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok, id := range s.access {
		if id == accountID {
			delete(s.access, tok)
		}
	}
}

// RefreshToken returns the account's live refresh token, or "".
func (s *Server) RefreshToken(accountID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok, id := range s.live {
		if id == accountID {
			return tok
		}
	}
	return ""
}

// Refreshes returns how many successful refreshes the account has had.
func (s *Server) Refreshes(accountID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshes[accountID]
}

func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	s.record(r, Authorize)
	q := r.URL.Query()
	if q.Get("client_id") != ClientID || q.Get("response_type") != "code" ||
		q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("redirect_uri") == "" {
		http.Error(w, "bad authorize request", http.StatusBadRequest)
		return
	}
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	login := s.login
	code := "code_" + rand.Text()
	if login != nil {
		s.codes[code] = pendingCode{account: login.ID, challenge: q.Get("code_challenge"), redirectURI: q.Get("redirect_uri")}
	}
	s.mu.Unlock()
	if login == nil {
		http.Error(w, "no login account scripted", http.StatusBadRequest)
		return
	}
	v := redirect.Query()
	v.Set("code", code)
	v.Set("state", q.Get("state"))
	redirect.RawQuery = v.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	body, reply := s.record(r, Token)
	if reply != nil {
		s.serveReply(w, r, reply, "")
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, `{"error":"invalid_request","error_description":"body is not a form"}`)
		return
	}
	if form.Get("client_id") != ClientID {
		writeJSON(w, http.StatusUnauthorized, `{"error":"invalid_client","error_description":"unknown client"}`)
		return
	}
	switch form.Get("grant_type") {
	case "authorization_code":
		s.grantCode(w, form)
	case "refresh_token":
		s.grantRefresh(w, form)
	default:
		writeJSON(w, http.StatusBadRequest, `{"error":"unsupported_grant_type"}`)
	}
}

func (s *Server) grantCode(w http.ResponseWriter, form url.Values) {
	s.mu.Lock()
	pc, ok := s.codes[form.Get("code")]
	delete(s.codes, form.Get("code"))
	s.mu.Unlock()
	switch {
	case !ok:
		writeJSON(w, http.StatusBadRequest, `{"error":"invalid_grant","error_description":"unknown or used code"}`)
		return
	case pc.challenge != "" && s256(form.Get("code_verifier")) != pc.challenge:
		writeJSON(w, http.StatusBadRequest, `{"error":"invalid_grant","error_description":"PKCE verification failed"}`)
		return
	case pc.redirectURI != "" && form.Get("redirect_uri") != pc.redirectURI:
		writeJSON(w, http.StatusBadRequest, `{"error":"invalid_grant","error_description":"redirect_uri mismatch"}`)
		return
	}
	s.issue(w, pc.account)
}

func (s *Server) grantRefresh(w http.ResponseWriter, form url.Values) {
	rt := form.Get("refresh_token")
	s.mu.Lock()
	_, reused := s.dead[rt]
	id, live := s.live[rt]
	if live {
		delete(s.live, rt)
		s.dead[rt] = id
		s.refreshes[id]++
	}
	s.mu.Unlock()
	switch {
	case reused:
		writeJSON(w, http.StatusUnauthorized, `{"error":{"message":"Your refresh token has already been used to generate a new access token. Please try signing in again.","type":"invalid_request_error","param":null,"code":"refresh_token_reused"}}`)
	case !live:
		writeJSON(w, http.StatusBadRequest, `{"error":"invalid_grant","error_description":"unknown refresh token"}`)
	default:
		s.issue(w, id)
	}
}

// issue answers a token request with fresh tokens for the account.
func (s *Server) issue(w http.ResponseWriter, accountID string) {
	access := "at_" + rand.Text()
	refresh := "rt_" + rand.Text()
	s.mu.Lock()
	a := s.accounts[accountID]
	s.access[access] = accountID
	s.live[refresh] = accountID
	s.mu.Unlock()
	body, _ := json.Marshal(map[string]any{
		"access_token":  access,
		"refresh_token": refresh,
		"id_token":      idToken(a),
		"token_type":    "Bearer",
		"expires_in":    3600,
		"scope":         "openid profile email offline_access",
	})
	writeJSON(w, http.StatusOK, string(body))
}

// idToken builds a JWT whose signature is a placeholder: clients that take
// the token straight from the token endpoint do not check it.
func idToken(a Account) string {
	auth := map[string]any{"chatgpt_plan_type": a.PlanType, "chatgpt_user_id": "user-" + a.Sub}
	if a.ID != "" {
		auth["chatgpt_account_id"] = a.ID
	}
	payload, _ := json.Marshal(map[string]any{
		"iss":                         "https://auth.openai.com",
		"aud":                         []string{ClientID},
		"sub":                         a.Sub,
		"email":                       a.Email,
		"https://api.openai.com/auth": auth,
	})
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc.EncodeToString(payload) + "." + enc.EncodeToString([]byte("fake-signature"))
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
