package main

import (
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestRefusalsKeepsSchedulerAndRelayRecords: the -explain logger keeps the
// scheduler's refusal records by request id and counts the upstream 429s
// failed over from by pick; it drops everything else.
func TestRefusalsKeepsSchedulerAndRelayRecords(t *testing.T) {
	r := newRefusals()
	log := r.logger()
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	log.Named("scheduler").Debug(refusalMsg, zap.String("request_id", "r1"), zap.String("path", "hold_cap"),
		zap.Time("at", at), zap.Duration("past_deadline", 3*time.Second))
	log.Debug(retryMsg, zap.String("request_id", "r2"), zap.Int("upstream_status", 429), zap.String("pick", "past_ramp"))
	log.Debug(retryMsg, zap.String("request_id", "r3"), zap.Int("upstream_status", 502), zap.String("pick", "lru"))
	log.Info("request", zap.String("request_id", "r1"))
	rec := r.get("r1")
	if rec == nil || rec["path"] != "hold_cap" || rec["past_deadline"] != 3*time.Second || !rec["at"].(time.Time).Equal(at) {
		t.Fatalf("refusal record %v", rec)
	}
	if got := r.limited(); len(got) != 1 || got["past_ramp"] != 1 {
		t.Errorf("429s by pick = %v, want past_ramp: 1", got)
	}
	if r.get("r2") != nil {
		t.Error("a relay record kept as a refusal")
	}
}
