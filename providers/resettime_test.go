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
