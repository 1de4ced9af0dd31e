package sse

import "bytes"

// AppendEvent appends one complete event (ending with the blank line) to dst:
// an "event:" line when name is not empty, then one "data:" line per line of
// data. It returns the extended buffer.
func AppendEvent(dst []byte, name string, data []byte) []byte {
	if name != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, name...)
		dst = append(dst, '\n')
	}
	for {
		i := bytes.IndexByte(data, '\n')
		dst = append(dst, "data: "...)
		if i < 0 {
			dst = append(dst, data...)
			break
		}
		dst = append(dst, bytes.TrimSuffix(data[:i], []byte{'\r'})...)
		dst = append(dst, '\n')
		data = data[i+1:]
	}
	return append(dst, '\n', '\n')
}

// AppendComment appends a comment line followed by a blank line, the usual
// keep-alive that clients ignore.
func AppendComment(dst []byte, text string) []byte {
	dst = append(dst, ':')
	if text != "" {
		dst = append(dst, ' ')
		dst = append(dst, text...)
	}
	return append(dst, '\n', '\n')
}
