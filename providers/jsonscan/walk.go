package jsonscan

// A Member is one member of an object being walked.
type Member struct {
	// Key is the key's bytes between its quotes, escapes as written.
	Key []byte
	// Escaped reports that Key holds a backslash escape, so its bytes are
	// not its value.
	Escaped bool
	// Value is the index of the first byte of the member's value.
	Value int
}

// walker is the state shared by Object and Array.
type walker struct {
	b []byte
	// pos is the index to read from when no value is pending.
	pos int
	// pending is the index of a value returned by Next and not yet
	// skipped or resumed past, or -1.
	pending int
	started bool
	done    bool
	closer  byte
}

func open(b []byte, i int, opener, closer byte) (walker, error) {
	if i >= len(b) || b[i] != opener {
		return walker{}, ErrSyntax
	}
	return walker{b: b, pos: i + 1, pending: -1, closer: closer}, nil
}

// step moves past the pending value (validating it) and the separator
// after it. It reports false at the closing delimiter.
func (w *walker) step() (bool, error) {
	if w.done {
		return false, nil
	}
	if w.pending >= 0 {
		end, err := Skip(w.b, w.pending)
		if err != nil {
			return false, err
		}
		w.pos, w.pending = end, -1
	}
	i := SkipSpace(w.b, w.pos)
	if i >= len(w.b) {
		return false, ErrSyntax
	}
	if w.b[i] == w.closer && !w.started {
		w.pos, w.done = i+1, true
		return false, nil
	}
	if w.started {
		switch w.b[i] {
		case w.closer:
			w.pos, w.done = i+1, true
			return false, nil
		case ',':
			if i = SkipSpace(w.b, i+1); i >= len(w.b) {
				return false, ErrSyntax
			}
		default:
			return false, ErrSyntax
		}
	}
	w.started = true
	w.pos = i
	return true, nil
}

// Skip validates the value Next returned and returns the index just past
// it.
func (w *walker) Skip() (int, error) {
	if w.pending < 0 {
		return w.pos, nil
	}
	end, err := Skip(w.b, w.pending)
	if err != nil {
		return 0, err
	}
	w.pos, w.pending = end, -1
	return end, nil
}

// Resume tells the walk that the caller read the value Next returned
// itself and that it ended at end.
func (w *walker) Resume(end int) { w.pos, w.pending = end, -1 }

// End returns the index just past the closing delimiter, once Next has
// reported the end.
func (w *walker) End() int { return w.pos }

// Object walks the members of one object in order. The Value index Next
// returns is always inside the input. After each Next the
// caller either reads the value itself and calls Resume with its end, or
// calls Skip, or neither (the next Next skips it).
type Object struct{ walker }

// OpenObject starts walking the object whose '{' is at b[i].
func OpenObject(b []byte, i int) (Object, error) {
	w, err := open(b, i, '{', '}')
	return Object{w}, err
}

// Next reads the next member's key and returns it with the index of its
// value; ok is false after the closing brace.
func (o *Object) Next() (m Member, ok bool, err error) {
	if ok, err = o.step(); !ok || err != nil {
		return Member{}, false, err
	}
	end, escaped, err := String(o.b, o.pos)
	if err != nil {
		return Member{}, false, err
	}
	i := SkipSpace(o.b, end)
	if i >= len(o.b) || o.b[i] != ':' {
		return Member{}, false, ErrSyntax
	}
	v := SkipSpace(o.b, i+1)
	if v >= len(o.b) {
		return Member{}, false, ErrSyntax
	}
	m = Member{Key: o.b[o.pos+1 : end-1], Escaped: escaped, Value: v}
	o.pending = v
	return m, true, nil
}

// Array walks the elements of one array in order, like Object.
type Array struct{ walker }

// OpenArray starts walking the array whose '[' is at b[i].
func OpenArray(b []byte, i int) (Array, error) {
	w, err := open(b, i, '[', ']')
	return Array{w}, err
}

// Next returns the index of the next element; ok is false after the
// closing bracket.
func (a *Array) Next() (value int, ok bool, err error) {
	if ok, err = a.step(); !ok || err != nil {
		return 0, false, err
	}
	a.pending = a.pos
	return a.pos, true, nil
}
