package providers

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// dateResolution is the precision of an HTTP Date header: clocks that
// differ by less than this cannot be told apart from it.
const dateResolution = time.Second

// LocalResetTime converts an absolute reset time the upstream stated on its
// own clock into the local clock, using the upstream's Date header (when it
// sent one) to measure the offset between the two clocks.
//
// When the clocks agree within the Date header's one-second resolution the
// stated time is used as it is (it is the more precise of the two); when
// they do not, the reset is placed the stated distance after the upstream's
// "now", so a local clock running ahead of the upstream's never ends a
// cooldown before the upstream's window has actually reset.
func LocalResetTime(stated time.Time, header http.Header, now time.Time) time.Time {
	if stated.IsZero() {
		return stated
	}
	date, ok := upstreamDate(header)
	if !ok {
		return stated
	}
	// The upstream's clock read date .. date+1s when it answered; ours
	// reads now (a little later, by the response's transit time).
	offset := now.Sub(date)
	if offset >= -dateResolution/2 && offset <= dateResolution+dateResolution/2 {
		return stated
	}
	return now.Add(stated.Sub(date))
}

// RetryAfterTime reads a Retry-After header (delay-seconds or an HTTP date,
// the latter corrected for clock offset as in LocalResetTime). Zero means
// absent or malformed.
func RetryAfterTime(header http.Header, now time.Time) time.Time {
	v := strings.TrimSpace(header.Get("Retry-After"))
	if v == "" {
		return time.Time{}
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
		return now.Add(time.Duration(secs * float64(time.Second)))
	}
	if t, err := http.ParseTime(v); err == nil {
		return LocalResetTime(t, header, now)
	}
	return time.Time{}
}

func upstreamDate(header http.Header) (time.Time, bool) {
	if header == nil {
		return time.Time{}, false
	}
	v := header.Get("Date")
	if v == "" {
		return time.Time{}, false
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}
