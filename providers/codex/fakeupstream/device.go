package fakeupstream

import (
	"crypto/rand"
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
)

// The device sign-in routes (see the codex package's device flow).
const (
	DeviceUserCode Endpoint = "/api/accounts/deviceauth/usercode"
	DeviceToken    Endpoint = "/api/accounts/deviceauth/token"
)

// DeviceOutcome is how a device sign-in ends.
type DeviceOutcome int

// Device outcomes.
const (
	// DeviceWait keeps the sign-in pending until ApproveDevice, DenyDevice
	// or ExpireDevice.
	DeviceWait DeviceOutcome = iota
	// DeviceApprove signs the script's account in.
	DeviceApprove
	// DeviceDeny refuses the sign-in.
	DeviceDeny
	// DeviceExpire lets the user code expire.
	DeviceExpire
)

// Device sign-in states, as DeviceLogins reports them.
const (
	DevicePending   = "pending"
	DeviceApproved  = "approved"  // the next poll collects the code
	DeviceCollected = "collected" // a poll got the authorization code
	DeviceDenied    = "denied"
	DeviceExpired   = "expired"
)

// DeviceScript shapes the device sign-ins started after SetDeviceScript.
type DeviceScript struct {
	// Outcome takes effect at the poll after PendingPolls polls answered
	// "pending"; DeviceWait never does.
	Outcome      DeviceOutcome
	PendingPolls int
	// Account signs in on approval; a zero Account means the login account
	// (SetLoginAccount).
	Account Account
	// Interval is the polling interval announced, in seconds; 0 means 5.
	// It is sent as a string, as the real server does.
	Interval int
	// Disabled answers the user code request 404, as a server without
	// device sign-in.
	Disabled bool
}

// DeviceLogin is one device sign-in the fake started.
type DeviceLogin struct {
	UserCode string
	// Polls counts the token polls it received.
	Polls int
	State string
}

type deviceLogin struct {
	DeviceLogin
	authID  string
	script  DeviceScript
	account *Account
}

// SetDeviceScript shapes the device sign-ins started from now on.
func (s *Server) SetDeviceScript(ds DeviceScript) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deviceScript = ds
}

// ApproveDevice signs a in for the pending sign-in with userCode, as the
// person at the verification page would. It reports false when no such
// sign-in is pending.
func (s *Server) ApproveDevice(userCode string, a Account) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.deviceByCode(userCode)
	if d == nil || d.State != DevicePending {
		return false
	}
	s.accounts[a.ID] = a
	d.account, d.State = &a, DeviceApproved
	return true
}

// DenyDevice refuses the pending sign-in with userCode.
func (s *Server) DenyDevice(userCode string) bool { return s.endDevice(userCode, DeviceDenied) }

// ExpireDevice lets the pending sign-in with userCode expire.
func (s *Server) ExpireDevice(userCode string) bool { return s.endDevice(userCode, DeviceExpired) }

func (s *Server) endDevice(userCode, state string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.deviceByCode(userCode)
	if d == nil || d.State != DevicePending {
		return false
	}
	d.State = state
	return true
}

// DeviceLogins returns the device sign-ins started so far, in order.
func (s *Server) DeviceLogins() []DeviceLogin {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]DeviceLogin, len(s.devices))
	for i, d := range s.devices {
		out[i] = d.DeviceLogin
	}
	return out
}

// deviceByCode finds a sign-in by user code; s.mu is held.
func (s *Server) deviceByCode(userCode string) *deviceLogin {
	for _, d := range s.devices {
		if d.UserCode == userCode {
			return d
		}
	}
	return nil
}

