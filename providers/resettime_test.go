package providers

import (
	"net/http"
	"testing"
	"time"
)

func TestLocalResetTime(t *testing.T) {
	upstreamNow := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	stated := upstreamNow.Add(30 * time.Second)
	date := func(t time.Time) http.Header {
		return http.Header{"Date": {t.UTC().Format(http.TimeFormat)}}
	}
	tests := []struct {
		name   string
		header http.Header
		now    time.Time
		want   time.Time
	}{
		{"no Date header: as stated", nil, upstreamNow.Add(5 * time.Second), stated},
		{"clocks agree: as stated", date(upstreamNow), upstreamNow.Add(400 * time.Millisecond), stated},
		{"local clock 5s ahead: reset moves 5s later", date(upstreamNow), upstreamNow.Add(5 * time.Second), stated.Add(5 * time.Second)},
		{"local clock 7s behind: reset moves 7s earlier", date(upstreamNow), upstreamNow.Add(-7 * time.Second), stated.Add(-7 * time.Second)},
		{"malformed Date: as stated", http.Header{"Date": {"yesterday"}}, upstreamNow.Add(time.Hour), stated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LocalResetTime(stated, tt.header, tt.now); !got.Equal(tt.want) {
				t.Errorf("LocalResetTime = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRetryAfterTime(t *testing.T) {
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header http.Header
		want   time.Time
	}{
		{"seconds", http.Header{"Retry-After": {"12"}}, now.Add(12 * time.Second)},
		{"http date with skewed clock", http.Header{
			"Retry-After": {now.Add(-10 * time.Second).Add(20 * time.Second).Format(http.TimeFormat)},
			"Date":        {now.Add(-10 * time.Second).Format(http.TimeFormat)},
		}, now.Add(20 * time.Second)},
		{"absent", http.Header{}, time.Time{}},
		{"junk", http.Header{"Retry-After": {"soon"}}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RetryAfterTime(tt.header, now); !got.Equal(tt.want) {
				t.Errorf("RetryAfterTime = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWindowsQuota(t *testing.T) {
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		in     []QuotaWindow
		want   QuotaBucket
		wantOK bool
	}{
		{"none", nil, QuotaBucket{Model: "*", Remaining: 1}, false},
		{"the most used window binds", []QuotaWindow{
			{Name: "primary", UsedPercent: 30, WindowMinutes: 300, ResetAt: now.Add(time.Hour)},
			{Name: "secondary", UsedPercent: 80, WindowMinutes: 10080, ResetAt: now.Add(48 * time.Hour)},
		}, QuotaBucket{Model: "*", Remaining: 0.2, ResetAt: now.Add(48 * time.Hour)}, true},
		{"over 100 % is zero", []QuotaWindow{{Name: "primary", UsedPercent: 104, WindowMinutes: 300, ResetAt: now.Add(time.Minute)}},
			QuotaBucket{Model: "*", Remaining: 0, ResetAt: now.Add(time.Minute)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := WindowsQuota(tt.in)
			if ok != tt.wantOK || got.Model != tt.want.Model || got.Remaining != tt.want.Remaining || !got.ResetAt.Equal(tt.want.ResetAt) {
				t.Errorf("WindowsQuota = %+v, %v; want %+v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
