package transport

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pollux-gateway/pollux/providers/geminicli"
)

// signatureCollector exports the Gemini pool's thought-signature repair
// counters, read at scrape time.
type signatureCollector struct {
	stats   func() geminicli.SignatureStats
	repairs *prometheus.Desc
	entries *prometheus.Desc
	bytes   *prometheus.Desc
}

func newSignatureCollector(stats func() geminicli.SignatureStats) *signatureCollector {
	return &signatureCollector{
		stats: stats,
		repairs: prometheus.NewDesc("pollux_thought_signature_repairs_total",
			"Model-role request parts that lacked a thoughtSignature: hit (given the recorded one) or miss (given the bypass value).",
			[]string{"provider", "result"}, nil),
		entries: prometheus.NewDesc("pollux_thought_signature_cache_entries",
			"Thought signatures held for repair.", []string{"provider"}, nil),
		bytes: prometheus.NewDesc("pollux_thought_signature_cache_bytes",
			"Approximate memory of the thought-signature cache.", []string{"provider"}, nil),
	}
}

func (c *signatureCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.repairs
	ch <- c.entries
	ch <- c.bytes
}

func (c *signatureCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	const p = "geminicli"
	ch <- prometheus.MustNewConstMetric(c.repairs, prometheus.CounterValue, float64(st.Hits), p, "hit")
	ch <- prometheus.MustNewConstMetric(c.repairs, prometheus.CounterValue, float64(st.Misses), p, "miss")
	ch <- prometheus.MustNewConstMetric(c.entries, prometheus.GaugeValue, float64(st.Entries), p)
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(st.Bytes), p)
}