// isJSON reports whether r declares a JSON body.
func isJSON(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

func (s *Server) handleDeviceUserCode(w http.ResponseWriter, r *http.Request) {
	body, reply := s.record(r, DeviceUserCode)
	if reply != nil {
		s.serveReply(w, r, reply, "")
		return
	}
	var req struct {
		ClientID string `json:"client_id"`
	}
	if !isJSON(r) || json.Unmarshal(body, &req) != nil {
		writeJSON(w, http.StatusBadRequest, `{"error":{"message":"expected a JSON body","type":"invalid_request_error","code":"invalid_request"}}`)
		return
	}
	if req.ClientID != ClientID {
		writeJSON(w, http.StatusBadRequest, `{"error":{"message":"unknown client","type":"invalid_request_error","code":"invalid_client"}}`)
		return
	}
	s.mu.Lock()
	ds := s.deviceScript
	if ds.Disabled {
		s.mu.Unlock()
		writeJSON(w, http.StatusNotFound, `{"detail":"Not Found"}`)
		return
	}
	raw := rand.Text()
	d := &deviceLogin{
		DeviceLogin: DeviceLogin{UserCode: raw[:4] + "-" + raw[4:9], State: DevicePending},
		authID:      "deviceauth_" + rand.Text(),
		script:      ds,
	}
	s.devices = append(s.devices, d)
	s.mu.Unlock()
	interval := ds.Interval
	if interval <= 0 {
		interval = 5
	}
	out, _ := json.Marshal(map[string]string{
		"device_auth_id": d.authID,
		"user_code":      d.UserCode,
		"interval":       strconv.Itoa(interval),
	})
	writeJSON(w, http.StatusOK, string(out))
}

func (s *Server) handleDeviceToken(w http.ResponseWriter, r *http.Request) {
	body, reply := s.record(r, DeviceToken)
	if reply != nil {
		s.serveReply(w, r, reply, "")
		return
	}
	var req struct {
		AuthID   string `json:"device_auth_id"`
		UserCode string `json:"user_code"`
	}
	if !isJSON(r) || json.Unmarshal(body, &req) != nil {
		writeJSON(w, http.StatusBadRequest, `{"error":{"message":"expected a JSON body","type":"invalid_request_error","code":"invalid_request"}}`)
		return
	}
	s.mu.Lock()
	d := s.deviceByCode(req.UserCode)
	if d == nil || d.authID != req.AuthID {
		s.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, `{"error":{"message":"unknown device authorization","type":"invalid_request_error","code":"invalid_device_auth"}}`)
		return
	}
	d.Polls++
	if d.State == DevicePending && d.script.Outcome != DeviceWait && d.Polls > d.script.PendingPolls {
		switch d.script.Outcome {
		case DeviceApprove:
			a := d.script.Account
			if a == (Account{}) && s.login != nil {
				a = *s.login
			}
			s.accounts[a.ID] = a
			d.account, d.State = &a, DeviceApproved
		case DeviceDeny:
			d.State = DeviceDenied
		case DeviceExpire:
			d.State = DeviceExpired
		case DeviceWait:
		}
	}
	state := d.State
	var code, verifier string
	if state == DeviceApproved {
		code, verifier = "code_"+rand.Text(), "verifier_"+rand.Text()+rand.Text()
		s.codes[code] = pendingCode{account: d.account.ID, challenge: s256(verifier), redirectURI: issuerOf(r) + "/deviceauth/callback"}
		d.State = DeviceCollected
	}
	s.mu.Unlock()
	switch state {
	case DevicePending:
		writeJSON(w, http.StatusForbidden, `{"error":{"message":"Device authorization is pending. Try again after the interval.","type":"invalid_request_error","code":"deviceauth_authorization_pending"}}`)
	case DeviceApproved:
		out, _ := json.Marshal(map[string]string{
			"authorization_code": code,
			"code_challenge":     s256(verifier),
			"code_verifier":      verifier,
		})
		writeJSON(w, http.StatusOK, string(out))
	case DeviceDenied:
		writeJSON(w, http.StatusBadRequest, `{"error":{"message":"The device authorization was declined.","type":"invalid_request_error","code":"access_denied"}}`)
	case DeviceExpired:
		writeJSON(w, http.StatusGone, `{"error":{"message":"The device code has expired. Start again.","type":"invalid_request_error","code":"deviceauth_expired"}}`)
	default: // collected
		writeJSON(w, http.StatusBadRequest, `{"error":{"message":"This device authorization was already used.","type":"invalid_request_error","code":"deviceauth_used"}}`)
	}
}

// issuerOf is the fake's own base URL as the request addressed it.
func issuerOf(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
