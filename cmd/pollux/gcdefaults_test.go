package main

import "testing"

func TestRuntimeDefaultsEnvironmentWins(t *testing.T) {
	cases := []struct {
		name        string
		env         map[string]string
		wantLimit   int64
		wantPercent int
	}{
		{"neither set", nil, defaultMemoryLimit, defaultGCPercent},
		{"GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "100MiB"}, -1, defaultGCPercent},
		{"GOGC set", map[string]string{"GOGC": "50"}, defaultMemoryLimit, -1},
		{"GOGC off", map[string]string{"GOGC": "off"}, defaultMemoryLimit, -1},
		{"both set", map[string]string{"GOMEMLIMIT": "off", "GOGC": "100"}, -1, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			limit, percent := runtimeDefaults(func(k string) string { return tc.env[k] })
			if limit != tc.wantLimit || percent != tc.wantPercent {
				t.Fatalf("runtimeDefaults = (%d, %d), want (%d, %d)", limit, percent, tc.wantLimit, tc.wantPercent)
			}
		})
	}
}
